"""Glue between a Config and the data: which records and pipeline settings train and score."""
from __future__ import annotations

from typing import List, Optional, Tuple

from .config import Config
from .data.pipeline import ClipPipeline, PipelineConfig
from .data.sources import load_records


def pipeline_config(cfg: Config, crop: str, clip_len: int, augment: bool = True) -> PipelineConfig:
    t = cfg.train
    return PipelineConfig(input_size=cfg.model.input_size, clip_len=clip_len, sigma=t.sigma,
                          mean=cfg.mean, std=cfg.std, crop=crop,
                          scale=t.aug_scale if augment else (1.0, 1.0),
                          rotation=t.aug_rotation if augment else 0.0,
                          flip=t.aug_flip and augment)


def train_pipelines(cfg: Config, dataset: str, data: Optional[str]) -> Tuple[ClipPipeline, ClipPipeline]:
    """(per-frame pipeline for stage 1, clip pipeline for stage 2) over the training videos."""
    t = cfg.train
    recs, crop = load_records(dataset, data, "train", cfg.model.input_size, t.train_videos,
                              t.train_frames, t.seed)
    return (ClipPipeline(recs, pipeline_config(cfg, crop, 1)),
            ClipPipeline(recs, pipeline_config(cfg, crop, t.clip_len + t.burn_in)))


def eval_records_and_pipeline(cfg: Config, dataset: str, data: Optional[str],
                              videos: Optional[int] = None,
                              split: str = "test") -> Tuple[List[dict], PipelineConfig]:
    """Records of the held-out ("test") or the validation split and the evaluation
    pipeline's settings (no augmentation)."""
    t = cfg.train
    recs, crop = load_records(dataset, data, split, cfg.model.input_size,
                              videos or t.eval_videos, t.eval_frames, t.seed)
    return recs, pipeline_config(cfg, crop, 1, augment=False)
