"""The shared clip pipeline: affine crops and their inverse, the letterbox rule, clip sampling,
clip-consistent augmentation, the flip's joint swap, targets vs joints, evaluation inputs,
encoded frames and the tf.data wrapper. Pure NumPy except the last tests (tf.data)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from dkd_tf.codec import decode_heatmaps
from dkd_tf.data.affine import apply_affine, crop_matrix, invert_affine, letterbox_matrix
from dkd_tf.data.pipeline import ClipPipeline, PipelineConfig, evaluation_inputs
from dkd_tf.joints import PENN_ACTION

S = 64          # network input of these tests (heatmaps 16 x 16)
K = 13
LSH, RSH = PENN_ACTION.names.index("left_shoulder"), PENN_ACTION.names.index("right_shoulder")
NO_AUG = dict(scale=(1.0, 1.0), rotation=0.0, flip=False, color=0.0)


def texture(rng, h, w):
    """A smooth random RGB image uint8 [h, w, 3] (blurred noise: interpolation-friendly)."""
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.astype(np.uint8)


def make_record(T=6, H=96, W=128, seed=0, still=False, name="v"):
    """A video record (pipeline.py): joints inside a person box in the frame's middle,
    joint 0 always visible, a few others invisible; still=True: every frame and every
    frame's joints identical."""
    rng = np.random.default_rng(seed)
    base = texture(rng, H, W)
    j0 = np.stack([rng.uniform(0.3 * W, 0.7 * W, K), rng.uniform(0.25 * H, 0.75 * H, K)], -1)
    joints, frames = [], []
    for t in range(T):
        d = np.zeros(2) if still else np.array([1.5 * t, -0.5 * t])
        joints.append(j0 + d)
        frames.append(base if still else np.roll(base, t, axis=1))
    joints = np.array(joints, np.float32)
    visible = np.ones((T, K), bool)
    visible[:, [4, 9]] = False
    joints[:, 9] = -1.0  # as the real labels store invisible joints
    vis_pts = [joints[t][visible[t]] for t in range(T)]
    bbox = np.array([[*p.min(0) - 3, *p.max(0) + 3] for p in vis_pts], np.float32)
    return {"name": name, "action": "squat", "frames": np.stack(frames), "joints": joints,
            "visible": visible, "bbox": bbox}


def pipe(records, **kw):
    return ClipPipeline(records, PipelineConfig(**{"input_size": S, "clip_len": 4, **kw}))


# ---- affine --------------------------------------------------------------------------
def test_crop_and_inverse_round_trip(rng):
    for _ in range(300):
        A = crop_matrix(rng.uniform(-100, 700, 2), rng.uniform(5, 900),
                        int(rng.choice([64, 128, 256])), rng.uniform(-180, 180),
                        bool(rng.random() < 0.5))
        pts = rng.uniform(-200, 900, (17, 2))
        back = apply_affine(apply_affine(pts, A), invert_affine(A))
        assert np.abs(back - pts).max() < 1e-4


def test_crop_matrix_geometry():
    A = crop_matrix((200.0, 100.0), 50.0, 64)
    c = (64 - 1) / 2
    # the box centre goes to the input centre; its side to the input side
    np.testing.assert_allclose(apply_affine([[200, 100], [225, 100], [200, 75]], A),
                               [[c, c], [c + 32, c], [c, c - 32]], atol=1e-9)
    # counter-clockwise in the image (y down): a point right of the centre goes up
    R = crop_matrix((200.0, 100.0), 50.0, 64, rotation_deg=90)
    np.testing.assert_allclose(apply_affine([[225, 100]], R), [[c, c - 32]], atol=1e-9)
    # flip mirrors about the vertical through the centre
    F = crop_matrix((200.0, 100.0), 50.0, 64, flip=True)
    np.testing.assert_allclose(apply_affine([[225, 90]], F), [[c - 32, c - 12.8]], atol=1e-9)


@pytest.mark.parametrize("h,w,out", [(480, 640, 128), (240, 320, 256), (720, 1280, 256),
                                     (640, 480, 128), (64, 64, 64), (133, 256, 128),
                                     (256, 133, 128), (100, 300, 128)])
def test_letterbox_rule(h, w, out):
    s = min(out / w, out / h)
    nw, nh = int(np.floor(w * s + 0.5)), int(np.floor(h * s + 0.5))  # round half up
    ox, oy = (out - nw) // 2, (out - nh) // 2
    A = letterbox_matrix((h, w), out)
    c = (s - 1) / 2  # pixel centres: where a resize puts frame point x is s x + ox + c
    np.testing.assert_allclose(A, [[s, 0, ox + c], [0, s, oy + c]], atol=1e-12)
    # the frame's outer edges (pixel centres -0.5 and w - 0.5) land on the pasted frame's
    corners = apply_affine([[-0.5, -0.5], [w - 0.5, h - 0.5]], A)
    np.testing.assert_allclose(corners, [[ox - 0.5, oy - 0.5],
                                         [ox + w * s - 0.5, oy + h * s - 0.5]], atol=1e-9)
    assert abs(w * s - nw) <= 0.5 and abs(h * s - nh) <= 0.5
    assert corners.min() >= -0.5 and corners.max() <= out - 0.5 + 1e-9
    # the same matrix as the edge runtime's letterbox (which the phone app follows)
    runtime = pytest.importorskip("dkd_tf.runtime")
    _, A_rt = runtime.letterbox(np.zeros((h, w, 3), np.uint8), out, out)
    np.testing.assert_allclose(A, A_rt, atol=1e-12)


# ---- ClipPipeline.sample ---------------------------------------------------------------
def test_sample_shapes_and_normalisation():
    rec = make_record()
    p = pipe([rec], clip_len=5)
    d = p.sample(rec, 1, np.random.default_rng(0))
    assert d["image"].shape == (5, S, S, 3) and d["image"].dtype == np.float32
    assert d["target"].shape == (5, S // 4, S // 4, K) and d["target"].dtype == np.float32
    assert d["weight"].shape == (5, K) and d["weight"].dtype == np.float32
    assert d["joints"].shape == (5, K, 2) and d["crop"].shape == (2, 3)
    # without augmentation the image is exactly the warped frame, normalised
    c = PipelineConfig()
    d = pipe([rec], clip_len=2, **NO_AUG).sample(rec, 2)
    for i, t in enumerate((2, 3)):
        raw = cv2.warpAffine(rec["frames"][t], d["crop"].astype(np.float64), (S, S),
                             flags=cv2.INTER_LINEAR, borderValue=0).astype(np.float32)
        want = (raw / 255.0 - np.float32(c.mean)) / np.float32(c.std)
        np.testing.assert_allclose(d["image"][i], want, atol=1e-5)
        np.testing.assert_allclose(d["joints"][i], apply_affine(rec["joints"][t], d["crop"]),
                                   atol=1e-3)
    # clips that run past the end repeat the last frame
    d = pipe([rec], clip_len=4, **NO_AUG).sample(rec, 4)
    np.testing.assert_array_equal(d["image"][2], d["image"][1])


def test_same_augmentation_for_every_frame_of_a_clip():
    rec = make_record(still=True)
    p = pipe([rec], clip_len=5, crop="box")
    flips = set()
    for seed in range(8):
        d = p.sample(rec, 0, np.random.default_rng(seed))
        flips.add(bool(np.linalg.det(d["crop"][:, :2]) < 0))
        for key in ("image", "target", "weight", "joints"):
            for t in range(1, 5):
                np.testing.assert_array_equal(d[key][t], d[key][0])
        assert not np.allclose(d["image"][0], p.sample(rec, 0)["image"][0])  # augmented
    assert flips == {True, False}


def test_flip_swaps_left_and_right():
    rec = make_record(still=True)
    plain = pipe([rec], crop="box", **NO_AUG).sample(rec, 0)
    p = pipe([rec], crop="box", scale=(1.0, 1.0), rotation=0.0, flip=True, color=0.0)
    seen = 0
    for seed in range(20):
        d = p.sample(rec, 0, np.random.default_rng(seed))
        if np.linalg.det(d["crop"][:, :2]) > 0:
            np.testing.assert_array_equal(d["image"], plain["image"])
            continue
        seen += 1
        mirror = lambda q: np.stack([(S - 1) - q[..., 0], q[..., 1]], -1)  # noqa: E731
        # the left shoulder of the frame is now the right shoulder, mirrored (and back)
        np.testing.assert_allclose(d["joints"][:, RSH], mirror(plain["joints"][:, LSH]), atol=1e-4)
        np.testing.assert_allclose(d["joints"][:, LSH], mirror(plain["joints"][:, RSH]), atol=1e-4)
        perm = list(PENN_ACTION.flip_permutation())
        np.testing.assert_allclose(d["joints"], mirror(plain["joints"][:, perm]), atol=1e-4)
        np.testing.assert_array_equal(d["weight"], plain["weight"][:, perm])
        kp, _ = decode_heatmaps(d["target"], S)  # (the stride-4 grid is not mirror-symmetric)
        ok = d["weight"] > 0
        assert np.abs(kp[ok] - d["joints"][ok]).max() <= 1.0
        # the image is mirrored too (bilinear's fixed-point rounding: a grey level or two)
        assert np.abs(d["image"] - plain["image"][:, :, ::-1]).max() < 3 / 255 / 0.224
    assert seen >= 3


def test_targets_match_joints_and_invisible_joints_are_zero():
    rec = make_record(T=8)
    p = pipe([rec], clip_len=4, crop="box")
    for seed in range(10):
        d = p.sample(rec, seed % 4, np.random.default_rng(seed))
        vis = rec["visible"][0] if np.linalg.det(d["crop"][:, :2]) > 0 else \
            rec["visible"][0][list(PENN_ACTION.flip_permutation())]
        inside = np.all((d["joints"] >= 0) & (d["joints"] <= S - 1), -1)
        np.testing.assert_array_equal(d["weight"] > 0, vis[None] & inside)
        kp, _ = decode_heatmaps(d["target"], S)
        ok = d["weight"] > 0
        assert ok.sum() > 20
        assert np.abs(kp[ok] - d["joints"][ok]).max() <= 1.0
        maps = d["target"].transpose(0, 3, 1, 2)                    # [T, K, m, m]
        assert np.all(maps[~ok] == 0) and np.all(maps[ok].max(axis=(1, 2)) > 0.6)


def test_out_of_crop_joints_get_no_weight():
    rec = make_record(still=True)
    rec["joints"][:, 3] = [-50.0, 10.0]   # visible but off the frame
    d = pipe([rec], **NO_AUG).sample(rec, 0)
    assert np.all(d["weight"][:, 3] == 0) and np.all(d["target"][..., 3] == 0)
    assert np.all(d["weight"][:, [4, 9]] == 0) and np.all(d["target"][..., [4, 9]] == 0)


def test_box_crop_centres_the_person_box():
    rec = make_record(T=6)
    margin = 1.4
    d = pipe([rec], clip_len=6, crop="box", box_margin=margin, **NO_AUG).sample(rec, 0)
    b = rec["bbox"]
    lo, hi = b[:, :2].min(0), b[:, 2:].max(0)                    # the clip's union box
    q = apply_affine([lo, hi], d["crop"])
    c = (S - 1) / 2
    np.testing.assert_allclose(q.mean(0), [c, c], atol=1e-4)
    side = q[1] - q[0]
    assert abs(side.max() - S / margin) < 1e-3 and side.min() <= side.max()
    # frame mode letterboxes the whole frame instead
    f = pipe([rec], **NO_AUG).sample(rec, 0)
    np.testing.assert_allclose(f["crop"], letterbox_matrix((96, 128), S), atol=1e-6)


def test_evaluation_is_deterministic_and_uses_every_frame():
    recs = [make_record(T=7, seed=1), make_record(T=4, seed=2, H=80, W=80)]
    for crop in ("frame", "box"):
        cfg = PipelineConfig(input_size=S, clip_len=1, crop=crop, **NO_AUG)
        a, b = evaluation_inputs(recs, cfg), evaluation_inputs(recs, cfg)
        for r, x, y in zip(recs, a, b):
            for key in ("image", "target", "weight", "joints", "crop"):
                np.testing.assert_array_equal(x[key], y[key])
            assert x["image"].shape == (len(r["joints"]), S, S, 3)
            np.testing.assert_allclose(x["joints"], apply_affine(r["joints"], x["crop"]),
                                       atol=1e-3)
    p = pipe(recs, crop="box")
    for key in ("image", "target"):
        np.testing.assert_array_equal(p.sample(recs[0], 1)[key], p.sample(recs[0], 1)[key])
        np.testing.assert_array_equal(p.sample(recs[0], 1, np.random.default_rng(5))[key],
                                      p.sample(recs[0], 1, np.random.default_rng(5))[key])


@pytest.mark.parametrize("fmt", [".png", ".jpg"])
@pytest.mark.parametrize("crop", ["frame", "box"])
def test_encoded_frames_give_the_same_crops(fmt, crop):
    rec = make_record(T=5)
    enc = {k: v for k, v in rec.items() if k != "frames"}
    enc["frames_encoded"] = [cv2.imencode(fmt, cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes()
                             for f in rec["frames"]]
    decoded = dict(rec, frames=np.stack([cv2.cvtColor(cv2.imdecode(
        np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        for b in enc["frames_encoded"]]))
    p = pipe([rec], crop=crop)
    a = p.sample(decoded, 1, np.random.default_rng(3))
    b = p.sample(enc, 1, np.random.default_rng(3))
    for key in ("image", "target", "weight", "joints", "crop"):
        np.testing.assert_array_equal(a[key], b[key])
    orig = p.sample(rec, 1, np.random.default_rng(3))
    grey = np.abs(orig["image"] - b["image"]) * 0.225 * 255  # about grey levels
    assert grey.max() < 1e-3 if fmt == ".png" else grey.mean() < 4.0
    rec_sized = dict(enc, image_size=(96, 128))  # prepared records carry the frame size
    np.testing.assert_array_equal(p.sample(rec_sized, 0)["crop"], p.sample(rec, 0)["crop"])


# ---- tf.data ---------------------------------------------------------------------------
def test_dataset_batches():
    recs = [make_record(T=6, seed=i) for i in range(3)]
    p = pipe(recs, clip_len=3, crop="box")
    ds = p.dataset(2, seed=7)
    batches = list(ds.take(2))
    img, tgt, w = (x.numpy() for x in batches[0])
    assert img.shape == (2, 3, S, S, 3) and tgt.shape == (2, 3, S // 4, S // 4, K)
    assert w.shape == (2, 3, K)
    assert not np.array_equal(batches[0][0].numpy(), batches[1][0].numpy())
    again = next(iter(p.dataset(2, seed=7)))
    np.testing.assert_array_equal(again[0].numpy(), img)                 # seeded
    one = pipe(recs, clip_len=1).dataset(4, seed=0, squeeze_time=True)   # stage-1 frames
    img, tgt, w = next(iter(one))
    assert img.shape == (4, S, S, 3) and tgt.shape == (4, S // 4, S // 4, K) and w.shape == (4, K)
