"""Where video records come from: the built-in synthetic set or prepared TFRecords.

Returns plain video records (see pipeline.py) and the pipeline crop mode that suits them.
"""
from __future__ import annotations

import os
from typing import List, Tuple

from ..errors import UserError
from .synthetic import SyntheticVideos

DATASETS = ("synthetic", "penn", "jhmdb")


def check_data_dir(dataset: str, data: str | None) -> None:
    """Fails early (before TensorFlow is imported) on a missing or unprepared data folder."""
    if dataset == "synthetic":
        return
    if not data:
        raise UserError(f"--dataset {dataset} needs --data DIR (the output of "
                        f"`python -m dkd_tf.data.prepare {dataset} --root R --out DIR`)")
    if not os.path.isdir(data):
        raise UserError(f"{data}: data folder does not exist")
    if not os.path.isfile(os.path.join(data, "summary.json")):
        raise UserError(f"{data}: no summary.json here; run `python -m dkd_tf.data.prepare "
                        f"{dataset} --root R --out {data}` first")


def has_videos(dataset: str, data: str | None, split: str) -> bool:
    """Whether a split has any video (synthetic: always; prepared data: per summary.json)."""
    if dataset == "synthetic":
        return True
    from .tfrecords import read_summary

    return read_summary(data)[split].get("videos", 0) > 0


def load_records(dataset: str, data: str | None, split: str, input_size: int,
                 videos: int, frames: int, seed: int) -> Tuple[List[dict], str]:
    """-> (records, crop mode). Synthetic: `videos` generated videos of `frames` frames
    from the split's own index band (train, test = held-out, validation: dkd_tf.data.splits);
    real data: every video of that split in the prepared TFRecords, cropped around the
    person box (no validation split there)."""
    if dataset == "synthetic":
        from .splits import video_indices

        gen = SyntheticVideos(input_size, frames, seed)
        return [gen.video(i) for i in video_indices(split, videos)], "frame"
    if split == "validation":
        raise UserError(f"--dataset {dataset}: no validation split (it exists for the synthetic "
                        f"set only); use the held-out split")
    from .tfrecords import read_videos

    recs = list(read_videos(data, split, decode_frames=False))
    if not recs:
        raise UserError(f"{data}: the prepared data holds no {split} videos")
    return recs, "box"
