"""The runtime's person-finding input region (roi="person") and the real-footage proxy."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from dkd_tf.benchmark import real_footage
from dkd_tf.errors import UserError, run_cli
from dkd_tf.runtime import PoseTracker, crop_window
from fixtures_edge import edge_assets, edge_export, synthetic_clip, write_video  # noqa: F401


def _big_frames(n=4):
    frames = [np.ascontiguousarray(f[..., ::-1]) for f in synthetic_clip(64, n)["frames"]]
    return [np.pad(f, ((32, 32), (48, 16), (0, 0))) for f in frames]  # 128 x 128, off-centre


def test_person_mode_finds_the_person_then_follows(edge_assets):
    big = _big_frames()
    tr = PoseTracker(edge_assets, roi="person", roi_min_score=-np.inf, roi_margin=1.5)
    coarse = PoseTracker(edge_assets, roi="full", reinit_every=1)
    p0 = tr.process(big[0])
    # frame 0: one whole-frame pass of the initializer, then the initializer and the
    # encoder again inside the crop around what that pass found
    assert p0.initializer and tr.coarse_passes == 1
    assert tr.graphs["pose_initializer"].calls == 2 and tr.graphs["frame_encoder"].calls == 1
    want = tr._crop_around(coarse.process(big[0]).raw_keypoints, np.ones(13), big[0].shape)
    x0, y0, n = crop_window(want[:2], want[2])  # the integer window of the wanted crop
    x1, y1, x2, y2 = p0.roi
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((x0 + (n - 1) / 2, y0 + (n - 1) / 2))
    assert x2 - x1 == pytest.approx(n * 63 / 64, rel=1e-9)
    assert x2 - x1 < 127  # a crop, not the whole frame
    # tracked frames: no more whole-frame passes
    for f in big[1:]:
        assert not tr.process(f).initializer
    assert tr.coarse_passes == 1 and tr.graphs["pose_initializer"].calls == 2


def test_person_mode_refinds_after_a_low_score_and_falls_back_to_the_frame(edge_assets):
    big = _big_frames(3)
    tr = PoseTracker(edge_assets, roi="person", roi_min_score=-np.inf, reinit_score=np.inf)
    for f in big:
        assert tr.process(f).initializer
    assert tr.coarse_passes == 3  # every low score re-finds the person on the whole frame
    none = PoseTracker(edge_assets, roi="person", roi_min_score=np.inf)
    p = none.process(big[0])  # nothing confident: the whole frame, as roi="full"
    assert p.roi == pytest.approx((0.5, 0.5, 126.5, 126.5), abs=1e-6)


def test_crop_ignores_a_confident_joint_far_from_the_others(edge_assets):
    tr = PoseTracker(edge_assets, roi="person", roi_margin=2.0, roi_min_score=0.0)
    rng = np.random.default_rng(0)
    kp = np.array([200.0, 180.0]) + rng.uniform(-40, 40, (13, 2))
    kp[0] = [520.0, 20.0]  # a "head" on a pole far away
    cx, cy, side = tr._crop_around(kp, np.ones(13), (480, 640, 3))
    rest = kp[1:]
    assert side == pytest.approx(2.0 * np.ptp(rest, axis=0).max())
    assert (cx, cy) == pytest.approx(tuple((rest.min(0) + rest.max(0)) / 2))


def test_shipped_assets_carry_the_region_rule():
    """android_demo_assets: the manifest's "region" is the policy and rule every client runs
    (dkd_tf/region_policy.py), and its README is rendered from that manifest."""
    from dkd_tf.edge.readme import render_readme
    from dkd_tf.region_policy import REGION_POLICY, REGION_RULE

    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "android_demo_assets")
    with open(os.path.join(folder, "manifest.json")) as f:
        man = json.load(f)
    assert man["region"] == dict(REGION_POLICY, rule=REGION_RULE)
    with open(os.path.join(folder, "README.md"), encoding="utf-8") as f:
        assert f.read() == render_readme(man)


# ---- the real-footage proxy ------------------------------------------------------------
def test_pck_against_reference_labels_by_hand():
    ref = np.zeros((1, 3, 2))
    ref[0, :, 0] = [0, 20, 10]                 # visible box side 20 -> threshold 4 px
    vis = np.array([[True, True, False]])
    pred = ref + np.array([[[3.9, 0], [4.1, 0], [0, 0]]])
    hits, counted = real_footage.pck(pred, ref, vis)
    assert hits.tolist() == [[True, False, False]] and counted.sum() == 2


def _labels(tmp_path, clip):
    T = len(clip["frames"])
    write_video(str(tmp_path / "clip.avi"), clip["frames"], fourcc="MJPG")
    lab = {"clips": [{"name": "c", "video": "clip.avi", "start": 1, "frames": T - 1,
                      "window": [0, 0, 64], "keypoints": clip["joints"][1:].tolist(),
                      "visible": clip["visible"][1:].astype(int).tolist()}]}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(lab))
    return str(path), lab


def test_real_footage_command_scores_the_tracker(edge_export, tmp_path):
    assets, _ = edge_export
    clip = synthetic_clip(64, 6)
    labels, lab = _labels(tmp_path, clip)
    out = tmp_path / "rf.json"
    assert real_footage.main(["--assets", assets, "--labels", labels, "--video-dir",
                              str(tmp_path), "--json", str(out), "--roi", "full",
                              "--reinit-every", "0", "--smooth", "none"]) == 0
    res = json.loads(out.read_text())
    assert res["joints_counted"] == int(clip["visible"][1:].sum())
    assert 0.0 <= res["pck"] <= 1.0 and set(res["pck_per_joint"]) >= {"head", "left_ankle"}
    assert res["options"]["roi"] == "full" and res["clips"][0]["initializer_frames"] == 1
    # the same tracker by hand on the same frames (clip frames 1..5 as decoded) agrees
    from fixtures_edge import read_video

    frames = read_video(str(tmp_path / "clip.avi"))[1:]
    tr = PoseTracker(assets, reinit_every=0)
    pred = np.stack([tr.process(f).keypoints for f in frames])
    hits, counted = real_footage.pck(pred, np.asarray(lab["clips"][0]["keypoints"]),
                                     clip["visible"][1:])
    assert res["pck"] == pytest.approx(hits.sum() / counted.sum())


def test_real_footage_bad_inputs_are_one_line(edge_assets, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"clips": [{"video": "v.avi", "start": 0, "frames": 2,
                                          "window": [0, 0, 8], "keypoints": [[[0, 0]] * 13],
                                          "visible": [[1] * 13] * 2}]}))
    with pytest.raises(UserError, match="keypoints"):
        real_footage.load_labels(str(bad))
    assert run_cli(real_footage.main, ["--labels", str(tmp_path / "none.json")]) == 2
    assert "none.json: no such labels file" in capsys.readouterr().err
    clip = synthetic_clip(64, 3)
    labels, _ = _labels(tmp_path, clip)
    os.remove(tmp_path / "clip.avi")
    assert run_cli(real_footage.main, ["--assets", edge_assets, "--labels", labels,
                                       "--video-dir", str(tmp_path)]) == 2
    assert "clip.avi: no such video" in capsys.readouterr().err
