"""The LiteRT tracker: parity with the Keras model, policies, ROI tracking, One-Euro, bad
assets, and that it runs with TensorFlow unimportable."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from dkd_tf.codec import decode_heatmaps, encode_heatmaps
from dkd_tf.errors import UserError
from dkd_tf.one_euro import OneEuroFilter, smoothing_factor
from dkd_tf.runtime import (OneEuroParams, PoseTracker, apply_affine, crop_window,
                            invert_affine, letterbox, warp_heatmaps, window_crop)
from fixtures_edge import (copy_assets, edge_assets, edge_export, edit_manifest,  # noqa: F401
                           synthetic_clip)


# ---- One-Euro on known signals (numbers worked by hand) ------------------------------
def test_one_euro_step_with_fixed_cutoff():
    # beta = 0: a plain exponential filter, alpha = 2 pi fc dt / (1 + 2 pi fc dt)
    # fc = 1 Hz, dt = 0.1 s: alpha = 0.6283185 / 1.6283185 = 0.3858696
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0, rate=10.0)
    out = [float(f(v)) for v in (0.0, 1.0, 1.0, 1.0)]
    # y1 = 0.3858696; y2 = y1 + a (1 - y1) = 0.6228438; y3 = 0.7683769
    np.testing.assert_allclose(out, [0.0, 0.3858696, 0.6228438, 0.7683769], atol=1e-6)
    assert smoothing_factor(1.0, 0.1) == pytest.approx(0.3858696, abs=1e-7)


def test_one_euro_speed_raises_the_cutoff():
    # beta = 1, step 0 -> 1 at 10 Hz: speed dx = 10 / s; edx = a(1 Hz) * 10 = 3.858696;
    # cutoff = 1 + 3.858696 = 4.858696 Hz; alpha = 3.052808 / 4.052808 = 0.7532575
    f = OneEuroFilter(min_cutoff=1.0, beta=1.0, d_cutoff=1.0, rate=10.0)
    f(np.zeros(2))
    y = f(np.ones(2))
    np.testing.assert_allclose(y, [0.7532575, 0.7532575], atol=1e-6)
    # value_scale 0.1 (e.g. 1 / a 10-pixel person) cuts the speed term tenfold:
    # cutoff = 1.3858696, alpha = 0.8707690 / 1.8707690 = 0.4654600
    g = OneEuroFilter(min_cutoff=1.0, beta=1.0, d_cutoff=1.0, rate=10.0)
    g(0.0, t=0.0, value_scale=0.1)
    assert float(g(1.0, t=0.1, value_scale=0.1)) == pytest.approx(0.4654600, abs=1e-6)


def test_one_euro_timestamps_and_reset():
    f = OneEuroFilter(1.0, 0.0, 1.0, rate=10.0)
    f(0.0, t=0.0)
    # dt = 0.2 s: alpha = 1.2566371 / 2.2566371 = 0.5568627
    assert float(f(1.0, t=0.2)) == pytest.approx(0.5568627, abs=1e-6)
    f.reset()
    assert float(f(5.0, t=0.3)) == 5.0  # the first sample passes through


def test_one_euro_reduces_jitter_of_a_noisy_constant():
    rng = np.random.default_rng(0)
    x = 10 + rng.normal(0, 1, 300)
    f = OneEuroFilter(1.0, 0.0, 1.0, rate=30.0)
    y = np.array([float(f(v)) for v in x])
    acc = lambda s: np.abs(s[2:] - 2 * s[1:-1] + s[:-2]).mean()  # noqa: E731
    assert acc(y[50:]) < 0.2 * acc(x[50:])
    assert abs(y[50:].mean() - 10) < 0.2


# ---- geometry ------------------------------------------------------------------------
def test_letterbox_matches_the_manifest_rule():
    frame = np.full((60, 100, 3), 200, np.uint8)
    img, A = letterbox(frame, 64, 64)
    s = 0.64
    c = (s - 1) / 2  # pixel centres (the resize's convention)
    assert A[0, 0] == pytest.approx(s)
    np.testing.assert_allclose(A[:, 2], [0 + c, (64 - 38) // 2 + c])  # 38.4 -> 38
    assert img[:13].max() == 0 and img[13:51].min() == 200 and img[51:].max() == 0
    # frame pixel -> input pixel -> back
    p = np.array([[10.0, 20.0]])
    np.testing.assert_allclose(apply_affine(apply_affine(p, A), invert_affine(A)), p)


def test_letterbox_matrix_is_where_the_resize_puts_each_pixel():
    """On a horizontal ramp (value = frame x) the resized canvas must read, at input pixel
    i, the value of the frame point that A maps there (bilinear is exact on a ramp); the
    matrix without the half-pixel term (s - 1) / 2 would be 1.45 frame px off here."""
    w, h = 250, 50
    frame = np.repeat(np.repeat(np.arange(w, dtype=np.uint8)[None, :, None], h, 0), 3, 2)
    img, A = letterbox(frame, 64, 64)
    s = A[0, 0]
    row = img[32, 4:60, 0].astype(np.float64)  # interior (no clamping at the ends)
    x_frame = apply_affine(np.stack([np.arange(4, 60), np.full(56, 32.0)], 1),
                           invert_affine(A))[:, 0]
    err = np.abs(row - x_frame)  # uint8 rounding and OpenCV's fixed-point weights only
    assert err.max() <= 0.75 and err.mean() <= 0.4
    assert np.abs(row - np.arange(4, 60) / s).mean() > 1.2  # the uncorrected map is off


def test_crop_window_rounds_half_up():
    """(cx, cy, side) -> the integer window whose centre is nearest, halves rounded up."""
    assert crop_window((50.0, 60.0), 80.0) == (11, 21, 80)      # centre 11 + 79 / 2 = 50.5
    assert crop_window((50.5, 60.0), 80.4) == (11, 21, 80)      # 11.0 exactly: kept
    assert crop_window((50.0, 60.0), 80.5) == (10, 20, 81)      # side half up; centre 50
    assert crop_window((-3.2, 0.0), 0.3) == (-3, 0, 1)          # at least one pixel
    for cx, cy, side in np.random.default_rng(0).uniform([-50, -50, 1], [200, 200, 300], (200, 3)):
        x0, y0, n = crop_window((cx, cy), side)
        assert abs(n - side) <= 0.5 and abs(x0 + (n - 1) / 2 - cx) <= 0.5
        assert abs(y0 + (n - 1) / 2 - cy) <= 0.5


def _reference_crop(frame, window, pad):
    """NumPy reference: the window's pixels one by one, pad outside the frame."""
    x0, y0, n = window
    h, w = frame.shape[:2]
    out = np.full((n, n, 3), pad, np.uint8)
    for i in range(n):
        for j in range(n):
            if 0 <= y0 + i < h and 0 <= x0 + j < w:
                out[i, j] = frame[y0 + i, x0 + j]
    return out


@pytest.mark.parametrize("window,hw", [((30, 20, 128), (128, 128)),   # inside, no resize
                                       ((-17, 40, 90), (128, 128)),   # leaves the frame left
                                       ((100, -30, 71), (128, 128)),  # right and top
                                       ((-60, -60, 300), (128, 128)),  # larger than the frame
                                       ((12, 9, 64), (96, 128))])      # non-square input
def test_window_crop_is_the_letterbox_of_the_window(window, hw):
    """Pixels: the window (pad 7 outside the frame) resized by the letterbox's cv2.resize,
    exactly. A: the letterbox's A of an n x n image shifted by the window's corner; on a ramp
    (value = frame x) input pixel u reads the frame point A^-1 maps it to."""
    import cv2

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    H, W = hw
    img, A = window_crop(frame, window, H, W, pad_value=7)
    x0, y0, n = window
    s = min(H, W) / n
    nb = min(H, W)
    ox, oy = (W - nb) // 2, (H - nb) // 2
    want = np.full((H, W, 3), 7, np.uint8)
    ref = _reference_crop(frame, window, 7)
    want[oy:oy + nb, ox:ox + nb] = ref if n == nb else cv2.resize(ref, (nb, nb),
                                                                  interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(img, want)
    c = (s - 1) / 2
    np.testing.assert_array_equal(A, [[s, 0, ox + c - s * x0], [0, s, oy + c - s * y0]])
    # window pixel centres x0 and x0 + n - 1 go to input pixels c and nb - 1 - c
    np.testing.assert_allclose(apply_affine([[x0, y0], [x0 + n - 1, y0 + n - 1]], A),
                               [[ox + c, oy + c], [ox + nb - 1 - c, oy + nb - 1 - c]],
                               atol=1e-9)
    ramp = np.repeat(np.repeat((np.arange(160) + 40).astype(np.uint8)[None, :, None], 120, 0),
                     3, 2)
    rimg, _ = window_crop(ramp, window, H, W)
    u = np.arange(ox + 4, ox + nb - 4)
    x = apply_affine(np.stack([u, np.full(len(u), oy + nb / 2)], 1), invert_affine(A))[:, 0]
    inside = (x >= 1) & (x <= 158) & (x >= x0 + 1) & (x <= x0 + n - 2)
    err = np.abs(rimg[oy + nb // 2, u, 0].astype(np.float64) - (x + 40))[inside]
    assert inside.sum() > 10 and err.max() <= 0.75


def test_warp_heatmaps_keeps_the_frame_position():
    """A joint's Gaussian computed in one crop, warped into another, decodes to the same
    frame point; the separable warp is cv2.warpAffine's up to cv2's 1/32-pixel sampling
    grid; zeros where the new crop sees what the old one did not."""
    import cv2

    frame = np.zeros((120, 160, 3), np.uint8)
    _, A_old = window_crop(frame, crop_window((50.0, 60.0), 80.0), 64, 64)
    _, A_new = window_crop(frame, crop_window((58.0, 52.0), 70.0), 64, 64)
    frame_pts = np.array([[40.0, 70.0], [62.0, 45.0]])
    hm = encode_heatmaps(apply_affine(frame_pts, A_old), np.ones(2, bool), 64, 16, sigma=2.0)
    warped = warp_heatmaps(hm, A_old, A_new, 4.0)
    assert warped.dtype == np.float32 and warped.shape == hm.shape
    kp, _ = decode_heatmaps(warped, 64, "dark")
    np.testing.assert_allclose(apply_affine(kp, invert_affine(A_new)), frame_pts, atol=0.35)
    D, Di = np.diag([0.25, 0.25]), np.diag([4.0, 4.0])
    R = D @ A_new[:, :2] @ np.linalg.inv(A_old[:, :2]) @ Di
    t = D @ (A_new[:, :2] @ (np.linalg.inv(A_old[:, :2]) @ -A_old[:, 2]) + A_new[:, 2])
    cv = cv2.warpAffine(hm.astype(np.float32), np.concatenate([R, t[:, None]], 1), (16, 16),
                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    assert np.abs(warped - cv).max() <= 0.01 * hm.max()  # measured 0.004
    # a crop far to the right: the old maps are out of its view
    _, A_far = window_crop(frame, crop_window((400.0, 52.0), 70.0), 64, 64)
    assert not warp_heatmaps(hm, A_old, A_far, 4.0).any()
    with pytest.raises(ValueError, match="scale and a shift"):
        warp_heatmaps(hm, np.array([[1.0, 0.1, 0], [0, 1, 0]]), A_new, 4.0)


# ---- against the Keras model ---------------------------------------------------------
def _assert_decodes_alike(got_kp, want_kp):
    """Keypoints decoded from two float32 graphs of one model: DARK's Newton step divides by
    the log-heatmap's curvature, so where an (untrained) heatmap is flat a 1e-6 difference
    in the maps moves a keypoint by ~1e-2 px (CI saw 0.007 px on one joint of 208). The maps
    themselves are compared tightly by the callers; here most keypoints must agree to 1e-3 px
    and none by more than half a heatmap cell (a wrong affine, stride or method fails both)."""
    d = np.abs(np.asarray(got_kp) - np.asarray(want_kp)).max(axis=-1)
    assert np.mean(d < 1e-3) >= 0.95 and d.max() < 2.0, (np.mean(d < 1e-3), d.max())


def _assert_maps_alike(got, want):
    """float32 LiteRT (XNNPACK) against Keras: summation order only."""
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(want).max()))


def test_runtime_equals_keras_unroll(edge_export):
    """roi full, no re-init, no smoothing: the manifest's host loop = DKD.call, decoded."""
    assets, model = edge_export
    clip = synthetic_clip(64, 8)
    tr = PoseTracker(assets)
    xs, poses, maps = [], [], []
    for fr in clip["frames"]:
        bgr = np.ascontiguousarray(fr[..., ::-1])
        xs.append(tr.preprocess(bgr)[0][0])
        poses.append(tr.process(bgr))
        maps.append(tr._s.heatmaps[0])
    h = model(np.stack(xs)[None], training=False).numpy()[0]  # [T, m, m, K]
    assert [p.initializer for p in poses] == [True] + [False] * 7
    _assert_maps_alike(np.stack(maps), h)
    # the tracker's keypoints are its own maps decoded (64 px frame = the input: A = I)
    kp_rt, sc_rt = decode_heatmaps(np.stack(maps), 64, tr.decode_method)
    np.testing.assert_allclose(np.stack([p.keypoints for p in poses]), kp_rt, atol=1e-5)
    np.testing.assert_allclose(np.stack([p.scores for p in poses]), sc_rt, atol=1e-6)
    kp, sc = decode_heatmaps(h, 64, tr.decode_method)
    np.testing.assert_allclose(sc_rt, sc, atol=1e-4)
    _assert_decodes_alike(kp_rt, kp)
    assert tr.graphs["pose_initializer"].calls == 1 and tr.graphs["frame_encoder"].calls == 8


def test_runtime_letterboxes_non_square_frames(edge_export):
    assets, model = edge_export
    frame = np.ascontiguousarray(synthetic_clip(64, 1)["frames"][0][..., ::-1])
    wide = np.concatenate([frame, frame[:, :32]], axis=1)  # 96 x 64: s = 2/3
    tr = PoseTracker(assets)
    pose = tr.process(wide)
    x, A = tr.preprocess(wide)
    h = model.initializer(x, training=False).numpy()[0]
    _assert_maps_alike(tr._s.heatmaps[0], h)
    kp_rt, _ = decode_heatmaps(tr._s.heatmaps[0], 64, "dark")
    np.testing.assert_allclose(pose.keypoints, apply_affine(kp_rt, invert_affine(A)), atol=1e-4)
    kp, _ = decode_heatmaps(h, 64, "dark")
    _assert_decodes_alike(pose.keypoints, apply_affine(kp, invert_affine(A)))
    s = 64 / 96
    assert A[0, 0] == pytest.approx(s) and A[1, 2] == pytest.approx((64 - 43) // 2 + (s - 1) / 2)


# ---- policies ------------------------------------------------------------------------
def _flags(tracker, frames):
    return [tracker.process(np.ascontiguousarray(f[..., ::-1])).initializer for f in frames]


def test_reinit_policies(edge_assets):
    frames = synthetic_clip(64, 7)["frames"]
    assert _flags(PoseTracker(edge_assets, reinit_every=3), frames) == \
        [True, False, False, True, False, False, True]
    assert all(_flags(PoseTracker(edge_assets, reinit_every=1), frames))
    assert _flags(PoseTracker(edge_assets, reinit_score=1e9), frames) == [True] * 7
    assert _flags(PoseTracker(edge_assets, reinit_score=-1e9), frames) == [True] + [False] * 6
    tr = PoseTracker(edge_assets, reinit_every=0)
    _flags(tr, frames[:3])
    tr.reset()
    assert _flags(tr, frames[:2]) == [True, False]


def test_initializer_every_frame_is_the_per_frame_model(edge_export):
    assets, model = edge_export
    frames = synthetic_clip(64, 3)["frames"]
    tr = PoseTracker(assets, reinit_every=1)
    kps, want = [], []
    for fr in frames:
        bgr = np.ascontiguousarray(fr[..., ::-1])
        x, _ = tr.preprocess(bgr)
        h = model.initializer(x, training=False).numpy()[0]
        kps.append(tr.process(bgr).keypoints)
        _assert_maps_alike(tr._s.heatmaps[0], h)
        want.append(decode_heatmaps(h, 64, "dark")[0])
    _assert_decodes_alike(kps, want)


def test_smoothing_is_one_euro_on_the_raw_keypoints(edge_assets):
    frames = synthetic_clip(64, 5)["frames"]
    params = OneEuroParams(1.0, 0.0, 1.0)  # beta 0: the person size does not matter
    tr = PoseTracker(edge_assets, smooth=params, fps=10.0)
    f = OneEuroFilter(1.0, 0.0, 1.0, rate=10.0)
    for i, fr in enumerate(frames):
        pose = tr.process(np.ascontiguousarray(fr[..., ::-1]))
        np.testing.assert_allclose(pose.keypoints, f(pose.raw_keypoints, t=i / 10.0),
                                   atol=1e-4)


# ---- ROI tracking --------------------------------------------------------------------
def test_roi_track_crops_around_the_last_pose_and_reanchors(edge_assets):
    frames = [np.ascontiguousarray(f[..., ::-1]) for f in synthetic_clip(64, 4)["frames"]]
    big = [np.pad(f, ((32, 32), (32, 32), (0, 0))) for f in frames]  # 128 x 128
    tr = PoseTracker(edge_assets, roi="track", roi_min_score=-np.inf, roi_margin=1.5)
    p0 = tr.process(big[0])
    # frame 0: the whole frame (input pixel centres 0 and 63 are frame points 0.5 and
    # 126.5 at s = 1/2: the resize's pixel-centre map)
    assert p0.roi == pytest.approx((0.5, 0.5, 126.5, 126.5), abs=1e-6)
    # frame 1: the crop moves to the pose of frame 0, so the state is re-anchored once
    p1 = tr.process(big[1])
    lo, hi = p0.raw_keypoints.min(0), p0.raw_keypoints.max(0)
    side = min(max((hi - lo).max() * 1.5, tr.roi_min_side * 128, 16.0), 153.6)
    x0, y0, n = crop_window(np.clip((lo + hi) / 2, 0, 127), side)  # the integer window
    x1, y1, x2, y2 = p1.roi
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((x0 + (n - 1) / 2, y0 + (n - 1) / 2))
    assert x2 - x1 == pytest.approx(n * 63 / 64, rel=1e-9)
    assert tr.reanchors == 1 and tr.graphs["frame_encoder"].calls == 3
    # a pose that stays put keeps the crop: no further re-anchoring
    tr._s.keypoints = p0.raw_keypoints
    tr._s.scores = np.ones_like(p0.scores)
    tr._s.crop_box = tr._wanted_crop(big[2].shape)
    tr.process(big[2])
    assert tr.reanchors == 1 and tr.graphs["frame_encoder"].calls == 4


def test_roi_track_falls_back_to_the_whole_frame_without_confident_joints(edge_assets):
    frames = [np.ascontiguousarray(f[..., ::-1]) for f in synthetic_clip(64, 3)["frames"]]
    tr = PoseTracker(edge_assets, roi="track", roi_min_score=np.inf)
    rois = [tr.process(f).roi for f in frames]
    assert all(r == pytest.approx((0, 0, 63, 63)) for r in rois) and tr.reanchors == 0


# ---- bad assets ----------------------------------------------------------------------
def test_bad_manifests_and_models(edge_assets, tmp_path):
    d = copy_assets(edge_assets, tmp_path / "a")
    edit_manifest(d, lambda m: m.update(format="mediapipe/2"))
    with pytest.raises(UserError, match=r"manifest.json: manifest format 'mediapipe/2'"):
        PoseTracker(d)
    d = copy_assets(edge_assets, tmp_path / "b")
    path = os.path.join(d, "dynamic_conv_fp32.tflite")
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(UserError, match=r"dynamic_conv_fp32.tflite: sha256 mismatch"):
        PoseTracker(d)
    # a file that is not a model, with a manifest that vouches for it
    with open(path, "wb") as f:
        f.write(b"not a flatbuffer at all" * 10)
    from dkd_tf.runtime import sha256_file

    digest = sha256_file(path)
    edit_manifest(d, lambda m: m["models"]["fp32"]["dynamic_conv"].update(sha256=digest))
    with pytest.raises(UserError, match=r"dynamic_conv_fp32.tflite: not a usable TFLite model"):
        PoseTracker(d)
    with pytest.raises(UserError, match=r"no 'int8' models"):
        PoseTracker(edge_assets, "int8")
    with pytest.raises(UserError, match=r"no such manifest"):
        PoseTracker(str(tmp_path / "nowhere"))


# ---- no TensorFlow -------------------------------------------------------------------
_NO_TF = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
import numpy as np
from dkd_tf.runtime import PoseTracker, interpreter_api
tr = PoseTracker(sys.argv[1], roi="track", reinit_every=2, smooth=True)
rng = np.random.default_rng(0)
for i in range(4):
    pose = tr.process(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8))
assert pose.keypoints.shape == (13, 2) and np.isfinite(pose.keypoints).all()
bad = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
print("OK", interpreter_api()[2], bad)
"""


def test_runtime_runs_without_tensorflow(edge_assets):
    r = subprocess.run([sys.executable, "-c", _NO_TF, edge_assets], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK ai_edge_litert []"


def test_missing_interpreter_is_one_clear_message():
    code = ("import sys\n"
            "for m in ('ai_edge_litert', 'tflite_runtime', 'tensorflow'): sys.modules[m] = None\n"
            "from dkd_tf.runtime import interpreter_api\n"
            "from dkd_tf.errors import UserError\n"
            "try:\n    interpreter_api()\nexcept UserError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "no TFLite interpreter found" in r.stdout
