"""PCK and jitter (dkd_tf/metrics.py): hand-computed cases, thresholds, counting rules, curve
and AUC, PCK over videos, jitter against the two implementations it replaced."""
from __future__ import annotations

import numpy as np
import pytest

from dkd_tf.joints import JHMDB, PENN_ACTION
from dkd_tf.metrics import DEFAULT_ALPHAS, jitter, pck, pck_curve, pck_videos

NAN = np.nan


def _gt(rng, n, k, lo=50, hi=150):
    """Integer ground truth, so gt + offset is exact in floating point."""
    return rng.integers(lo, hi, (n, k, 2)).astype(np.float64)


# ---- a 2-frame, 13-joint example computed by hand ------------------------------------------
# frame 0: box (0, 0, 100, 50) -> size 100, threshold 20; joint 8 invisible
# frame 1: box (10, 20, 50, 100) -> w 40, h 80 -> size 80, threshold 16; joint 12 invisible
OFFSETS = np.array([
    [  # frame 0                    hit?
        (0, 0),                    # 0  H
        (12, 16),                  # 1  H  (length exactly 20: on the threshold)
        (12, 17),                  # 2  M
        (21, 0),                   # 3  M
        (-20, 0),                  # 4  H  (exactly 20)
        (0, -21),                  # 5  M
        (3, 4),                    # 6  H
        (NAN, NAN),                # 7  M  (NaN prediction)
        (100, 100),                # 8  -  (invisible: would be a miss)
        (0, 0),                    # 9  H
        (-12, -16),                # 10 H  (exactly 20)
        (16, -12),                 # 11 H  (exactly 20)
        (30, 40),                  # 12 M
    ],
    [  # frame 1
        (16, 0),                   # 0  H  (exactly 16)
        (0, 16),                   # 1  H  (exactly 16)
        (0, 17),                   # 2  M
        (15, 0),                   # 3  H
        (-17, 0),                  # 4  M
        (0, 0),                    # 5  H
        (0, -16),                  # 6  H
        (0, 0),                    # 7  H
        (0, 0),                    # 8  H
        (20, 0),                   # 9  M
        (0, 0),                    # 10 H
        (-16, 0),                  # 11 H
        (0, 0),                    # 12 -  (invisible: would be a hit)
    ],
], dtype=np.float64)
BOXES = np.array([[0, 0, 100, 50], [10, 20, 50, 100]], dtype=np.float64)
VISIBLE = np.ones((2, 13), bool)
VISIBLE[0, 8] = False
VISIBLE[1, 12] = False
# per joint hits / counted, by hand from the table above
HAND_PER_JOINT = [2 / 2, 2 / 2, 0 / 2, 1 / 2, 1 / 2, 1 / 2, 2 / 2, 1 / 2, 1 / 1, 1 / 2, 2 / 2,
                  2 / 2, 0 / 1]
HAND_GROUPS = {"head": 1.0, "shoulder": 2 / 4, "elbow": 2 / 4, "wrist": 3 / 4,
               "hip": 2 / 3, "knee": 3 / 4, "ankle": 2 / 3}


def _hand_case(rng):
    gt = _gt(rng, 2, 13)
    return gt + OFFSETS, gt


def test_hand_computed_example(rng):
    pred, gt = _hand_case(rng)
    r = pck(pred, gt, BOXES, VISIBLE, alpha=0.2)
    assert r["counted"] == 24
    np.testing.assert_allclose(r["per_joint"], HAND_PER_JOINT, rtol=0, atol=1e-12)
    assert r["mean"] == pytest.approx(16 / 24, abs=1e-12)
    assert set(r["group_mean"]) == set(HAND_GROUPS)
    for g, v in HAND_GROUPS.items():
        assert r["group_mean"][g] == pytest.approx(v, abs=1e-12), g


def test_all_joints_counted_without_visibility(rng):
    pred, gt = _hand_case(rng)
    r = pck(pred, gt, BOXES, None, alpha=0.2)
    assert r["counted"] == 26
    expect = list(HAND_PER_JOINT)
    expect[8] = 1 / 2   # frame 0 joint 8 (a miss) now counts
    expect[12] = 1 / 2  # frame 1 joint 12 (a hit) now counts
    np.testing.assert_allclose(r["per_joint"], expect, atol=1e-12)
    assert r["mean"] == pytest.approx(17 / 26, abs=1e-12)


def test_joint_exactly_on_threshold_is_correct():
    gt = np.full((1, 13, 2), 50.0)
    pred = gt.copy()
    pred[0, 0] += (12, 16)                 # length exactly 20 = 0.2 * 100
    box = np.array([[0.0, 0.0, 100.0, 50.0]])
    vis = np.zeros((1, 13), bool)
    vis[0, 0] = True
    assert 0.2 * 100.0 >= 20.0  # the threshold itself is not rounded below 20
    r = pck(pred, gt, box, vis, alpha=0.2)
    assert r["counted"] == 1 and r["mean"] == 1.0
    pred[0, 0] += (0, 1e-9)                # a hair past the threshold: a miss
    assert pck(pred, gt, box, vis, alpha=0.2)["mean"] == 0.0
    # smaller alpha -> the same joint is a miss
    pred[0, 0] = gt[0, 0] + (12, 16)
    assert pck(pred, gt, box, vis, alpha=0.19)["mean"] == 0.0


def test_invisible_joints_not_counted(rng):
    gt = _gt(rng, 3, 13)
    pred = gt + 1000.0  # every prediction wrong
    vis = np.zeros((3, 13), bool)
    vis[0, :5] = True
    vis[2, 7] = True
    r = pck(pred, gt, np.tile([0.0, 0.0, 100.0, 100.0], (3, 1)), vis)
    assert r["counted"] == 6
    assert r["mean"] == 0.0
    # invisible joints with good predictions do not raise the score either
    pred2 = gt.copy()
    pred2[vis] += 1000.0
    r2 = pck(pred2, gt, np.tile([0.0, 0.0, 100.0, 100.0], (3, 1)), vis)
    assert r2["counted"] == 6 and r2["mean"] == 0.0


def test_degenerate_boxes_not_counted(rng):
    gt = _gt(rng, 5, 13)
    pred = gt.copy()  # perfect predictions: counted joints are all hits
    boxes = np.array([
        [0, 0, 100, 50],      # fine
        [10, 10, 10, 60],     # zero width
        [10, 10, 60, 10],     # zero height
        [10, 60, 60, 20],     # negative height
        [80, 10, 20, 60],     # negative width
    ], dtype=np.float64)
    vis = np.ones((5, 13), bool)
    vis[0, 4] = False
    r = pck(pred, gt, boxes, vis)
    assert r["counted"] == 12
    assert r["mean"] == 1.0
    assert np.isnan(r["per_joint"][4])
    np.testing.assert_array_equal(np.delete(r["per_joint"], 4), 1.0)
    # a NaN box does not count either
    boxes[0] = [0, 0, NAN, 50]
    r = pck(pred, gt, boxes, vis)
    assert r["counted"] == 0
    assert np.isnan(r["mean"])
    assert np.all(np.isnan(r["per_joint"]))
    assert all(np.isnan(v) for v in r["group_mean"].values())


def test_nan_prediction_is_a_miss(rng):
    gt = _gt(rng, 2, 13)
    pred = gt.copy()
    pred[0, 3] = (NAN, 100.0)
    pred[1, 3] = (np.inf, np.inf)
    r = pck(pred, gt, np.tile([0.0, 0.0, 100.0, 100.0], (2, 1)))
    assert r["counted"] == 26
    assert r["per_joint"][3] == 0.0
    assert r["mean"] == pytest.approx(24 / 26)
    assert r["group_mean"]["elbow"] == pytest.approx(2 / 4)


def test_per_joint_nan_where_nothing_counted(rng):
    gt = _gt(rng, 4, 13)
    vis = np.ones((4, 13), bool)
    vis[:, [0, 11, 12]] = False
    r = pck(gt, gt, np.tile([0.0, 0.0, 100.0, 100.0], (4, 1)), vis)
    assert r["counted"] == 40
    assert np.isnan(r["per_joint"][[0, 11, 12]]).all()
    assert np.isfinite(np.delete(r["per_joint"], [0, 11, 12])).all()
    assert np.isnan(r["group_mean"]["head"]) and np.isnan(r["group_mean"]["ankle"])
    assert r["group_mean"]["knee"] == 1.0
    assert r["mean"] == 1.0


@pytest.mark.parametrize("js", [PENN_ACTION, JHMDB], ids=["penn", "jhmdb"])
def test_group_mean_is_pooled_over_group_joints(rng, js):
    k = js.num_joints
    n = 40
    gt = _gt(rng, n, k)
    pred = gt + rng.normal(0, 12, gt.shape)
    vis = rng.random((n, k)) < 0.7
    boxes = np.tile([0.0, 0.0, 100.0, 80.0], (n, 1))
    r = pck(pred, gt, boxes, vis, alpha=0.2)
    hit = (np.linalg.norm(pred - gt, axis=-1) <= 20.0) & vis
    assert r["counted"] == vis.sum()
    np.testing.assert_allclose(r["per_joint"], hit.sum(0) / vis.sum(0), atol=1e-12)
    assert r["mean"] == pytest.approx(hit.sum() / vis.sum(), abs=1e-12)
    for g, idx in js.groups.items():
        idx = list(idx)
        expect = hit[:, idx].sum() / vis[:, idx].sum()
        assert r["group_mean"][g] == pytest.approx(expect, abs=1e-12), g
        # pooled, not the mean of the joints' rates (they differ when counts differ)
    assert 0.2 < r["mean"] < 0.9  # a non-trivial case


def test_torso_norm_penn():
    gt = np.zeros((1, 13, 2))
    gt[0, :, 0] = np.arange(13) * 3.0 + 100.0
    gt[0, :, 1] = 100.0
    gt[0, 1] = (100.0, 100.0)   # left shoulder
    gt[0, 8] = (130.0, 140.0)   # right hip: torso 50 -> threshold 10 at alpha 0.2
    gt[0, 7] = (170.0, 100.0)   # left hip: a decoy (||gt[1]-gt[7]|| = 70)
    gt[0, 2] = (100.0, 190.0)   # right shoulder: a decoy (||gt[2]-gt[8]|| = 58.3)
    box = np.array([[0.0, 0.0, 100.0, 100.0]])  # bbox threshold 20
    off = np.zeros((13, 2))
    off[0] = (6, 8)     # 10: hit for both
    off[3] = (0, 15)    # 15: torso miss, bbox hit
    off[4] = (0, 10)    # exactly 10: torso hit
    off[5] = (-11, 0)   # torso miss, bbox hit
    pred = gt + off[None]
    t = pck(pred, gt, box, alpha=0.2, norm="torso")
    b = pck(pred, gt, box, alpha=0.2, norm="bbox")
    assert t["counted"] == b["counted"] == 13
    assert t["mean"] == pytest.approx(11 / 13)
    assert b["mean"] == 1.0
    np.testing.assert_array_equal(t["per_joint"][[0, 3, 4, 5]], [1, 0, 1, 0])
    # torso normalisation ignores the box entirely (even a degenerate one)
    t2 = pck(pred, gt, np.zeros((1, 4)), alpha=0.2, norm="torso")
    assert t2["counted"] == 13 and t2["mean"] == pytest.approx(11 / 13)


def test_torso_norm_jhmdb():
    gt = np.tile(np.array([[60.0, 60.0]]), (15, 1))[None].copy()
    gt[0, :, 0] += np.arange(15) * 7.0
    gt[0, 4] = (10.0, 10.0)    # left shoulder
    gt[0, 5] = (25.0, 30.0)    # right hip: torso 25 -> threshold 5
    gt[0, 1] = (10.0, 90.0)    # decoys for the Penn pair (1, 8)
    gt[0, 8] = (90.0, 10.0)
    off = np.zeros((15, 2))
    off[0] = (3, 4)    # 5 exactly: hit
    off[2] = (0, 6)    # miss
    off[9] = (5, 0)    # hit
    off[14] = (-4, -4)  # 5.66: miss
    pred = gt + off[None]
    r = pck(pred, gt, np.array([[0.0, 0.0, 200.0, 200.0]]), alpha=0.2, norm="torso")
    assert r["counted"] == 15
    assert r["mean"] == pytest.approx(13 / 15)
    np.testing.assert_array_equal(r["per_joint"][[0, 2, 9, 14]], [1, 0, 1, 0])
    assert r["group_mean"]["head"] == pytest.approx(1 / 2)   # neck hit, face miss
    assert r["group_mean"]["ankle"] == pytest.approx(1 / 2)


def test_zero_torso_frame_not_counted():
    gt = np.full((2, 13, 2), 50.0)
    gt[1, 8] = (80.0, 90.0)  # frame 1 has a torso of 50; frame 0 has none
    r = pck(gt, gt, np.zeros((2, 4)), norm="torso")
    assert r["counted"] == 13 and r["mean"] == 1.0


def test_bad_norm_raises():
    gt = np.zeros((1, 13, 2))
    with pytest.raises(ValueError, match="normalisation"):
        pck(gt, gt, np.array([[0, 0, 10, 10]]), norm="head")


# ---- curve and AUC -----------------------------------------------------------------------
def test_curve_alphas_monotone_and_auc_range(rng):
    n = 30
    gt = _gt(rng, n, 13)
    pred = gt + rng.normal(0, 15, gt.shape)
    boxes = np.tile([0.0, 0.0, 120.0, 90.0], (n, 1))
    alphas, values, auc = pck_curve(pred, gt, boxes, rng.random((n, 13)) < 0.8)
    assert alphas.shape == (10,) and values.shape == (10,)
    np.testing.assert_allclose(alphas, np.arange(1, 11) * 0.05, atol=1e-12)
    np.testing.assert_allclose(DEFAULT_ALPHAS, alphas)
    assert np.all(np.diff(values) >= 0)
    assert values[0] < values[-1]  # the noise makes the curve rise
    assert 0.0 <= auc <= 1.0
    assert values[0] <= auc <= values[-1]


def test_curve_perfect_predictions(rng):
    gt = _gt(rng, 5, 15)
    alphas, values, auc = pck_curve(gt, gt, np.tile([0.0, 0.0, 100.0, 100.0], (5, 1)))
    np.testing.assert_array_equal(values, 1.0)
    assert auc == pytest.approx(1.0, abs=1e-12)


def test_curve_auc_hand_checked():
    # one frame, box size 100; joint 0 off by 22 px (a hit from alpha 0.25 on), joint 1 exact
    gt = np.full((1, 13, 2), 50.0)
    pred = gt.copy()
    pred[0, 0] += (22.0, 0.0)
    vis = np.zeros((1, 13), bool)
    vis[0, :2] = True
    alphas, values, auc = pck_curve(pred, gt, np.array([[0.0, 0.0, 100.0, 60.0]]), vis)
    np.testing.assert_allclose(values, [0.5, 0.5, 0.5, 0.5, 1, 1, 1, 1, 1, 1])
    # trapezoids: 3 x 0.05 x 0.5 + 0.05 x 0.75 + 5 x 0.05 x 1 = 0.3625, over the span 0.45
    assert auc == pytest.approx(0.3625 / 0.45, abs=1e-12)
    assert auc == pytest.approx(29 / 36, abs=1e-12)


def test_curve_custom_alphas():
    gt = np.full((1, 13, 2), 50.0)
    pred = gt + np.array([10.0, 0.0])  # every joint off by 10 px; box size 100
    alphas, values, auc = pck_curve(pred, gt, np.array([[0.0, 0.0, 100.0, 100.0]]),
                                    alphas=[0.05, 0.1, 0.15])
    np.testing.assert_array_equal(values, [0.0, 1.0, 1.0])  # 10 <= 0.1 * 100
    assert auc == pytest.approx((0.05 * 0.5 + 0.05 * 1.0) / 0.1)


# ---- over videos: pooled PCK and jitter ----------------------------------------------------
def test_pck_videos_pools_every_frame(rng):
    gt = rng.uniform(0, 100, (3, 4, 13, 2))
    pred = gt + rng.normal(0, 8, gt.shape)
    box = np.tile([0.0, 0.0, 100.0, 80.0], (3, 4, 1))
    vis = rng.random((3, 4, 13)) < 0.8
    got = pck_videos(pred, gt, box, vis)
    ref = pck(pred.reshape(12, 13, 2), gt.reshape(12, 13, 2), box.reshape(12, 4),
              vis.reshape(12, 13))
    assert got["mean"] == ref["mean"] and got["counted"] == ref["counted"]
    assert pck_videos(pred, gt, box)["counted"] == 3 * 4 * 13


def test_jitter_by_hand():
    # one joint moving 0, 1, 4 px along x: acceleration |4 - 2 + 0| = 2 px; box side 10
    kp = np.zeros((1, 3, 1, 2))
    kp[0, :, 0, 0] = [0, 1, 4]
    box = np.tile([0.0, 0.0, 10.0, 5.0], (1, 3, 1))
    assert jitter(kp, np.ones((1, 3, 1), bool), box) == {"px": 2.0, "relative": 0.2}
    nothing = jitter(kp, np.zeros((1, 3, 1), bool), box)
    assert np.isnan(nothing["px"]) and np.isnan(nothing["relative"])


def _old_evaluate_jitter(keypoints, visible, bbox):
    """dkd_tf.evaluate.jitter before it became metrics.jitter (verbatim)."""
    acc = np.linalg.norm(keypoints[:, 2:] - 2 * keypoints[:, 1:-1] + keypoints[:, :-2], axis=-1)
    v = visible[:, 2:] & visible[:, 1:-1] & visible[:, :-2]
    size = np.maximum(bbox[:, 1:-1, 2] - bbox[:, 1:-1, 0], bbox[:, 1:-1, 3] - bbox[:, 1:-1, 1])
    acc = acc / np.maximum(size, 1.0)[..., None]
    return float(acc[v].mean()) if v.any() else float("nan")


def _old_benchmark_jitter(keypoints, visible, bbox):
    """dkd_tf.benchmark.accuracy.jitter before it became metrics.jitter (verbatim)."""
    kp = np.asarray(keypoints, np.float64)
    acc = np.linalg.norm(kp[:, 2:] - 2 * kp[:, 1:-1] + kp[:, :-2], axis=-1)
    v = visible[:, 2:] & visible[:, 1:-1] & visible[:, :-2] & np.isfinite(acc)
    size = np.maximum(bbox[:, 1:-1, 2] - bbox[:, 1:-1, 0], bbox[:, 1:-1, 3] - bbox[:, 1:-1, 1])
    rel = acc / np.maximum(size, 1.0)[..., None]
    if not v.any():
        return {"px": float("nan"), "relative": float("nan")}
    return {"px": float(acc[v].mean()), "relative": float(rel[v].mean())}


def test_jitter_gives_exactly_what_both_old_implementations_gave(rng):
    """The README's jitter figures came from evaluate's (float64 keypoints and boxes) and the
    benchmark's (float32 keypoints and boxes of the synthetic videos); bit for bit the same."""
    kp64 = rng.uniform(0, 128, (3, 7, 13, 2)) + rng.normal(0, 2, (3, 7, 13, 2)).cumsum(1)
    kp32 = kp64.astype(np.float32)
    xy = rng.uniform(0, 60, (3, 7, 2))
    box = np.concatenate([xy, xy + rng.uniform(0.5, 70, (3, 7, 2))], -1)  # sizes < 1 too
    vis = rng.random((3, 7, 13)) < 0.7
    for kp, bb in ((kp64, box), (kp32, box.astype(np.float32))):
        new = jitter(kp, vis, bb)
        assert new == _old_benchmark_jitter(kp, vis, bb)
        assert new["relative"] == _old_evaluate_jitter(kp.astype(np.float64), vis, bb)
    # a non-finite keypoint is left out, as the benchmark's did (evaluate's gave NaN)
    bad = kp64.copy()
    bad[0, 3, 5] = np.nan
    assert jitter(bad, vis, box) == _old_benchmark_jitter(bad, vis, box)
