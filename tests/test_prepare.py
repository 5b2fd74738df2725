"""prepare CLI: summary, TFRecord round trip, errors leave the output folder untouched,
--check writes nothing, resume keeps finished shards, the synthetic set prepares as Penn."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil

import cv2
import numpy as np
import pytest

import fixtures_datasets as fx
from dkd_tf.data import penn_action, prepare, tfrecords
from dkd_tf.errors import run_cli

TRAIN_SHARDS = ["train-00000-of-00003.tfrecord", "train-00001-of-00003.tfrecord",
                "train-00002-of-00003.tfrecord"]
SHARDS = TRAIN_SHARDS + ["test-00000-of-00001.tfrecord"]


def run(capsys, *argv):
    rc = run_cli(prepare.main, [*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot(folder):
    """{relative path: (sha1, mtime_ns)} of every file, hidden ones included."""
    snap = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                snap[os.path.relpath(p, folder)] = (hashlib.sha1(fh.read()).hexdigest(),
                                                    os.stat(p).st_mtime_ns)
    return snap


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A Penn fixture tree and its prepared folder (shards of at most 8 frames)."""
    base = tmp_path_factory.mktemp("prep")
    root, out = str(base / "penn"), str(base / "out")
    exp = fx.make_penn_tree(root)
    rc = run_cli(prepare.main, ["penn", "--root", root, "--out", out, "--shard-frames", "8",
                                "--no-progress"])
    assert rc == 0
    return root, out, exp


def copies(prepared, tmp_path):
    """Fresh copies (mtimes kept) of the source tree and the prepared folder + a user file."""
    root, out, exp = prepared
    r, o = str(tmp_path / "penn"), str(tmp_path / "out")
    shutil.copytree(root, r)
    shutil.copytree(out, o)
    with open(os.path.join(o, "keep.txt"), "w") as f:
        f.write("user notes")
    return r, o, exp


def test_summary_and_shards(prepared):
    root, out, _ = prepared
    assert sorted(f for f in os.listdir(out) if f.endswith(".tfrecord")) == sorted(SHARDS)
    s = tfrecords.read_summary(out)
    assert (s["train"]["videos"], s["train"]["frames"], s["train"]["shards"]) == (3, 15, 3)
    assert (s["test"]["videos"], s["test"]["frames"], s["test"]["shards"]) == (1, 3, 1)
    assert s["train"]["skipped"] == [] and s["test"]["skipped"] == [] and s["test"]["repairs"] == []
    bad = os.path.join(root, "labels", "0004.mat")
    assert [r["file"] for r in s["train"]["repairs"]] == [bad] * 3
    assert s["train"]["repairs"][0]["what"].startswith("nframes is 5 but x/y/visibility have 6")
    assert not glob.glob(os.path.join(out, ".partial-*"))


def test_round_trip_matches_source(prepared):
    root, out, exp = prepared
    vids = list(tfrecords.read_videos(out, "train"))
    assert [v["name"] for v in vids] == ["0001", "0002", "0004"]
    for v in vids:
        src = penn_action.read_label(os.path.join(root, "labels", v["name"] + ".mat"),
                                     os.path.join(root, "frames"))
        assert v["frames"].dtype == np.uint8 and v["frames"].shape == (exp[v["name"]]["T"], fx.H,
                                                                       fx.W, 3)
        for t, p in enumerate(src["frame_paths"]):
            np.testing.assert_array_equal(v["frames"][t],
                                          cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB))
        np.testing.assert_array_equal(v["joints"], exp[v["name"]]["joints"].astype(np.float32))
        np.testing.assert_array_equal(v["visible"], exp[v["name"]]["visible"])
        np.testing.assert_array_equal(v["bbox"], src["bbox"])
        assert (v["action"], v["split"], v["image_size"]) == (src["action"], "train", (fx.H, fx.W))
    # frames are the files' bytes, not re-encoded
    (t0,) = tfrecords.read_videos(out, "test", decode_frames=False)
    with open(exp["0003"]["frame_paths"][1], "rb") as f:
        assert t0["frames_encoded"][1] == f.read()
    # the tf.data path gives the same numbers
    for d, v in zip(tfrecords.video_dataset(out, "train"), vids):
        assert d["name"].numpy().decode() == v["name"]
        np.testing.assert_array_equal(d["frames"].numpy(), v["frames"])
        np.testing.assert_array_equal(d["joints"].numpy(), v["joints"])
        np.testing.assert_array_equal(d["visible"].numpy(), v["visible"])
        np.testing.assert_array_equal(d["bbox"].numpy(), v["bbox"])


def test_check_writes_nothing(prepared, tmp_path, capsys):
    root, out, _ = prepared
    rc, stdout, err = run(capsys, "penn", "--root", root, "--check")
    assert rc == 0 and err == ""
    assert "penn train: 3 videos, 15 frames, 3 repairs, 0 skipped" in stdout
    assert "penn test: 1 videos, 3 frames, 0 repairs, 0 skipped" in stdout
    assert stdout.count("repaired ") == 3 and "nothing written" in stdout
    o = str(tmp_path / "new")
    rc, _, _ = run(capsys, "penn", "--root", root, "--out", o, "--check")
    assert rc == 0 and not os.path.exists(o)
    before = snapshot(out)
    fx.write_penn_video(root, "0009", 2, 9)  # a change that a real run would write
    try:
        rc, _, _ = run(capsys, "penn", "--root", root, "--out", out, "--check")
    finally:
        os.remove(os.path.join(root, "labels", "0009.mat"))
        shutil.rmtree(os.path.join(root, "frames", "0009"))
    assert rc == 0 and snapshot(out) == before


def _drop_field(root, name, field):
    from scipy.io import loadmat

    path = os.path.join(root, "labels", f"{name}.mat")
    m = {k: v for k, v in loadmat(path).items() if not k.startswith("__") and k != field}
    fx.write_mat(path, m)
    return path


def _set_field(root, name, **kw):
    from scipy.io import loadmat

    path = os.path.join(root, "labels", f"{name}.mat")
    m = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    m.update(kw)
    fx.write_mat(path, m)
    return path


def _frame(root, name, t):
    return os.path.join(root, "frames", name, f"{t:06d}.jpg")


def _garbage(root):
    p = _frame(root, "0003", 2)
    with open(p, "wb") as f:
        f.write(b"\xff\xd8\xff" + b"garbage" * 50 + b"\xff\xd9")
    return p, "unreadable JPEG (does not decode)"


def _truncated(root):
    p = _frame(root, "0002", 3)
    with open(p, "rb") as f:
        data = f.read()
    with open(p, "wb") as f:
        f.write(data[: len(data) // 2])
    return p, "truncated"


def _not_jpeg(root):
    p = _frame(root, "0001", 1)
    with open(p, "wb") as f:
        f.write(b"GIF89a" + bytes(100))
    return p, "not a JPEG or PNG"


def _gap(root):
    os.remove(_frame(root, "0002", 2))
    shutil.copy(_frame(root, "0002", 1), _frame(root, "0002", 6))  # count still 5
    return _frame(root, "0002", 2), "frame file missing"


def _fewer(root):
    os.remove(_frame(root, "0002", 5))
    return os.path.join(root, "labels", "0002.mat"), "the labels have 5 frames but"


def _other_size(root):
    p = _frame(root, "0001", 3)
    cv2.imwrite(p, np.zeros((20, 30, 3), np.uint8))
    return p, "frame is a 20x30 JPEG but frame 1 of video 0001 is a 48x64 JPEG"


def _nan(root):
    y = fx.penn_fields(*fx.penn_joints(4, 11), np.zeros((4, 4)))["y"]
    y[2, 1] = np.nan
    return _set_field(root, "0001", y=y), "non-finite coordinate"


BAD = {
    "missing_field": lambda r: (_drop_field(r, "0002", "bbox"), "field 'bbox' is missing"),
    "wrong_shape": lambda r: (_set_field(r, "0003", x=np.zeros((3, 12))),
                              "field 'x' should be rows x 13"),
    "nan_visible": _nan,
    "fewer_frames": _fewer,
    "missing_frame": _gap,
    "garbage_jpeg": _garbage,
    "truncated_jpeg": _truncated,
    "not_an_image": _not_jpeg,
    "frame_size": _other_size,
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_exit_2_output_intact(prepared, tmp_path, capsys, case):
    root, out, _ = copies(prepared, tmp_path)
    before = snapshot(out)
    path, words = BAD[case](root)
    rc, stdout, err = run(capsys, "penn", "--root", root, "--out", out, "--shard-frames", "8")
    assert rc == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and words in lines[0]
    assert snapshot(out) == before  # no partial shard, nothing rewritten or removed
    rc2, _, err2 = run(capsys, "penn", "--root", root, "--check")
    assert rc2 == 2 and err2 == err


def test_not_a_root_and_argument_errors(tmp_path, capsys):
    o = str(tmp_path / "o")
    (tmp_path / "empty").mkdir()
    rc, _, err = run(capsys, "penn", "--root", str(tmp_path / "empty"), "--out", o)
    assert rc == 2 and err == f"error: {tmp_path / 'empty'}: not a Penn Action root " \
                              "(expected frames/ and labels/ folders)\n"
    rc, _, err = run(capsys, "penn", "--root", str(tmp_path / "empty"), "--out", o,
                     "--split", "2")
    assert rc == 2 and err.startswith("error: --split applies to jhmdb only")
    rc, _, err = run(capsys, "penn", "--root", str(tmp_path))
    assert rc == 2 and err.startswith("error: --out is required")
    assert not os.path.exists(o)


def test_resume_keeps_finished_shards(prepared, tmp_path, capsys):
    root, out, _ = copies(prepared, tmp_path)
    before = snapshot(out)
    os.remove(os.path.join(out, TRAIN_SHARDS[1]))  # as if killed while writing it
    dead = os.path.join(out, ".partial-999999999-" + TRAIN_SHARDS[1])
    with open(dead, "wb") as f:
        f.write(b"half a shard")
    rc, stdout, _ = run(capsys, "penn", "--root", root, "--out", out, "--shard-frames", "8")
    assert rc == 0 and "wrote 1 shard(s) (5 frames), kept 3" in stdout
    after = snapshot(out)
    assert not os.path.exists(dead)
    for f in SHARDS:
        if f != TRAIN_SHARDS[1]:
            assert after[f] == before[f]  # same bytes, same mtime: not rewritten
    assert after[TRAIN_SHARDS[1]][0] == before[TRAIN_SHARDS[1]][0]  # deterministic content
    with open(os.path.join(prepared[1], "summary.json")) as f:
        want = f.read().replace(prepared[0], root)  # repairs name the files of this root
    assert tfrecords.read_summary(out) == json.loads(want)
    # a changed frame file rewrites only its video's shard
    cv2.imwrite(_frame(root, "0003", 1), np.full((fx.H, fx.W, 3), 77, np.uint8))
    rc, stdout, _ = run(capsys, "penn", "--root", root, "--out", out, "--shard-frames", "8")
    assert rc == 0 and "wrote 1 shard(s) (3 frames), kept 3" in stdout
    again = snapshot(out)
    assert all(again[f] == after[f] for f in TRAIN_SHARDS)
    assert again["test-00000-of-00001.tfrecord"] != after["test-00000-of-00001.tfrecord"]
    (v,) = tfrecords.read_videos(out, "test")
    assert (v["frames"][0] == 77).mean() > 0.99
    # a new plan (bigger shards) replaces the old shards once complete
    rc, stdout, _ = run(capsys, "penn", "--root", root, "--out", out)
    assert rc == 0 and "wrote 1 shard(s) (15 frames), kept 1, removed 3 stale" in stdout
    assert sorted(f for f in os.listdir(out) if f.endswith(".tfrecord")) == \
        ["test-00000-of-00001.tfrecord", "train-00000-of-00001.tfrecord"]
    assert [v["name"] for v in tfrecords.read_videos(out, "train")] == ["0001", "0002", "0004"]


def test_interrupted_write_leaves_no_partial_and_resumes(prepared, tmp_path, capsys,
                                                         monkeypatch):
    root, _, _ = prepared
    out = str(tmp_path / "out")
    real, calls = prepare.encode_video, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(prepare, "encode_video", interrupted)
    rc, _, err = run(capsys, "penn", "--root", root, "--out", out, "--shard-frames", "8")
    assert rc == 130 and err == "error: interrupted\n"
    # shard 1 (video 0001) was complete; the second video's shard was never renamed
    assert sorted(os.listdir(out)) == [".prepare-state.json", TRAIN_SHARDS[0]]
    first = snapshot(out)[TRAIN_SHARDS[0]]
    monkeypatch.setattr(prepare, "encode_video", real)
    rc, stdout, _ = run(capsys, "penn", "--root", root, "--out", out, "--shard-frames", "8")
    assert rc == 0 and "wrote 3 shard(s) (14 frames), kept 1" in stdout
    assert snapshot(out)[TRAIN_SHARDS[0]] == first
    assert tfrecords.read_summary(out) == tfrecords.read_summary(prepared[1])


def test_skipped_video_and_empty_side(tmp_path, capsys):
    root, out = str(tmp_path / "penn"), str(tmp_path / "out")
    fx.write_penn_video(root, "0001", 4, 11)
    empty = fx.penn_fields(np.zeros((0, 13, 2)), np.zeros((0, 13), bool), np.zeros((0, 4)),
                           train=False)
    fx.write_mat(os.path.join(root, "labels", "0002.mat"), empty)
    rc, stdout, _ = run(capsys, "penn", "--root", root, "--out", out)
    assert rc == 0
    s = tfrecords.read_summary(out)
    assert s["train"] == {"videos": 1, "frames": 4, "shards": 1, "repairs": [], "skipped": []}
    assert s["test"] == {"videos": 0, "frames": 0, "shards": 0, "repairs": [],
                         "skipped": [{"video": "0002", "reason": "no annotated frames"}]}
    assert list(tfrecords.read_videos(out, "test")) == []
    assert "skipped 0002: no annotated frames" in stdout


def test_jhmdb_prepare_and_round_trip(tmp_path, capsys):
    root, out = str(tmp_path / "jhmdb"), str(tmp_path / "out")
    exp = fx.make_jhmdb_tree(root)
    rc, stdout, _ = run(capsys, "jhmdb", "--root", root, "--out", out, "--split", "1")
    assert rc == 0
    s = tfrecords.read_summary(out)
    assert (s["train"]["videos"], s["train"]["frames"]) == (2, 9)
    assert (s["test"]["videos"], s["test"]["frames"]) == (1, 3)
    (v,) = tfrecords.read_videos(out, "test")
    e = exp["catch/clipB"]
    assert v["name"] == "catch/clipB" and v["image_size"] == (fx.H, fx.W)
    np.testing.assert_allclose(v["joints"], e["joints"], atol=1e-5)
    assert v["visible"].all() and v["dataset"] == "jhmdb"
    for t, p in enumerate(e["frame_paths"]):
        np.testing.assert_array_equal(v["frames"][t], fx.frame_image(202 * 1000 + t))  # PNG
    (d,) = list(tfrecords.video_dataset(out, "test"))
    np.testing.assert_array_equal(d["frames"].numpy(), v["frames"])
    # a split listing no clips: one line, exit 2, the prepared folder untouched
    before = snapshot(out)
    p = fx.write_split(root, "walk", 1, [])
    rc, _, err = run(capsys, "jhmdb", "--root", root, "--out", out)
    assert rc == 2 and err == f"error: {p}: the split lists no clips\n"
    assert snapshot(out) == before


def test_synthetic_set_prepares_as_penn(tmp_path, capsys):
    from dkd_tf.data import synthetic

    root, out = str(tmp_path / "syn"), str(tmp_path / "out")
    assert synthetic.main(["--out", root, "--videos", "3", "--frames", "5", "--size", "64"]) == 0
    rc, _, _ = run(capsys, "penn", "--root", root, "--out", out)
    assert rc == 0
    s = tfrecords.read_summary(out)
    assert (s["train"]["videos"], s["train"]["frames"], s["train"]["repairs"]) == (2, 10, [])
    assert (s["test"]["videos"], s["test"]["frames"], s["test"]["repairs"]) == (1, 5, [])
    gen = synthetic.SyntheticVideos(64, 5, 0)
    vids = list(tfrecords.read_videos(out, "train")) + list(tfrecords.read_videos(out, "test"))
    assert [v["name"] for v in vids] == ["0001", "0002", "0003"]
    for i, v in enumerate(vids):
        g = gen.video(i)
        assert v["frames"].shape == (5, 64, 64, 3) and v["action"] == g["action"]
        np.testing.assert_allclose(v["joints"], g["joints"], atol=1e-4)
        np.testing.assert_array_equal(v["visible"], g["visible"])
        np.testing.assert_allclose(v["bbox"], g["bbox"], atol=1e-4)
        for t in range(5):  # the JPEG files' pixels, exactly
            p = os.path.join(root, "frames", v["name"], f"{t + 1:06d}.jpg")
            np.testing.assert_array_equal(v["frames"][t],
                                          cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB))
