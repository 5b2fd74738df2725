"""ONNX graphs and the onnxruntime backend: parity with LiteRT on the committed trained
export (golden and synthetic clips), the converter on the small exported model (manifest
round trip, a failed conversion changes nothing), the CLIs' --backend, and bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

from dkd_tf.errors import UserError, run_cli  # noqa: E402
from dkd_tf.runtime import GRAPHS, PoseTracker, load_manifest  # noqa: E402
from fixtures_edge import (copy_assets, edge_assets, edge_export, edit_manifest,  # noqa: E402,F401
                           synthetic_clip, write_video)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "android_demo_assets")
# fp16 ONNX (float16 weights and activations) against LiteRT fp32 on the demo export,
# measured: heatmaps 1.44e-3 (golden) / 9.3e-4 (synthetic) of a range of 1.2; keypoints
# 0.18 px (golden; one joint on a flat map) / 0.019 px (synthetic). Limits with headroom:
FP16_HEATMAPS = 5e-3
FP16_KEYPOINTS_PX = 0.5


# ---- parity on the committed, trained export ------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(folder, manifest, LiteRT fp32 tracker, parity clips) of the trained demo export with
    its ONNX graphs (converted into a copy when a re-export dropped them)."""
    from dkd_tf.edge.onnx_export import add_onnx, parity_clips

    folder = DEMO
    if "onnx" not in load_manifest(DEMO):
        pytest.importorskip("tf2onnx")
        folder = copy_assets(DEMO, tmp_path_factory.mktemp("demo") / "assets")
        add_onnx(folder)
    m = load_manifest(folder)
    return folder, m, PoseTracker(folder, "fp32", num_threads=2), parity_clips(m, folder)


def test_fp32_onnx_matches_litert_on_golden_and_synthetic_clips(demo):
    from dkd_tf.edge.onnx_export import loop_parity

    folder, m, ref, clips = demo
    assert set(clips) == {"golden", "synthetic"} and len(clips["golden"]) == 12
    got = PoseTracker(folder, "fp32", num_threads=2, backend="onnxruntime", providers=["cpu"])
    assert got.describe().endswith("on CPUExecutionProvider")
    for name, frames in clips.items():
        r = loop_parity(ref, got, frames)
        assert r["heatmaps_max_abs_diff"] < 1e-4, (name, r)
        assert r["keypoints_max_px"] < 0.01, (name, r)
        assert max(r["graphs"].values()) < 1e-4 and r["heatmaps_range"] > 0.5, (name, r)
    # the golden clip's expected keypoints (LiteRT fp32 at export) through onnxruntime
    with open(os.path.join(folder, "golden", "expected.json")) as f:
        exp = json.load(f)
    kp, sc = got.video(clips["golden"])
    want = np.array([fr["keypoints"] for fr in exp["frames"]])
    np.testing.assert_allclose(kp, want[..., :2], atol=1e-3)
    np.testing.assert_allclose(sc, want[..., 2], atol=1e-4)


def test_fp16_onnx_within_the_measured_tolerance(demo):
    from dkd_tf.edge.onnx_export import loop_parity

    folder, m, ref, clips = demo
    assert "fp16" in m["onnx"]
    got = PoseTracker(folder, "fp16", num_threads=2, backend="onnxruntime", providers=["cpu"])
    for name, frames in clips.items():
        r = loop_parity(ref, got, frames)
        print(name, r)
        assert 1e-5 < r["heatmaps_max_abs_diff"] < FP16_HEATMAPS, (name, r)  # really fp16
        # (the demo model's golden clip has one joint with two near-equal peaks: fp16 flips
        # it, 20 px; everything else stays within 0.04 px)
        assert r["keypoints_p95_px"] < FP16_KEYPOINTS_PX, (name, r)
        assert r["keypoints_within_cell"] >= 0.98, (name, r)


def test_demo_onnx_section_describes_its_files(demo):
    from dkd_tf.io_utils import sha256_file

    folder, m = demo[:2]
    for prec, graphs in m["onnx"].items():
        for g, e in graphs.items():
            lite = m["models"][prec][g]
            assert e["file"] == f"{g}_{prec}.onnx" and e["opset"] == 17
            assert sha256_file(os.path.join(folder, e["file"])) == e["sha256"]
            for kind in ("inputs", "outputs"):
                keys = ("name", "role", "shape", "dtype")
                assert [{k: t[k] for k in keys} for t in e[kind]] == \
                    [{k: t[k] for k in keys} for t in lite[kind]]


# ---- the converter ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_onnx(edge_assets, tmp_path_factory):  # noqa: F811
    """(folder, add_onnx's result, the manifest before) of the small model plus ONNX."""
    pytest.importorskip("tf2onnx")
    from dkd_tf.edge.onnx_export import add_onnx

    d = copy_assets(edge_assets, tmp_path_factory.mktemp("onnx") / "assets")
    with open(os.path.join(d, "manifest.json")) as f:
        before = json.load(f)
    return d, add_onnx(d, ("fp32", "fp16")), before


def test_manifest_round_trip(small_onnx):
    import onnx

    from dkd_tf.io_utils import sha256_file

    d, res, before = small_onnx
    with open(os.path.join(d, "manifest.json")) as f:
        after = json.load(f)
    assert {k: v for k, v in after.items() if k != "onnx"} == before  # nothing else changed
    assert after == res["manifest"] and not res["skipped"]
    assert sorted(after["onnx"]) == ["fp16", "fp32"]
    for prec, graphs in after["onnx"].items():
        assert sorted(graphs) == sorted(GRAPHS)  # the loop's three (not the optional head)
        for g, e in graphs.items():
            lite = after["models"]["fp32"][g]
            assert e["inputs"] == lite["inputs"] and e["outputs"] == lite["outputs"]
            path = os.path.join(d, e["file"])
            assert e["sha256"] == sha256_file(path) and e["bytes"] == os.path.getsize(path)
            model = onnx.load(path)
            assert e["opset"] == 17 == {o.domain: o.version for o in model.opset_import}[""]
            ins = {i.name: [x.dim_value for x in i.type.tensor_type.shape.dim]
                   for i in model.graph.input}
            assert ins == {t["name"]: t["shape"] for t in e["inputs"]}
            assert not [n for n in model.graph.node if n.op_type == "Resize" and any(
                a.s == b"tf_half_pixel_for_nn" for a in n.attribute)]
            assert e["parity"]["max_abs_diff"] < (1e-4 if prec == "fp32" else 0.05)
    assert not [f for f in os.listdir(d) if f.startswith(".")]  # no staging leftovers
    # the loops: fp32 ONNX = LiteRT fp32 on a synthetic clip
    for name, r in res["parity"]["fp32"].items():
        assert r["heatmaps_max_abs_diff"] < 1e-4, (name, r)


def test_a_failed_conversion_leaves_the_folder_as_it_was(edge_assets, tmp_path,  # noqa: F811
                                                         monkeypatch):
    pytest.importorskip("tf2onnx")
    import dkd_tf.edge.onnx_export as ox
    from test_export import _snapshot

    d = copy_assets(edge_assets, tmp_path / "a")
    before = _snapshot(d)
    real, calls = ox.tflite_to_onnx, {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("converter crashed")
        return real(*a, **k)

    monkeypatch.setattr(ox, "tflite_to_onnx", flaky)
    with pytest.raises(RuntimeError, match="converter crashed"):
        ox.add_onnx(d)
    assert _snapshot(d) == before


def test_to_tflite_onnx_does_both(edge_export, tmp_path):  # noqa: F811
    """export/to_tflite.py --onnx: the LiteRT export, then the ONNX graphs, one manifest."""
    pytest.importorskip("tf2onnx")
    from dkd_tf.config import tiny, with_overrides
    from fixtures_edge import SMALL_MODEL
    from test_export import TO_TFLITE, _checkpoint, _load_cli

    model = edge_export[1]
    wd = _checkpoint(str(tmp_path / "run"), with_overrides(tiny(), model=SMALL_MODEL), model)
    out = str(tmp_path / "out")
    cli = _load_cli(TO_TFLITE)
    assert cli.main(["--workdir", wd, "--out", out, "--precision", "fp32", "--onnx",
                     "--no-gpu-check", "--no-golden", "--quiet", "--reference-videos", "0"]) == 0
    m = load_manifest(out)
    assert sorted(m["models"]) == ["fp32"] and sorted(m["onnx"]) == ["fp16", "fp32"]
    assert sorted(f for f in os.listdir(out) if f.endswith(".onnx")) == sorted(
        e["file"] for graphs in m["onnx"].values() for e in graphs.values())
    assert "## ONNX" in open(os.path.join(out, "README.md")).read()
    assert cli.run_cli(cli.main, ["--workdir", wd, "--out", out, "--precision", "fp16",
                                  "--onnx"]) == 2  # ONNX is converted from fp32


def test_to_onnx_cli_bad_input(tmp_path, capsys, edge_assets):  # noqa: F811
    sys.path.insert(0, os.path.join(ROOT, "export"))
    try:
        import to_onnx
    finally:
        sys.path.pop(0)
    assert run_cli(to_onnx.main, ["--assets", str(tmp_path / "none")]) == 2
    assert run_cli(to_onnx.main, ["--assets", edge_assets, "--precision", "int8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no such export folder" in err[0] and "int8" in err[1], err


# ---- the runtime and CLIs on onnxruntime ----------------------------------------------
def test_infer_cli_backends_agree(small_onnx, tmp_path, capsys):
    from dkd_tf import infer

    d = small_onnx[0]
    video = write_video(str(tmp_path / "c.mp4"), synthetic_clip(64, 10)["frames"])
    out = {}
    for backend in ("litert", "onnxruntime"):
        js = tmp_path / f"{backend}.json"
        rc = run_cli(infer.main, [video, "--assets", d, "--backend", backend, "--smooth",
                                  "none", "--reinit-every", "0", "--roi", "full",
                                  "--json", str(js),
                                  "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 0, err
        out[backend] = json.loads(js.read_text())
    assert "onnxruntime: onnxruntime " in err and "on CPUExecutionProvider" in err
    assert out["onnxruntime"]["backend"] == "onnxruntime"
    a, b = (np.array([f["keypoints"] for f in out[k]["frames"]]) for k in out)
    np.testing.assert_allclose(b[..., 2], a[..., 2], atol=1e-4)   # scores
    np.testing.assert_allclose(b[..., :2], a[..., :2], atol=0.05)  # untrained: flat maps


def test_bench_cli_onnxruntime(small_onnx, tmp_path, capsys):
    from dkd_tf import bench

    out = tmp_path / "b.json"
    rc = bench.main(["--assets", small_onnx[0], "--backend", "onnxruntime", "--json", str(out),
                     "--frames", "3", "--warmup", "1", "--threads", "1", "--pck-videos", "0"])
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["backend"] == "onnxruntime" and r["device"] == "CPUExecutionProvider"
    assert sorted(r["precisions"]) == ["fp16", "fp32"] and "dynamic_conv" not in r
    for prec, parts in r["parts"].items():
        for g, p in parts.items():
            assert p["file"] == f"{g}_{prec}.onnx" and p["median_ms"] > 0 and p["flops"] > 0
    assert "onnxruntime" in capsys.readouterr().out


def test_verify_cli_onnxruntime(small_onnx, edge_assets, capsys):  # noqa: F811
    from test_export import VERIFY, _load_cli

    cli = _load_cli(VERIFY)
    assert cli.main([small_onnx[0], "--backend", "onnxruntime", "--videos", "1", "--frames",
                     "4", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "onnxruntime: onnxruntime " in text and "fp32" in text and "fp16" in text
    assert cli.run_cli(cli.main, [edge_assets, "--backend", "onnxruntime"]) == 2
    assert "no 'onnx' section" in capsys.readouterr().err


def test_providers_order_and_choice():
    from dkd_tf.runtime.onnxrt import pick_providers

    have = ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]
    assert pick_providers(have) == ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                    "CPUExecutionProvider"]
    assert pick_providers(["AzureExecutionProvider", "CPUExecutionProvider"]) == \
        ["CPUExecutionProvider"]
    assert pick_providers(have, ["cpu"]) == ["CPUExecutionProvider"]
    with pytest.raises(UserError, match="CUDAExecutionProvider not available"):
        pick_providers(["CPUExecutionProvider"], ["cuda"])


# ---- bad input ----------------------------------------------------------------------------
def test_manifest_without_onnx_section(edge_assets, tmp_path, capsys):  # noqa: F811
    from dkd_tf import infer

    video = write_video(str(tmp_path / "c.mp4"), synthetic_clip(64, 2)["frames"])
    rc = run_cli(infer.main, [video, "--assets", edge_assets, "--backend", "onnxruntime",
                              "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "manifest.json: no 'onnx' section" in err[0] and "export/to_onnx.py" in err[0]
    with pytest.raises(UserError, match="no 'onnx' section"):
        PoseTracker(edge_assets, backend="onnxruntime")


def test_bad_onnx_files(small_onnx, tmp_path):
    from dkd_tf.io_utils import sha256_file

    d = copy_assets(small_onnx[0], tmp_path / "a")
    path = os.path.join(d, "dynamic_conv_fp32.onnx")
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(UserError, match=r"dynamic_conv_fp32.onnx: sha256 mismatch"):
        PoseTracker(d, backend="onnxruntime")
    with open(path, "wb") as f:
        f.write(b"not a protobuf at all" * 10)
    digest = sha256_file(path)
    edit_manifest(d, lambda m: m["onnx"]["fp32"]["dynamic_conv"].update(sha256=digest))
    with pytest.raises(UserError, match=r"dynamic_conv_fp32.onnx: not a usable ONNX model"):
        PoseTracker(d, backend="onnxruntime")
    with pytest.raises(UserError, match=r"no 'int8' 'onnx' models \(has fp32, fp16\)"):
        PoseTracker(d, "int8", backend="onnxruntime")


_NO_ORT = r"""
import sys
sys.modules["onnxruntime"] = None
from dkd_tf.errors import run_cli
from dkd_tf.infer import main
print(run_cli(main, [sys.argv[1], "--assets", sys.argv[2], "--backend", "onnxruntime",
                     "--no-progress"]))
"""

_NO_TF = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "ai_edge_litert"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
import numpy as np
from dkd_tf.runtime import PoseTracker
tr = PoseTracker(sys.argv[1], "fp16", backend="onnxruntime", roi="track", reinit_every=2,
                 smooth=True)
rng = np.random.default_rng(0)
for i in range(4):
    pose = tr.process(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8))
assert pose.keypoints.shape == (13, 2) and np.isfinite(pose.keypoints).all()
bad = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "ai_edge_litert")]
print("OK", bad)
"""


def test_missing_onnxruntime_is_one_line_exit_2(small_onnx, tmp_path):
    video = write_video(str(tmp_path / "c.mp4"), synthetic_clip(64, 2)["frames"])
    r = subprocess.run([sys.executable, "-c", _NO_ORT, video, small_onnx[0]],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "2", r.stderr
    assert r.stderr.strip() == ("error: onnxruntime is not installed: pip install -e '.[onnx]' "
                                "(onnxruntime-gpu on a machine with CUDA or TensorRT)")


def test_onnxruntime_backend_needs_neither_tensorflow_nor_litert(small_onnx):
    r = subprocess.run([sys.executable, "-c", _NO_TF, small_onnx[0]], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK []"
