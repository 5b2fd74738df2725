"""Configuration: frozen, typed dataclasses and named presets (plain functions).

A config is validated once (`validate`) and saved as config.json beside every checkpoint;
`load_config` reads it back. Presets:
  tiny   - the default: trains on a 2-core CPU in under 20 minutes at 128 px (synthetic set).
  mobile - the edge target: 256 px, MobileNetV2-style frame encoder, ResNet-34 initializer.
  r50    - the paper's setting: ResNet-50 Simple-Baselines initializer at 256 px, for GPUs.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Tuple

from .errors import UserError

BACKBONES = ("resnet18", "resnet34", "resnet50", "mobilenetv2")
MATCHING = ("full", "depthwise")
ENCODER_OUT = ("conv", "separable")


@dataclass(frozen=True)
class ModelConfig:
    input_size: int = 128                 # square network input, a multiple of 32
    num_joints: int = 13
    # pose initializer P (Simple Baselines)
    initializer_backbone: str = "resnet18"
    initializer_width: float = 0.5        # channel multiplier of the backbone
    deconv_filters: int = 128
    initializer_skips: bool = True        # departure: 1x1 skips backbone -> deconvs (docs/design.md §1)
    # frame encoder F
    encoder_backbone: str = "resnet18"
    encoder_width: float = 0.25
    # backbone stages used (3: down to stride 16). 2 stages (stride 8) is the paper's regime
    # of a small F whose gap the kernels close: held-out DKD 0.806 / F + head 0.756 / P 0.801
    # (+0.050 over F, default run otherwise), but the tracker lost 0.03 on real footage
    # (0.68-0.69 over three 2-stage runs vs 0.70-0.73 for five 3-stage ones; one more
    # 3-stage stage-1 snapshot scored 0.65): F's context matters on real people
    # (README "What the tracker adds")
    encoder_stages: int = 3
    feature_channels: int = 32            # C
    # F's last 3x3 (FrameEncoder): "conv" (a full 3x3) or "separable" (depthwise + 1x1, the
    # mobile preset's: there it was a third of F's FLOPs)
    encoder_out: str = "conv"
    # distillator Phi and matching
    kernel_size: int = 5                  # S (odd)
    # 32 filters, pooling first: 3.6x fewer FLOPs in Phi for the same PCK (one stage-1
    # snapshot each, 872 stage-2 steps, validation / held-out DKD: 48 filters conv-then-pool
    # 0.856 / 0.824, 32 pool-first 0.856 / 0.827; real footage 0.726 vs 0.726)
    distillator_filters: int = 32
    distillator_pools: int = 2
    # pool before each conv of Phi (PoseKernelDistillator): a quarter of Phi's FLOPs, which
    # were most of the mobile tracked frame's (its first 3x3 ran at the full 64 x 64)
    distillator_pool_first: bool = True
    matching: str = "full"                # "full" [S,S,C,K] kernels or "depthwise"
    heatmap_prior: int = 5                # departure: learned SxS prior from h_t (0 = paper)
    normalize_heatmaps: bool = True       # departure: h_t / its per-joint peak before Phi
    # departure: k_t = k_0 + Phi(f_t, h_t), k_0 learned and set at the start of stage 2 from
    # the encoder's stage-1 auxiliary head (the tracker starts as F's per-frame detector and
    # learns what the previous frame adds). Configs saved before it existed load as False.
    static_kernel: bool = True
    # temporal discriminator D
    # 16 (was 32): D's three passes over the clip's pairs were 0.27 s of a 0.63 s stage-2
    # step (3 clips x 16 frames, 2-core CPU); at 16 they cost 0.08 s
    discriminator_filters: int = 16
    discriminator_code: int = 64

    @property
    def heatmap_size(self) -> int:
        return self.input_size // 4


@dataclass(frozen=True)
class TrainConfig:
    # stage 1: P per frame
    stage1_steps: int = 1800
    stage1_batch: int = 16
    stage1_lr: float = 2e-3
    # stage 2: clips through the recurrence, adversarial
    # more than the budget allows on a 2-core CPU (a stage-2 step of the pool-first Phi takes
    # 0.3-0.4 s there: 1,399-1,852 steps fit): --minutes ends stage 2, so the budget is used
    stage2_steps: int = 2400
    stage2_batch: int = 3
    # stage 2 starts from a tracker that already works (static_kernel): 100 steps from the
    # same start measured DKD PCK 0.286 at 2e-3 without warm-up, 0.816 at 5e-4, and with
    # F's BatchNorm statistics frozen and 50 warm-up steps 0.884 (5e-4) vs 0.876 (1e-3, 300
    # steps); 300 steps at 5e-4: 0.894
    stage2_lr: float = 5e-4
    stage2_warmup: int = 50               # linear warm-up steps, then the cosine decay
    freeze_encoder_statistics: bool = True  # F's BN in inference mode in stage 2 (DKD docs)
    # measured (700 stage-2 steps from one stage-1 P, 40-frame held-out videos): DKD PCK
    # 0.521 with 5-frame clips (batch 8), 0.691 with 8 (batch 5), 0.774 with 12 (batch 4),
    # 0.787 with 16 (batch 3): longer clips teach the recurrence to hold on past the clip
    clip_len: int = 16
    # warm-started clips: a fraction of stage-2 steps first tracks `burn_in` frames without
    # gradients and trains the clip from the state reached (0 = every clip starts at P).
    # Measured, 300 steps from one start: burn_in 8 DKD 0.884 (frames 2-16 0.909, 17-32
    # 0.873) vs 0 0.894 (0.909, 0.884): off by default
    burn_in: int = 0
    warm_fraction: float = 0.5
    finetune_initializer: bool = False
    init_encoder_from_initializer: bool = True
    foreground_weight: float = 10.0       # MSE weight 1 + w * target (docs/design.md §1)
    mu: float = 0.1                       # weight of the adversarial term
    # BEGAN balance, gamma = the L(fake) / L(real) that k steers to. Stage 2 now starts from
    # F's per-frame head, where that ratio is ~1.2 (measured): gamma 4 (set for the random-
    # kernel start, ratio 5-9) sent k to 1 within 300 steps, after which D saturated (both
    # reconstruction errors ~0.9 at the tanh bound) and the term cost 0.036 PCK; with 1.5, k
    # stays in 0-0.05, L(fake) / L(real) ~1.5-2, and jitter falls 3-7% (two stage-1
    # snapshots) for at most 0.003 PCK.
    # k_lr 0.5 drove k to 1 in 300 steps and the run diverged; 0.05 lets k move slowly.
    began_gamma: float = 1.5
    began_k_lr: float = 0.05
    adversarial: bool = True
    # budget and data
    minutes: float = 17.0                 # wall-time cap for both stages together
    train_videos: int = 360
    train_frames: int = 24
    eval_videos: int = 100                # synthetic; 40 left the drift estimate +-0.01
    validation_videos: int = 40           # synthetic validation split, scored after training
    eval_frames: int = 40
    seed: int = 0
    sigma: float = 2.0
    # augmentation (clip-consistent)
    aug_scale: Tuple[float, float] = (0.8, 1.2)
    aug_rotation: float = 25.0
    aug_flip: bool = True
    log_every: int = 50
    checkpoint_every: int = 200


@dataclass(frozen=True)
class Config:
    preset: str
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    mean: Tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: Tuple[float, float, float] = (0.229, 0.224, 0.225)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def validate(cfg: Config) -> Config:
    m = cfg.model
    problems = []
    if m.input_size % 32 or m.input_size <= 0:
        problems.append(f"input_size {m.input_size} is not a positive multiple of 32")
    if m.initializer_backbone not in BACKBONES or m.encoder_backbone not in BACKBONES:
        problems.append(f"backbones must be one of {BACKBONES}")
    if m.matching not in MATCHING:
        problems.append(f"matching {m.matching!r} not in {MATCHING}")
    if m.encoder_out not in ENCODER_OUT:
        problems.append(f"encoder_out {m.encoder_out!r} not in {ENCODER_OUT}")
    if m.kernel_size % 2 == 0 or m.kernel_size < 1:
        problems.append(f"kernel_size {m.kernel_size} must be odd")
    pooled = m.heatmap_size // (2 ** m.distillator_pools)
    if pooled < m.kernel_size:
        problems.append(f"{m.distillator_pools} pools shrink {m.heatmap_size} to {pooled} < "
                        f"kernel_size {m.kernel_size}")
    if not 1 <= m.encoder_stages <= 4:
        problems.append("encoder_stages must be 1..4")
    if cfg.train.clip_len < 2:
        problems.append("clip_len must be at least 2")
    if cfg.train.burn_in < 0 or not 0.0 <= cfg.train.warm_fraction <= 1.0:
        problems.append("burn_in must be >= 0 and warm_fraction in [0, 1]")
    if problems:
        raise UserError(f"config {cfg.preset}: " + "; ".join(problems))
    return cfg


def tiny() -> Config:
    return validate(Config(preset="tiny"))


def mobile() -> Config:
    # Aimed at a tracked frame at a third of BlazePose's time (issue 20): F is
    # MobileNetV2-0.35 with the separable last 3x3, Phi pools before each conv and has 32
    # filters. Measured on one 2-core x86 CPU (`taskset -c 1 python -m dkd_tf.bench --preset
    # mobile --threads 1`, then tools/blazepose_timing.py): tracked frame 582 -> 222 MFLOPs,
    # 12.3 -> 6.8 ms when BlazePose Full took 20.2 ms; a later session on the same CPU, less
    # shared: 5.0 ms (F 2.0, Phi + correlation 3.0 of which the correlation 1.6) against
    # BlazePose's 8.5 ms, so 0.6x, not a third. The same Phi and F changes on the tiny preset
    # at equal steps (250 + 200, 40 validation videos): DKD 0.703 -> 0.677, F + head
    # 0.656 -> 0.615, gap +0.047 -> +0.062
    # (README, "What the tracker adds").
    # matching "full" (the paper's [S, S, C, K] kernels), not "depthwise": measured with
    # `python -m dkd_tf.bench` (LiteRT 2.3, XNNPACK, 2 threads, untrained fp32 exports of this
    # preset), the exported full correlation runs at 65-67% of a constant-weight conv's
    # GFLOP/s against 19-21% for the depthwise form (S*S slices, MULs and ADDs), so the
    # tracked frame costs the same (4.54 vs 4.38-4.49 ms) for 8.5x the correlation's FLOPs
    # (tracked frame 0.58 vs 0.49 GFLOPs; both far below P's 12.8).
    return validate(Config(
        preset="mobile",
        model=ModelConfig(input_size=256, initializer_backbone="resnet34", initializer_width=1.0,
                          deconv_filters=256, encoder_backbone="mobilenetv2", encoder_width=0.35,
                          encoder_stages=3, feature_channels=32, encoder_out="separable",
                          kernel_size=5, distillator_filters=32, distillator_pools=3,
                          distillator_pool_first=True, matching="full"),
        train=TrainConfig(stage1_steps=60000, stage1_batch=32, stage1_lr=1e-3,
                          stage2_steps=40000, stage2_batch=16, stage2_lr=1e-3, minutes=0,
                          train_videos=2000, train_frames=40),
    ))


def r50() -> Config:
    return validate(Config(
        preset="r50",
        model=ModelConfig(input_size=256, initializer_backbone="resnet50", initializer_width=1.0,
                          deconv_filters=256, initializer_skips=False,
                          encoder_backbone="resnet18", encoder_width=0.25, encoder_stages=3,
                          feature_channels=48, kernel_size=7, distillator_filters=48,
                          distillator_pools=3, distillator_pool_first=False, matching="full",
                          heatmap_prior=0),
        train=TrainConfig(stage1_steps=140000, stage1_batch=32, stage1_lr=1e-3,
                          stage2_steps=60000, stage2_batch=16, stage2_lr=1e-3, minutes=0,
                          foreground_weight=0.0, train_videos=2000, train_frames=40),
    ))


PRESETS = {"tiny": tiny, "mobile": mobile, "r50": r50}


def get_preset(name: str) -> Config:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]()


def _build(cls, d: dict):
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name in d:
            v = d[f.name]
            kw[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kw)


def config_from_dict(d: dict) -> Config:
    # fields newer than a saved config take the value that config was trained with
    model = {"static_kernel": False, "encoder_out": "conv", "distillator_pool_first": False,
             **d.get("model", {})}
    return validate(Config(preset=d["preset"], model=_build(ModelConfig, model),
                           train=_build(TrainConfig, d.get("train", {})),
                           mean=tuple(d.get("mean", Config.mean)),
                           std=tuple(d.get("std", Config.std))))


def load_config(path: str) -> Config:
    try:
        with open(path) as f:
            return config_from_dict(json.load(f))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a readable dkd_tf config ({e})") from None


def with_overrides(cfg: Config, model: dict | None = None, train: dict | None = None) -> Config:
    return validate(dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, **(model or {})),
        train=dataclasses.replace(cfg.train, **(train or {}))))
