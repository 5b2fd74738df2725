"""The video CLI: outputs (frame counts, JSON schema, CSV rows, a playable MP4), the exact
host loop, and bad inputs (one line, exit 2, partial outputs kept)."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dkd_tf.infer import main
from dkd_tf.runtime import PoseTracker
from fixtures_edge import (copy_assets, edge_assets, edge_export, edit_manifest,  # noqa: F401
                           read_video, synthetic_clip, write_video)

K = 13


@pytest.fixture(scope="module")
def clip_video(tmp_path_factory):
    """A 12-frame 80 x 64 mp4v video (non-square: the letterbox pads it)."""
    d = tmp_path_factory.mktemp("videos")
    frames = synthetic_clip(64, 12, index=3)["frames"]
    return write_video(str(d / "clip.mp4"), frames, fps=20.0, pad_to=(80, 64))


def _run(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _cli(argv):
    """main() through run_cli, as `python -m dkd_tf.infer` runs it."""
    from dkd_tf.errors import run_cli

    return run_cli(main, argv)


def _error_lines(err: str):
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_cli_writes_video_json_and_csv(edge_assets, clip_video, tmp_path, capsys):
    out, js, cs = tmp_path / "o.mp4", tmp_path / "o.json", tmp_path / "o.csv"
    rc, stdout, _ = _run(capsys, [clip_video, "--assets", edge_assets, "--out", str(out),
                                  "--json", str(js), "--csv", str(cs), "--reinit-every", "5",
                                  "--no-progress"])
    assert rc == 0 and "12 frames (3 initializer)" in stdout
    d = json.loads(js.read_text())
    assert d["video"] == clip_video and d["fps"] == pytest.approx(20.0)
    assert d["joints"][0] == "head" and len(d["joints"]) == K
    assert [f["index"] for f in d["frames"]] == list(range(12))
    assert [f["initializer"] for f in d["frames"]] == [i % 5 == 0 for i in range(12)]
    assert all(np.asarray(f["keypoints"]).shape == (K, 3) for f in d["frames"])
    assert d["complete"] is True and d["frames_written"] == 12
    rows = list(csv.DictReader(cs.open()))
    assert len(rows) == 12 * K and rows[0]["joint"] == "head" and rows[-1]["frame"] == "11"
    assert float(rows[K]["x"]) == pytest.approx(d["frames"][1]["keypoints"][0][0], abs=1e-3)
    frames = read_video(str(out))
    assert len(frames) == 12 and frames[0].shape == (64, 80, 3)


def test_cli_plain_loop_is_the_manifest_host_loop(edge_assets, clip_video, tmp_path, capsys):
    js = tmp_path / "o.json"
    rc, _, _ = _run(capsys, [clip_video, "--assets", edge_assets, "--roi", "full",
                             "--reinit-every", "0", "--smooth", "none", "--json", str(js),
                             "--no-progress"])
    assert rc == 0
    got = np.array([f["keypoints"] for f in json.loads(js.read_text())["frames"]])
    tr = PoseTracker(edge_assets)
    want = [tr.process(f) for f in read_video(clip_video)]
    np.testing.assert_allclose(got[..., :2], [p.keypoints for p in want], atol=2e-3)
    np.testing.assert_allclose(got[..., 2], [p.scores for p in want], atol=2e-4)
    # and the export library's reference loop gives the same keypoints
    from dkd_tf.edge.host_loop import HostLoop
    from dkd_tf.edge.manifest import load

    loop = HostLoop(load(edge_assets), edge_assets, "fp32")
    kp, _ = loop.video(np.stack([f[..., ::-1] for f in read_video(clip_video)]))
    np.testing.assert_allclose(got[..., :2], kp, atol=2e-3)


def test_cli_checks_arguments_before_heavy_imports(tmp_path):
    code = ("import sys\nfrom dkd_tf.errors import run_cli\nfrom dkd_tf.infer import main\n"
            f"rc = run_cli(main, [{str(tmp_path / 'missing.mp4')!r}, '--no-progress'])\n"
            "heavy = [m for m in ('cv2', 'dkd_tf.runtime', 'tensorflow', 'ai_edge_litert') "
            "if m in sys.modules]\nprint(rc, heavy)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "2 []", r.stderr
    assert r.stderr.strip() == f"error: {tmp_path / 'missing.mp4'}: no such file"


@pytest.mark.parametrize("case", ["missing", "empty", "text", "truncated_mp4", "folder"])
def test_bad_video_files(edge_assets, clip_video, tmp_path, capsys, case):
    path = tmp_path / f"{case}.mp4"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is not a video\n" * 20)
    elif case == "truncated_mp4":  # mp4v keeps its index at the end: a cut file cannot open
        data = open(clip_video, "rb").read()
        path.write_bytes(data[:len(data) // 2])
    elif case == "folder":
        path.mkdir()
    js = tmp_path / "o.json"
    rc = _cli([str(path), "--assets", edge_assets, "--json", str(js), "--no-progress"])
    err = capsys.readouterr().err
    lines = _error_lines(err)
    assert rc == 2 and len(lines) == 1 and str(path) in lines[0], err
    assert {"missing": "no such file", "empty": "empty file", "text": "not a readable video",
            "truncated_mp4": "not a readable video", "folder": "not a file"}[case] in lines[0]
    assert not js.exists()


def test_camera_that_cannot_open(edge_assets, capsys):
    rc = _cli(["--camera", "57", "--assets", edge_assets, "--no-progress"])
    lines = _error_lines(capsys.readouterr().err)
    assert rc == 2 and lines == ["error: camera 57: cannot open (no such device, or busy)"]


def test_stream_that_breaks_midway_keeps_outputs(edge_assets, tmp_path, capsys):
    """An AVI cut short: its header promises 30 frames, about half decode. The outputs up to
    the break are closed properly (playable MP4, valid JSON), with a warning and exit 2."""
    full = write_video(str(tmp_path / "full.avi"), synthetic_clip(64, 30, index=4)["frames"],
                       fourcc="MJPG")
    data = open(full, "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:int(len(data) * 0.55)])
    out, js, cs = tmp_path / "o.mp4", tmp_path / "o.json", tmp_path / "o.csv"
    rc = _cli([str(cut), "--assets", edge_assets, "--out", str(out), "--json", str(js),
               "--csv", str(cs), "--no-progress"])
    err = capsys.readouterr().err
    lines = _error_lines(err)
    assert rc == 2 and len(lines) == 1 and str(cut) in lines[0] and "of 30 frames" in lines[0]
    assert "warning:" in err and "outputs kept up to frame" in err
    d = json.loads(js.read_text())
    n = len(d["frames"])
    assert 5 < n < 30 and d["complete"] is False and d["frames_written"] == n
    assert len(read_video(str(out))) == n
    assert len(list(csv.DictReader(cs.open()))) == n * K
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary files


def test_bad_assets_are_one_line(edge_assets, clip_video, tmp_path, capsys):
    wrong = copy_assets(edge_assets, tmp_path / "wrong")
    edit_manifest(wrong, lambda m: m.update(format="dkd-tf/0"))
    sha = copy_assets(edge_assets, tmp_path / "sha")
    with open(os.path.join(sha, "frame_encoder_fp32.tflite"), "r+b") as f:
        f.seek(100)
        f.write(b"\x7f\x7f")
    cases = [(str(tmp_path / "none"), "no such assets folder"),
             (wrong, "manifest format 'dkd-tf/0' is not 'dkd-tf/1'"),
             (sha, "frame_encoder_fp32.tflite: sha256 mismatch")]
    for assets, msg in cases:
        rc = _cli([clip_video, "--assets", assets, "--no-progress"])
        lines = _error_lines(capsys.readouterr().err)
        assert rc == 2 and len(lines) == 1 and msg in lines[0], (assets, lines)
    rc = _cli([clip_video, "--assets", edge_assets, "--precision", "int8", "--no-progress"])
    assert rc == 2 and "no 'int8' models" in capsys.readouterr().err


def test_bad_arguments_are_one_line(edge_assets, clip_video, tmp_path, capsys):
    cases = [([clip_video, "--reinit-every", "-1"], "--reinit-every must be >= 0"),
             ([clip_video, "--out", str(tmp_path / "nodir" / "o.mp4")], "does not exist"),
             ([clip_video, "--json", str(tmp_path / "o.txt")], "must end in .json"),
             ([clip_video, "--out", clip_video], "would overwrite the input video"),
             ([clip_video, "--camera", "0"], "exactly one"),
             ([clip_video, "--threads", "0"], "--threads must be >= 1")]
    for argv, msg in cases:
        rc = _cli(argv + ["--assets", edge_assets, "--no-progress"])
        lines = _error_lines(capsys.readouterr().err)
        assert rc == 2 and len(lines) == 1 and msg in lines[0], (argv, lines)
