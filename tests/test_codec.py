"""Heatmap codec (dkd_tf/codec.py): encode shapes and values, decode accuracy, TF twin.

Convention under test: an input pixel x sits at heatmap coordinate x / stride, stride =
image size / heatmap size per axis; sizes are (height, width) or one int for a square.
"""
from __future__ import annotations

import numpy as np
import pytest

from dkd_tf.codec import DECODE_METHODS, decode_heatmaps, decode_heatmaps_tf, encode_heatmaps

K = 13
# (image size, heatmap size, (H, W) of the image, (h, w) of the maps)
GEOMETRIES = [
    (128, 32, (128, 128), (32, 32)),
    (256, 64, (256, 256), (64, 64)),
    ((128, 96), (32, 24), (128, 96), (32, 24)),
]
GEOM_IDS = ["128-32", "256-64", "128x96-32x24"]


def _random_joints(rng, n, H, W, lo=0.0, hi_x=None, hi_y=None):
    """[n, K, 2] joints uniform in [lo, hi] (default: the whole frame, 0..W-1 / 0..H-1)."""
    hi_x = W - 1 if hi_x is None else hi_x
    hi_y = H - 1 if hi_y is None else hi_y
    return np.stack([rng.uniform(lo, hi_x, (n, K)), rng.uniform(lo, hi_y, (n, K))], axis=-1)


# ---- encode --------------------------------------------------------------------------
def test_encode_shape_dtype_and_peak():
    kp = np.zeros((K, 2))
    kp[3] = (40, 20)  # x, y input pixels -> heatmap (10, 5) with stride 4
    maps = encode_heatmaps(kp, np.eye(K)[3], 128, 32)
    assert maps.shape == (32, 32, K)
    assert maps.dtype == np.float32
    m = maps[..., 3]
    assert m[5, 10] == pytest.approx(1.0, abs=1e-7)
    assert np.unravel_index(np.argmax(m), m.shape) == (5, 10)
    assert m.max() == pytest.approx(1.0, abs=1e-7)
    # sigma = 2 cells: one cell away the value is exp(-1 / 8), diagonal exp(-2 / 8)
    assert m[5, 11] == pytest.approx(np.exp(-1 / 8), rel=1e-6)
    assert m[4, 10] == pytest.approx(np.exp(-1 / 8), rel=1e-6)
    assert m[6, 11] == pytest.approx(np.exp(-2 / 8), rel=1e-6)
    # every other joint is invisible here: all-zero maps
    others = np.delete(maps, 3, axis=-1)
    assert np.count_nonzero(others) == 0


def test_encode_sigma_and_subcell_peak():
    kp = np.array([[42.0, 22.0]])  # heatmap (10.5, 5.5): four equal cells
    maps = encode_heatmaps(kp, [True], 128, 32, sigma=3.0)[..., 0]
    expect = np.exp(-(0.25 + 0.25) / (2 * 9.0))
    np.testing.assert_allclose(maps[5:7, 10:12], expect, rtol=1e-6)
    assert maps.max() == pytest.approx(expect, rel=1e-6)


def test_encode_non_square():
    kp = np.array([[40.0, 100.0]])  # x in 0..95 (W 96), y in 0..127 (H 128)
    maps = encode_heatmaps(kp, [1], (128, 96), (32, 24))
    assert maps.shape == (32, 24, 1)
    assert np.unravel_index(np.argmax(maps[..., 0]), (32, 24)) == (25, 10)
    assert maps[25, 10, 0] == pytest.approx(1.0, abs=1e-7)


def test_encode_zero_for_invisible_nan_and_out_of_frame():
    kp = np.array([
        [40.0, 20.0],      # 0 visible, in frame
        [40.0, 20.0],      # 1 invisible
        [np.nan, 20.0],    # 2 NaN
        [40.0, np.inf],    # 3 inf
        [-0.5, 20.0],      # 4 left of the frame
        [128.0, 20.0],     # 5 right of the frame (W - 1 = 127)
        [40.0, -1.0],      # 6 above
        [40.0, 127.5],     # 7 below
        [127.0, 127.0],    # 8 last pixel: still inside
        [0.0, 0.0],        # 9 first pixel: inside
    ])
    vis = np.array([1, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    maps = encode_heatmaps(kp, vis, 128, 32)
    assert maps.shape == (32, 32, 10)
    maxima = maps.reshape(-1, 10).max(axis=0)
    assert np.all(np.isfinite(maps))
    np.testing.assert_array_equal(maxima[1:8], 0.0)
    assert np.count_nonzero(maps[..., 1:8]) == 0
    assert maxima[0] == pytest.approx(1.0)
    assert maxima[9] == pytest.approx(1.0)  # (0, 0) sits on cell (0, 0)
    # (127, 127) -> (31.75, 31.75): past the last cell centre, the corner cell is highest
    assert maxima[8] == pytest.approx(np.exp(-2 * 0.75 ** 2 / 8), rel=1e-6)
    assert np.unravel_index(np.argmax(maps[..., 8]), (32, 32)) == (31, 31)


def test_encode_batched_leading_dims(rng):
    kp = _random_joints(rng, 6, 128, 128).reshape(2, 3, K, 2)
    vis = rng.random((2, 3, K)) < 0.7
    maps = encode_heatmaps(kp, vis, 128, 32)
    assert maps.shape == (2, 3, 32, 32, K)
    assert maps.dtype == np.float32
    for a in range(2):
        for b in range(3):
            np.testing.assert_array_equal(maps[a, b], encode_heatmaps(kp[a, b], vis[a, b], 128, 32))
    # invisible joints have zero maps, visible ones peak close to 1
    peak = maps.max(axis=(2, 3))
    assert np.all(peak[~vis] == 0)
    assert np.all(peak[vis] > np.exp(-2 * 0.75 ** 2 / 8) - 1e-6)
    kp_hat, scores = decode_heatmaps(maps, 128)
    assert kp_hat.shape == (2, 3, K, 2) and scores.shape == (2, 3, K)
    err = np.linalg.norm(kp_hat - kp, axis=-1)[vis]
    assert err.max() < 0.5


# ---- decode: accuracy of the three methods --------------------------------------------
@pytest.mark.parametrize("image,heat,HW,hw", GEOMETRIES, ids=GEOM_IDS)
def test_dark_round_trip(rng, image, heat, HW, hw):
    H, W = HW
    kp = _random_joints(rng, 80, H, W)
    kp[0, :4] = [[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1]]  # the four corners too
    maps = encode_heatmaps(kp, np.ones(kp.shape[:2]), image, heat)
    kp_hat, _ = decode_heatmaps(maps, image)  # default method: dark
    assert kp_hat.dtype == np.float32 and kp_hat.shape == kp.shape
    err = np.linalg.norm(kp_hat - kp, axis=-1)
    assert err.mean() < 0.25
    assert err.max() < 0.5
    # DARK is exact for a Gaussian: far below the bound in practice (float32 rounding only)
    assert err.max() < 1e-3


@pytest.mark.parametrize("image,heat,HW,hw", GEOMETRIES, ids=GEOM_IDS)
def test_quarter_error_bounds(rng, image, heat, HW, hw):
    H, W = HW
    sy, sx = H / hw[0], W / hw[1]
    kp = _random_joints(rng, 80, H, W)
    kp[0, :4] = [[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1]]
    maps = encode_heatmaps(kp, np.ones(kp.shape[:2]), image, heat)
    kp_hat, _ = decode_heatmaps(maps, image, "quarter")
    err = np.abs(kp_hat - kp)
    cell = np.hypot(sx, sy)
    assert np.linalg.norm(kp_hat - kp, axis=-1).max() < 1.5 * cell
    # per axis: a quarter cell inside, 0.75 cell on a border cell (no neighbour to look at)
    assert err[..., 0].max() <= 0.75 * sx + 1e-4
    assert err[..., 1].max() <= 0.75 * sy + 1e-4
    inner = ((kp[..., 0] >= sx) & (kp[..., 0] <= (hw[1] - 2.5) * sx)
             & (kp[..., 1] >= sy) & (kp[..., 1] <= (hw[0] - 2.5) * sy))
    assert inner.sum() > 500
    assert err[inner][:, 0].max() <= 0.25 * sx + 1e-4
    assert err[inner][:, 1].max() <= 0.25 * sy + 1e-4
    # better than plain argmax on average
    am, _ = decode_heatmaps(maps, image, "argmax")
    assert np.abs(kp_hat - kp).mean() < np.abs(am - kp).mean()


@pytest.mark.parametrize("image,heat,HW,hw", GEOMETRIES, ids=GEOM_IDS)
def test_argmax_error_bounds(rng, image, heat, HW, hw):
    H, W = HW
    sy, sx = H / hw[0], W / hw[1]
    # joints up to the last cell centre: within half a cell diagonal
    kp = _random_joints(rng, 80, H, W, hi_x=(hw[1] - 1) * sx, hi_y=(hw[0] - 1) * sy)
    maps = encode_heatmaps(kp, np.ones(kp.shape[:2]), image, heat)
    kp_hat, _ = decode_heatmaps(maps, image, "argmax")
    err = np.linalg.norm(kp_hat - kp, axis=-1)
    assert err.max() <= 0.5 * np.hypot(sx, sy) + 1e-4
    # argmax output lies on cell centres
    np.testing.assert_allclose(kp_hat[..., 0] / sx, np.round(kp_hat[..., 0] / sx), atol=1e-5)
    np.testing.assert_allclose(kp_hat[..., 1] / sy, np.round(kp_hat[..., 1] / sy), atol=1e-5)
    # past the last cell centre (up to W - 1) the error grows to 0.75 cell per axis
    far = np.array([[W - 1.0, H - 1.0]])
    fk, _ = decode_heatmaps(encode_heatmaps(far, [1], image, heat), image, "argmax")
    np.testing.assert_allclose(fk[0], [(hw[1] - 1) * sx, (hw[0] - 1) * sy], atol=1e-4)


def test_unknown_method_raises():
    maps = np.zeros((32, 32, K), np.float32)
    with pytest.raises(ValueError, match="unknown decode method"):
        decode_heatmaps(maps, 128, "softargmax")


@pytest.mark.parametrize("method", DECODE_METHODS)
def test_scores_equal_heatmap_max(rng, method):
    maps = rng.normal(0, 1, (4, 16, 20, K)).astype(np.float32)
    _, scores = decode_heatmaps(maps, (64, 80), method)
    assert scores.shape == (4, K) and scores.dtype == np.float32
    np.testing.assert_array_equal(scores, maps.max(axis=(1, 2)))


def test_zero_map_decodes_to_origin_with_zero_score():
    kp, scores = decode_heatmaps(np.zeros((32, 32, 2), np.float32), 128)
    np.testing.assert_array_equal(kp, 0.0)
    np.testing.assert_array_equal(scores, 0.0)


# ---- decode: predicted (noisy, negative) maps -------------------------------------------
def test_noisy_heatmaps_within_a_cell(rng):
    # interior joints: heatmap coordinates 1 .. w - 2, so the 3x3 stencil is never clamped
    kp = _random_joints(rng, 60, 128, 128, lo=4.0, hi_x=120.0, hi_y=120.0)
    maps = encode_heatmaps(kp, np.ones(kp.shape[:2]), 128, 32)
    noisy = maps + rng.normal(0, 0.02, maps.shape).astype(np.float32) - 0.05
    assert (noisy < 0).mean() > 0.5  # most of every map is negative
    for method in DECODE_METHODS:
        kp_hat, scores = decode_heatmaps(noisy, 128, method)
        assert np.all(np.isfinite(kp_hat)) and np.all(np.isfinite(scores))
        err = np.linalg.norm(kp_hat - kp, axis=-1)
        assert err.max() < 4.0, method  # one cell (stride 4)
    dark, _ = decode_heatmaps(noisy, 128, "dark")
    quarter, _ = decode_heatmaps(noisy, 128, "quarter")
    assert np.linalg.norm(dark - kp, axis=-1).mean() < np.linalg.norm(quarter - kp, axis=-1).mean()
    # on border cells the result stays finite too
    edge = np.array([[0.0, 60.0], [127.0, 60.0], [60.0, 0.0], [60.0, 127.0]])
    em = encode_heatmaps(edge, np.ones(4), 128, 32)
    em = em + rng.normal(0, 0.02, em.shape).astype(np.float32) - 0.05
    ek, _ = decode_heatmaps(em, 128)
    assert np.all(np.isfinite(ek))
    assert np.linalg.norm(ek - edge, axis=-1).max() < 1.5 * 4 * np.sqrt(2)


def test_all_negative_map_falls_back_to_quarter():
    kp = np.array([[41.0, 61.0]])  # heatmap (10.25, 15.25)
    maps = encode_heatmaps(kp, [1], 128, 32) - 2.0  # every value negative
    dark, s_dark = decode_heatmaps(maps, 128, "dark")
    quarter, s_quarter = decode_heatmaps(maps, 128, "quarter")
    assert np.all(np.isfinite(dark))
    np.testing.assert_array_equal(dark, quarter)  # log floor is flat: no Newton step
    np.testing.assert_allclose(quarter[0], [41.0, 61.0], atol=1e-4)  # 10 + 1/4 cell, 15 + 1/4
    # the highest cell (10, 15) is a quarter cell off on each axis
    assert s_dark[0] == pytest.approx(np.exp(-2 * 0.25 ** 2 / 8) - 2.0, abs=1e-6)


# ---- TensorFlow twin -------------------------------------------------------------------
@pytest.mark.parametrize("image,heat,HW", [(128, 32, (128, 128)), ((128, 96), (32, 24), (128, 96))],
                         ids=["128-32", "128x96-32x24"])
def test_tf_decode_matches_numpy(rng, image, heat, HW):
    from dkd_tf.errors import import_tensorflow

    import_tensorflow()
    H, W = HW
    kp = _random_joints(rng, 16, H, W)
    kp[0, :4] = [[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1]]
    maps = encode_heatmaps(kp, rng.random(kp.shape[:2]) < 0.9, image, heat)
    noisy = maps + rng.normal(0, 0.02, maps.shape).astype(np.float32)
    batch = np.concatenate([maps, noisy])  # [B, h, w, K]
    for method in DECODE_METHODS:
        ref_kp, ref_s = decode_heatmaps(batch, image, method)
        tf_kp, tf_s = decode_heatmaps_tf(batch, image, method)
        tf_kp, tf_s = tf_kp.numpy(), tf_s.numpy()
        assert tf_kp.shape == ref_kp.shape == (32, K, 2)
        assert tf_s.shape == ref_s.shape == (32, K)
        np.testing.assert_allclose(tf_kp, ref_kp, rtol=0, atol=1e-5, err_msg=method)
        np.testing.assert_allclose(tf_s, ref_s, rtol=0, atol=1e-7, err_msg=method)
    with pytest.raises(ValueError, match="unknown decode method"):
        decode_heatmaps_tf(batch, image, "bogus")
