"""Synthetic index bands (dkd_tf/data/splits.py): training, int8 calibration, held-out and
validation videos never share an index, and each split's records come from its own band;
the held-out protocol (dkd_tf/heldout.py) picks the videos that evaluate scores."""
from __future__ import annotations

import numpy as np
import pytest

from dkd_tf import heldout
from dkd_tf.config import PRESETS
from dkd_tf.data import splits
from dkd_tf.data.sources import load_records
from dkd_tf.data.synthetic import HELD_OUT_OFFSET, VALIDATION_OFFSET
from dkd_tf.edge.calibration import FIRST_VIDEO
from dkd_tf.errors import UserError


def test_bands_are_disjoint_and_hold_every_use():
    spans = sorted(splits.BANDS.values())
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    assert splits.band_of(HELD_OUT_OFFSET) == "heldout"
    assert splits.band_of(VALIDATION_OFFSET) == "validation"
    assert splits.band_of(FIRST_VIDEO) == "calibration"
    # the largest uses of each band stay inside it
    for make in PRESETS.values():
        t = make().train
        for split, n in (("train", t.train_videos), ("test", t.eval_videos),
                         ("validation", t.validation_videos)):
            idx = splits.video_indices(split, n)
            assert {splits.band_of(idx[0]), splits.band_of(idx[-1])} == \
                {splits.SPLIT_BANDS[split]}
    assert splits.band_of(FIRST_VIDEO + 10_000) == "calibration"  # 110k int8 samples
    with pytest.raises(UserError, match="at most"):
        splits.video_indices("train", 500_001)


def test_validation_records_are_other_videos_than_held_out():
    val, crop = load_records("synthetic", None, "validation", 64, 2, 4, seed=0)
    test, _ = load_records("synthetic", None, "test", 64, 2, 4, seed=0)
    assert crop == "frame" and len(val) == 2
    for v, t in zip(val, test):
        assert v["frames"].shape == t["frames"].shape == (4, 64, 64, 3)
        assert not np.array_equal(v["frames"], t["frames"])
    with pytest.raises(UserError, match="validation"):
        load_records("penn", "/nonexistent", "validation", 64, 2, 4, seed=0)


def test_heldout_protocol_scores_the_videos_evaluate_scores():
    assert heldout.FIRST_VIDEO == HELD_OUT_OFFSET
    assert heldout.heldout_indices(100) == splits.video_indices("test", 100)
    recs, _ = load_records("synthetic", None, "test", 64, 2, 4, seed=3)
    vids = heldout.heldout_videos(64, 2, 4, seed=3)
    arrays = heldout.heldout_arrays(64, 2, 4, seed=3)
    one = heldout.heldout_video(64, 4, seed=3, k=1)
    for key in ("frames", "joints", "visible", "bbox"):
        assert np.array_equal(np.stack([r[key] for r in recs]), arrays[key])
        assert np.array_equal(np.stack([v[key] for v in vids]), arrays[key])
        assert np.array_equal(one[key], arrays[key][1])
    lab = heldout.stack_labels(vids)
    assert heldout.pck_of(lab["joints"], lab) == 1.0
    assert heldout.jitter_of(lab["joints"], lab)["px"] >= 0
