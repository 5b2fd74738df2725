"""The embedded synthetic data set (dkd_tf/data/synthetic.py) and its Penn Action writer CLI."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from dkd_tf.data import figure
from dkd_tf.data.synthetic import SyntheticVideos, main
from dkd_tf.errors import run_cli

S, T = 64, 6


@pytest.fixture(scope="module")
def videos():
    gen = SyntheticVideos(size=S, num_frames=T, seed=3)
    return [gen.video(i) for i in range(30)]


# ---- the generator -------------------------------------------------------------------------
def test_video_shapes_and_types(videos):
    v = videos[0]
    assert v["frames"].shape == (T, S, S, 3) and v["frames"].dtype == np.uint8
    assert v["joints"].shape == (T, 13, 2) and v["joints"].dtype == np.float32
    assert v["visible"].shape == (T, 13) and v["visible"].dtype == np.bool_
    assert v["bbox"].shape == (T, 4)
    assert v["action"] in figure.ACTIONS
    assert v["view"] in ("front", "side", "back")
    assert v["index"] == 0
    for v in videos:
        b = v["bbox"]
        assert np.all(np.isfinite(b))
        assert np.all(b[:, 0] <= b[:, 2]) and np.all(b[:, 1] <= b[:, 3])
        assert np.all(b >= 0) and np.all(b <= S - 1)
        assert np.all(np.isfinite(v["joints"]))
        assert v["frames"].std() > 10  # an image, not a blank canvas


def test_deterministic_for_seed_and_index():
    a = SyntheticVideos(size=S, num_frames=T, seed=3).video(5)
    b = SyntheticVideos(size=S, num_frames=T, seed=3).video(5)
    for key in ("frames", "joints", "visible", "bbox"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a["action"] == b["action"] and a["view"] == b["view"]
    c = SyntheticVideos(size=S, num_frames=T, seed=4).video(5)
    assert np.abs(a["frames"].astype(int) - c["frames"].astype(int)).mean() > 5
    assert not np.allclose(a["joints"], c["joints"])
    d = SyntheticVideos(size=S, num_frames=T, seed=3).video(6)
    assert not np.array_equal(a["frames"], d["frames"])


def test_joints_move_smoothly(videos):
    steps = np.stack([np.linalg.norm(np.diff(v["joints"], axis=0), axis=-1) for v in videos])
    per_video = steps.mean(axis=(1, 2))      # mean joint displacement per frame
    assert per_video.max() < 0.1 * S
    assert steps.mean() < 0.04 * S
    assert steps.max() < 0.25 * S            # no teleporting joint
    assert np.all(per_video > 0.05)          # no video is frozen
    assert (per_video > 0.01 * S).sum() >= 10  # and most really move


def test_visible_joints_inside_frame_and_box(videos):
    for v in videos:
        j, vis, b = v["joints"], v["visible"], v["bbox"]
        inside = np.all((j >= 0) & (j <= S - 1), axis=-1)
        assert np.all(inside[vis])           # visible implies in frame
        t, k = np.nonzero(vis)
        assert np.all(j[t, k, 0] >= b[t, 0]) and np.all(j[t, k, 0] <= b[t, 2])
        assert np.all(j[t, k, 1] >= b[t, 1]) and np.all(j[t, k, 1] <= b[t, 3])


def test_occlusion_and_variety(videos):
    vis = np.stack([v["visible"] for v in videos])
    joints = np.stack([v["joints"] for v in videos])
    inside = np.all((joints >= 0) & (joints <= S - 1), axis=-1)
    occluded = inside & ~vis                 # in frame but hidden: occluders exist
    assert occluded.sum() > 10
    assert sum(occluded[i].any() for i in range(len(videos))) >= 3
    assert vis.mean() > 0.6                  # but most joints are visible
    actions = {v["action"] for v in videos}
    assert len(actions) >= 4
    assert actions <= set(figure.ACTIONS)


def test_difficulty_does_not_depend_on_the_frame_index():
    """The camera follows the person: over 40 frames the person's distance from the image
    centre and the share of joints inside the frame stay put (they grew / fell with the
    frame index before: offset 0.12 -> 0.19 of the image, frames 0-15 vs 24-39)."""
    gen = SyntheticVideos(size=S, num_frames=40, seed=0)
    off, ins = [], []
    for i in range(24):
        j = gen.video(i)["joints"]
        off.append(np.linalg.norm(j.mean(1) - (S - 1) / 2, axis=-1) / S)
        ins.append(np.all((j >= 0) & (j <= S - 1), axis=-1).mean(-1))
    off, ins = np.array(off), np.array(ins)
    assert 0.85 < off[:, 24:].mean() / off[:, :16].mean() < 1.15
    assert abs(ins[:, 24:].mean() - ins[:, :16].mean()) < 0.02


def test_the_crosser_walks_past_the_person_from_its_own_random_stream(monkeypatch):
    """With a crosser in every video (CROSSING_SHARE 1) against none (0): the labelled
    person's joints and box are the same to the bit (the crosser draws from its own stream),
    a crosser only ever hides joints (in front) and never reveals any, it is drawn over the
    person's box in most videos (it walks past them), and in front it hides some joints."""
    from dkd_tf.data import synthetic

    def make(share):
        monkeypatch.setattr(synthetic, "CROSSING_SHARE", share)
        gen = SyntheticVideos(size=S, num_frames=24, seed=2)
        return [gen.video(i) for i in range(12)]

    without, every = make(0.0), make(1.0)
    over_person = hidden = 0
    for a, b in zip(without, every):
        np.testing.assert_array_equal(a["joints"], b["joints"])
        np.testing.assert_array_equal(a["bbox"], b["bbox"])
        assert not np.any(b["visible"] & ~a["visible"])
        hidden += int(np.sum(a["visible"] & ~b["visible"]))
        diff = np.abs(a["frames"].astype(int) - b["frames"].astype(int)).max(-1) > 30
        for t in range(diff.shape[0]):
            x1, y1, x2, y2 = np.round(a["bbox"][t]).astype(int)
            if diff[t, y1:y2 + 1, x1:x2 + 1].mean() > 0.05:
                over_person += 1
                break
    assert over_person >= 6, over_person
    assert hidden > 5, hidden


def test_figure_travel_is_the_pelvis_path_without_the_bob():
    """One action cycle apart the bob repeats, so the pelvis moves by exactly the travel."""
    rng = np.random.default_rng(0)
    for action in ("walk", "jump", "wave"):
        fig = figure.Figure.random(rng, action)
        cycle = 1.0 / fig.freq
        for t in (0.0, 7.5):
            a, _ = fig.project(t, np.zeros(2), 1.0)
            b, _ = fig.project(t + cycle, np.zeros(2), 1.0)
            moved = b[7:9].mean(0) - a[7:9].mean(0)  # hips' midpoint
            np.testing.assert_allclose(moved, fig.travel(t + cycle) - fig.travel(t), atol=1e-9)
        if action == "walk" and abs(np.sin(fig.yaw)) > 0.3:
            assert np.linalg.norm(fig.travel(30.0)) > 0.1


def test_arrays_stacks_videos():
    gen = SyntheticVideos(size=S, num_frames=3, seed=1)
    arr = gen.arrays([0, 2])
    assert arr["frames"].shape == (2, 3, S, S, 3)
    assert arr["joints"].shape == (2, 3, 13, 2)
    np.testing.assert_array_equal(arr["joints"][1], gen.video(2)["joints"])


# ---- the Penn Action writer (CLI) ---------------------------------------------------------------
ARGS = ["--videos", "3", "--frames", "4", "--size", "64", "--seed", "0"]


def _write(out) -> int:
    return run_cli(main, ["--out", str(out)] + ARGS)


def test_cli_writes_penn_layout(tmp_path):
    import cv2
    from scipy.io import loadmat

    out = tmp_path / "syn"
    assert _write(out) == 0
    assert sorted(os.listdir(out)) == ["frames", "labels", "preview.png"]
    assert sorted(os.listdir(out / "labels")) == ["0001.mat", "0002.mat", "0003.mat"]
    assert sorted(os.listdir(out / "frames")) == ["0001", "0002", "0003"]
    for name in ("0001", "0002", "0003"):
        assert sorted(os.listdir(out / "frames" / name)) == [f"{t:06d}.jpg" for t in range(1, 5)]
    assert (out / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in os.listdir(tmp_path) if "partial" in p]

    gen = SyntheticVideos(size=64, num_frames=4, seed=0)
    trains = []
    for i in range(3):
        m = loadmat(out / "labels" / f"{i + 1:04d}.mat")
        v = gen.video(i)
        assert str(m["action"][0]) == v["action"]
        assert str(m["pose"][0]) == v["view"]
        assert m["x"].shape == (4, 13) and m["y"].shape == (4, 13)
        np.testing.assert_allclose(m["x"], v["joints"][..., 0] + 1.0, atol=1e-5)  # 1-based
        np.testing.assert_allclose(m["y"], v["joints"][..., 1] + 1.0, atol=1e-5)
        assert m["visibility"].shape == (4, 13)
        np.testing.assert_array_equal(m["visibility"], v["visible"].astype(float))
        assert m["bbox"].shape == (4, 4)
        np.testing.assert_allclose(m["bbox"], v["bbox"] + 1.0, atol=1e-5)
        np.testing.assert_array_equal(np.ravel(m["dimensions"]), [64, 64, 4])
        assert int(np.ravel(m["nframes"])[0]) == 4
        trains.append(int(np.ravel(m["train"])[0]))
        # the frames on disk are the video's frames (JPEG: close, not equal)
        img = cv2.imread(str(out / "frames" / f"{i + 1:04d}" / "000002.jpg"))[..., ::-1]
        assert img.shape == (64, 64, 3)
        assert np.abs(img.astype(int) - v["frames"][1].astype(int)).mean() < 12
    # round(3 * 0.2) = 1 test video, taken from the end
    assert trains == [1, 1, -1]


def test_cli_test_fraction(tmp_path):
    from scipy.io import loadmat

    out = tmp_path / "syn"
    assert run_cli(main, ["--out", str(out), "--videos", "5", "--frames", "1", "--size", "32",
                          "--test-fraction", "0.5"]) == 0
    trains = [int(np.ravel(loadmat(out / "labels" / f"{i:04d}.mat")["train"])[0])
              for i in range(1, 6)]
    assert trains == [1, 1, 1, -1, -1]  # round(2.5) = 2 (round half to even)


def test_cli_is_byte_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _write(a) == 0
    time.sleep(1.1)  # scipy stamps the time into the .mat header: it must not leak through
    assert _write(b) == 0
    for name in ("0001.mat", "0002.mat", "0003.mat"):
        assert (a / "labels" / name).read_bytes() == (b / "labels" / name).read_bytes()
    assert (a / "frames" / "0002" / "000003.jpg").read_bytes() == \
        (b / "frames" / "0002" / "000003.jpg").read_bytes()


def _one_error_line(capsys):
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    return lines[0]


@pytest.mark.parametrize("args,needle", [
    (["--size", "100"], "--size"),
    (["--size", "0"], "--size"),
    (["--videos", "-1"], "--videos"),
    (["--frames", "0"], "--frames"),
    (["--test-fraction", "1.5"], "--test-fraction"),
])
def test_cli_bad_numbers(tmp_path, capsys, args, needle):
    out = tmp_path / "syn"
    argv = ["--out", str(out), "--videos", "2", "--frames", "2", "--size", "64"] + args
    assert run_cli(main, argv) == 2
    assert needle in _one_error_line(capsys)
    assert os.listdir(tmp_path) == []  # nothing was created


def test_cli_out_beneath_a_file(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    assert run_cli(main, ["--out", str(blocker / "syn")] + ARGS) == 2
    line = _one_error_line(capsys)
    assert "file.txt" in line
    assert os.listdir(tmp_path) == ["file.txt"]
    assert blocker.read_text() == "not a folder"


def test_cli_out_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "syn"
    blocker.write_text("x")
    assert run_cli(main, ["--out", str(blocker)] + ARGS) == 2
    assert "not a folder" in _one_error_line(capsys)
    assert os.listdir(tmp_path) == ["syn"] and blocker.read_text() == "x"


def test_failure_part_way_leaves_output_untouched(tmp_path, monkeypatch):
    out = tmp_path / "syn"
    (out / "labels").mkdir(parents=True)
    (out / "labels" / "old.mat").write_bytes(b"old labels")
    (out / "notes.txt").write_text("keep me")
    original = SyntheticVideos.video

    def flaky(self, index):
        if index == 1:
            raise RuntimeError("disk on fire")
        return original(self, index)

    monkeypatch.setattr(SyntheticVideos, "video", flaky)
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_cli(main, ["--out", str(out)] + ARGS)
    assert (out / "labels" / "old.mat").read_bytes() == b"old labels"
    assert sorted(os.listdir(out)) == ["labels", "notes.txt"]
    assert os.listdir(out / "labels") == ["old.mat"]
    assert sorted(os.listdir(tmp_path)) == ["syn"]  # no partial-* temp folder left behind


def test_success_replaces_previous_set(tmp_path):
    out = tmp_path / "syn"
    (out / "labels").mkdir(parents=True)
    (out / "labels" / "old.mat").write_bytes(b"old labels")
    (out / "notes.txt").write_text("keep me")
    assert _write(out) == 0
    assert sorted(os.listdir(out / "labels")) == ["0001.mat", "0002.mat", "0003.mat"]
    assert (out / "notes.txt").read_text() == "keep me"  # unrelated files stay
    assert sorted(os.listdir(tmp_path)) == ["syn"]
