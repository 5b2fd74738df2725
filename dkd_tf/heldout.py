"""The held-out synthetic protocol: which videos score a model, and how keypoints are scored.

Videos: SyntheticVideos(size, frames, seed).video(i) for the first indices of the held-out
band, i = FIRST_VIDEO + 0, 1, ... (FIRST_VIDEO = HELD_OUT_OFFSET; dkd_tf.data.splits keeps
the bands of train, calibration, held-out and validation videos disjoint). These are the
videos `python -m dkd_tf.evaluate` scores by default (data.sources loads split "test" from
the same band), the export's Keras reference and `export/verify.py` score (the manifest's
"reference" protocol), `python -m dkd_tf.bench` scores its policies on, and the golden and
parity clips are cut from. Whole frames at the input size, letterboxed by the identity.

Scores: PCK@0.2 of the ground-truth box's larger side over visible joints, pooled over
every frame (`pck_of`; metrics.pck_videos), and jitter (`jitter_of`; metrics.jitter).

Shapes: keypoints [N, T, K, 2] frame pixels; labels {"joints" [N, T, K, 2], "visible"
[N, T, K] bool, "bbox" [N, T, 4]} stacked from the videos (SyntheticVideos.arrays holds the
same keys plus "frames" uint8 [N, T, S, S, 3]).

NumPy and the renderer (OpenCV) only: no TensorFlow. The benchmark and the export use it;
dkd_tf.runtime does not.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from .data.splits import BANDS
from .data.synthetic import SyntheticVideos
from .metrics import jitter, pck_videos

FIRST_VIDEO = BANDS["heldout"][0]
METRIC = "PCK@0.2 of the ground-truth box's larger side, visible joints"
LABELS = ("joints", "visible", "bbox")


def heldout_indices(count: int, first: int = FIRST_VIDEO) -> range:
    """The video indices of `count` held-out videos from `first` (a manifest's protocol
    records its own first video)."""
    return range(int(first), int(first) + int(count))


def heldout_video(size: int, frames: int, seed: int = 0, k: int = 0) -> dict:
    """Held-out video FIRST_VIDEO + k (SyntheticVideos.video's record)."""
    return SyntheticVideos(size, frames, seed).video(FIRST_VIDEO + k)


def heldout_videos(size: int, count: int, frames: int, seed: int = 0,
                   first: int = FIRST_VIDEO) -> List[dict]:
    """`count` held-out videos as records ({"frames" [T, S, S, 3], "joints", ...})."""
    gen = SyntheticVideos(size, frames, seed)
    return [gen.video(i) for i in heldout_indices(count, first)]


def heldout_arrays(size: int, count: int, frames: int, seed: int = 0,
                   first: int = FIRST_VIDEO) -> dict:
    """The same videos stacked: {"frames" uint8 [N, T, S, S, 3], "joints", "visible",
    "bbox"}."""
    return SyntheticVideos(size, frames, seed).arrays(heldout_indices(count, first))


def stack_labels(videos: Sequence[dict]) -> dict:
    """Video records -> their labels stacked {"joints", "visible", "bbox"} [N, T, ...] (in
    the records' own dtypes)."""
    return {k: np.stack([v[k] for v in videos]) for k in LABELS}


def pck_of(keypoints: np.ndarray, labels: dict) -> float:
    """keypoints [N, T, K, 2] frame pixels -> pooled PCK@0.2 of the visible joints."""
    return float(pck_videos(keypoints, labels["joints"], labels["bbox"],
                            labels["visible"])["mean"])


def jitter_of(keypoints: np.ndarray, labels: dict) -> dict:
    """keypoints [N, T, K, 2] -> metrics.jitter against the labels' visibility and boxes:
    {"px", "relative"}."""
    return jitter(keypoints, labels["visible"], labels["bbox"])
