"""Index ranges of the synthetic videos: which videos train, tune, calibrate and score.

A synthetic video is a pure function of (seed, index), so a split is a range of indices.
Each use has a band of its own, and the bands are disjoint (checked at import, and by a test
against the constants the other modules use):
  train        [0, 500_000)               training clips (data.sources, split "train")
  calibration  [500_000, 1_000_000)       int8 calibration (edge.calibration.FIRST_VIDEO)
  heldout      [HELD_OUT_OFFSET, +1e6)    the reported figure (split "test"; evaluate's
                                          default, export references, golden clip, bench)
  validation   [VALIDATION_OFFSET, +1e6)  the figure to tune on (split "validation")
Recipe choices are measured on validation; held-out is scored only as the final figure.
"""
from __future__ import annotations

from ..errors import UserError
from .synthetic import HELD_OUT_OFFSET, VALIDATION_OFFSET

BAND = 1_000_000
BANDS = {"train": (0, 500_000), "calibration": (500_000, 1_000_000),
         "heldout": (HELD_OUT_OFFSET, HELD_OUT_OFFSET + BAND),
         "validation": (VALIDATION_OFFSET, VALIDATION_OFFSET + BAND)}
# data.sources' split names -> bands
SPLIT_BANDS = {"train": "train", "test": "heldout", "validation": "validation"}


def _check_disjoint() -> None:
    spans = sorted(BANDS.values())
    for (_, end), (start, _) in zip(spans, spans[1:]):
        if start < end:
            raise AssertionError(f"synthetic index bands overlap: {BANDS}")


_check_disjoint()


def video_indices(split: str, videos: int) -> range:
    """The first `videos` indices of a split ("train", "test" = held-out, "validation");
    UserError when they would run past the split's band into another's."""
    start, end = BANDS[SPLIT_BANDS[split]]
    if not 0 <= int(videos) <= end - start:
        raise UserError(f"{videos} {split} videos: a synthetic split holds at most "
                        f"{end - start:,} (its index band {start:,}..{end - 1:,})")
    return range(start, start + int(videos))


def band_of(index: int) -> str:
    """The band that a synthetic video index belongs to (ValueError if none)."""
    for name, (start, end) in BANDS.items():
        if start <= index < end:
            return name
    raise ValueError(f"video index {index} is in no band")
