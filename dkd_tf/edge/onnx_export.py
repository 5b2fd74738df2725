"""ONNX graphs beside the .tflite files of an export folder (export/to_onnx.py).

Each of the three graphs is converted from its fp32 .tflite file with tf2onnx's TFLite path
(`from_tflite`: the very graphs LiteRT runs; tf2onnx's `from_keras` does not work on Keras 3)
at opset OPSET; nearest-neighbour Resize nodes with integer scales are rewritten from the
deprecated "tf_half_pixel_for_nn" sampling to the equivalent "asymmetric" one (the same pixels;
TensorRT and newer opsets know it). fp16 = that graph with float16 weights and activations
(onnxruntime.transformers.float16, float32 inputs and outputs kept), written only when its
loop stays within FP16_TOLERANCE of LiteRT fp32.

The folder's manifest.json gains a section, every other key unchanged:
    "onnx": {precision: {graph: {"file", "sha256", "bytes", "opset", "converter",
             "inputs": [...], "outputs": [...], "parity": {...}}}}
with the inputs / outputs entries of the LiteRT models (name, signature_name, role, shape,
dtype, quantization): the ONNX tensors carry the same names. "parity" is the largest
difference of the graph's output from LiteRT fp32 on the same inputs (the parity clips'
frames and states). The folder's README.md gains an ONNX section. Files are staged under
temporary names; the manifest is written last, so a failure leaves the folder as it was.

Needs tf2onnx (which imports TensorFlow), onnx and onnxruntime: pip install -e '.[export-onnx]'.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..errors import UserError, require_module
from ..io_utils import atomic_write_bytes, atomic_write_json, sha256_file
from ..runtime import GRAPHS, PoseTracker
from . import manifest as mf
from .readme import render_readme

OPSET = 17  # TensorRT 8.5+ (JetPack 5.1) parses it; onnxruntime >= 1.13 runs it
PRECISIONS = ("fp32", "fp16")
FP32_TOLERANCE = 1e-4  # max |heatmap difference| from LiteRT fp32; the conversion fails above
# fp16 vs LiteRT fp32 on the parity clips, as a fraction of the heatmaps' range (measured on
# android_demo_assets: 1.1e-3 on the golden clip and 1.0e-3 on a synthetic one; README)
FP16_TOLERANCE = 0.01
INSTALL = "pip install -e '.[export-onnx]'"


def check_converter() -> None:
    """One clear line when a package of the conversion is missing (checked without imports)."""
    for module, package in (("tf2onnx", "tf2onnx"), ("onnx", "onnx"),
                            ("onnxruntime", "onnxruntime")):
        require_module(module, f"{package} is not installed: {INSTALL}")


def tflite_to_onnx(path: str, opset: int = OPSET):
    """The .tflite file at path -> onnx.ModelProto (portable Resize sampling)."""
    from ..errors import import_tensorflow, muted_stderr

    import_tensorflow()  # quietly, before tf2onnx imports it
    with muted_stderr():
        from tf2onnx import convert

        model, _ = convert.from_tflite(path, opset=opset)
    portable_resize(model)
    return model


def portable_resize(model) -> int:
    """Rewrites nearest Resize nodes with "tf_half_pixel_for_nn" sampling, floor rounding and
    integer scales to "asymmetric" (for an integer scale r both read input pixel
    floor(x / r) at output pixel x). Returns how many were rewritten."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    n = 0
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        attrs = {a.name: a for a in node.attribute}
        mode = attrs.get("coordinate_transformation_mode")
        if mode is None or mode.s != b"tf_half_pixel_for_nn":
            continue
        if attrs.get("mode") is None or attrs["mode"].s != b"nearest" or \
                attrs.get("nearest_mode") is None or attrs["nearest_mode"].s != b"floor":
            continue
        scales = inits.get(node.input[2]) if len(node.input) > 2 else None
        if scales is None:
            continue
        r = numpy_helper.to_array(scales)
        if r.size == 0 or not np.all((r >= 1) & (r == np.round(r))):
            continue
        mode.s = b"asymmetric"
        n += 1
    return n


def to_fp16(model):
    """fp32 onnx.ModelProto -> float16 weights and activations, float32 inputs / outputs."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True)


def describe(model, path: str, litert_entry: dict, opset: int) -> dict:
    """The manifest entry of one .onnx file: its inputs / outputs are checked against the
    LiteRT model's entries (same names, shapes, float32) and copied from them."""
    import onnx

    from tf2onnx import __version__ as tf2onnx_version

    def shapes(values):
        return {v.name: ([d.dim_value for d in v.type.tensor_type.shape.dim],
                         v.type.tensor_type.elem_type) for v in values}

    have = {"inputs": shapes(model.graph.input), "outputs": shapes(model.graph.output)}
    for kind in ("inputs", "outputs"):
        for t in litert_entry[kind]:
            got = have[kind].get(t["name"])
            if got is None or got[0] != list(t["shape"]) or \
                    got[1] != onnx.TensorProto.FLOAT:
                raise RuntimeError(f"{os.path.basename(path)}: {kind[:-1]} {t['name']!r} is "
                                   f"{got}, LiteRT has float32 {t['shape']}")
    return {"file": os.path.basename(path), "sha256": sha256_file(path),
            "bytes": os.path.getsize(path), "opset": int(opset),
            "converter": f"tf2onnx {tf2onnx_version} from_tflite({litert_entry['file']})",
            "inputs": [dict(t) for t in litert_entry["inputs"]],
            "outputs": [dict(t) for t in litert_entry["outputs"]]}


# ---- parity ----------------------------------------------------------------------------
def parity_clips(man: dict, folder: str) -> Dict[str, np.ndarray]:
    """{name: uint8 RGB frames [T, h, w, 3]}: the golden clip (when the folder has one) and
    a held-out synthetic clip at the input size."""
    import cv2

    from ..heldout import heldout_video

    clips = {}
    expected = os.path.join(folder, "golden", "expected.json")
    if os.path.isfile(expected):
        with open(expected, encoding="utf-8") as f:
            exp = json.load(f)
        frames = [cv2.imread(os.path.join(folder, "golden", fr["file"]), cv2.IMREAD_COLOR)
                  for fr in exp["frames"]]
        if all(fr is not None for fr in frames):
            clips["golden"] = np.stack([cv2.cvtColor(fr, cv2.COLOR_BGR2RGB) for fr in frames])
    size = int(man["input"]["height"])
    seed = int((man.get("reference") or {}).get("protocol", {}).get("seed", 0))
    v = heldout_video(size, 12, seed, 2)
    clips["synthetic"] = v["frames"]
    return clips


def loop_parity(ref: PoseTracker, got: PoseTracker, frames: np.ndarray) -> dict:
    """Two trackers' loops on one clip: {"heatmaps_max_abs_diff", "heatmaps_range",
    "keypoints_max_px", "keypoints_p95_px", "keypoints_within_cell" (share of joints within
    one heatmap stride), "graphs": {graph: max |output difference| on the same inputs}}."""
    xs = np.concatenate([ref.preprocess(f, rgb=True)[0] for f in frames])
    h_ref, h_got = ref.heatmaps(xs), got.heatmaps(xs)
    kp_ref, _ = ref.video(frames)
    kp_got, _ = got.video(frames)
    # each graph alone, on the reference loop's own inputs
    diffs = {g: 0.0 for g in GRAPHS}
    f_prev = h_prev = None
    for x in xs:
        x = x[None]
        f_r = ref.graphs["frame_encoder"].run(image=x)["features"]
        diffs["frame_encoder"] = max(diffs["frame_encoder"], float(np.abs(
            got.graphs["frame_encoder"].run(image=x)["features"] - f_r).max()))
        p_r = ref.graphs["pose_initializer"].run(image=x)["heatmaps"]
        diffs["pose_initializer"] = max(diffs["pose_initializer"], float(np.abs(
            got.graphs["pose_initializer"].run(image=x)["heatmaps"] - p_r).max()))
        if f_prev is None:
            h_r = p_r
        else:
            ins = {"features_prev": f_prev, "heatmaps_prev": h_prev, "features": f_r}
            h_r = ref.graphs["dynamic_conv"].run(**ins)["heatmaps"]
            diffs["dynamic_conv"] = max(diffs["dynamic_conv"], float(np.abs(
                got.graphs["dynamic_conv"].run(**ins)["heatmaps"] - h_r).max()))
        f_prev, h_prev = f_r, h_r
    dist = np.linalg.norm(kp_got - kp_ref, axis=-1)
    # a joint whose map has two near-equal peaks may flip between them at fp16: the 95th
    # percentile and the share within one heatmap cell say more than the maximum
    return {"heatmaps_max_abs_diff": float(np.abs(h_got - h_ref).max()),
            "heatmaps_range": float(h_ref.max() - h_ref.min()),
            "keypoints_max_px": float(np.abs(kp_got - kp_ref).max()),
            "keypoints_p95_px": float(np.percentile(dist, 95)),
            "keypoints_within_cell": float((dist <= ref.stride).mean()), "graphs": diffs}


# ---- the folder --------------------------------------------------------------------------
def add_onnx(folder: str, precisions: Sequence[str] = PRECISIONS, opset: int = OPSET,
             threads: Optional[int] = 2, log: Callable[[str], None] = lambda s: None) -> dict:
    """Converts the folder's fp32 graphs, checks parity, writes the .onnx files and the
    manifest's "onnx" section. Returns {"manifest", "parity": {precision: {clip: ...}},
    "skipped": {precision: why}}."""
    check_converter()
    precisions = [p for p in PRECISIONS if p in precisions]
    if not precisions:
        raise UserError(f"no ONNX precision asked for; choose from {', '.join(PRECISIONS)}")
    man = mf.load(folder)  # validated, every .tflite file against its sha256
    if "fp32" not in man["models"]:
        raise UserError(f"{os.path.join(folder, 'manifest.json')}: no fp32 LiteRT models to "
                        f"convert (has {', '.join(man['models'])})")
    import onnx

    stage_name = f".onnx-stage-{os.getpid()}"
    stage = os.path.join(folder, stage_name)
    os.makedirs(stage, exist_ok=True)
    try:
        section: Dict[str, dict] = {}
        for g in GRAPHS:
            e = man["models"]["fp32"][g]
            log(f"converting {e['file']} (opset {opset})")
            m32 = tflite_to_onnx(os.path.join(folder, e["file"]), opset)
            for prec in precisions:
                model = m32 if prec == "fp32" else to_fp16(m32)
                path = os.path.join(stage, f"{g}_{prec}.onnx")
                onnx.save(model, path)
                section.setdefault(prec, {})[g] = describe(model, path, e, opset)
        parity, skipped = _check_parity(man, folder, stage_name, section, threads, log)
        for prec in skipped:
            del section[prec]
        out = dict(man)
        out["onnx"] = section
        mf.validate(out, folder, check_files=False)
        for graphs in section.values():
            for e in graphs.values():
                os.replace(os.path.join(stage, e["file"]), os.path.join(folder, e["file"]))
        readme = os.path.join(folder, "README.md")
        atomic_write_bytes(readme, render_readme(out).encode())
        atomic_write_json(os.path.join(folder, "manifest.json"), out)
        for path in (readme, os.path.join(folder, "manifest.json")):
            _keep_mode(path)
        return {"manifest": out, "parity": parity, "skipped": skipped}
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _check_parity(man, folder, stage_name, section, threads, log):
    """Per precision and clip, the ONNX loop against LiteRT fp32; fp32 must hold
    FP32_TOLERANCE (RuntimeError otherwise), fp16 FP16_TOLERANCE (else it is skipped)."""
    staged = dict(man, onnx={p: {g: dict(e, file=os.path.join(stage_name, e["file"]))
                                 for g, e in graphs.items()} for p, graphs in section.items()})
    ref = PoseTracker(staged, "fp32", num_threads=threads, folder=folder)
    clips = parity_clips(man, folder)
    parity: Dict[str, dict] = {}
    skipped: Dict[str, str] = {}
    for prec in section:
        got = PoseTracker(staged, prec, num_threads=threads, folder=folder,
                          backend="onnxruntime", providers=["cpu"])
        parity[prec] = {name: loop_parity(ref, got, fr) for name, fr in clips.items()}
        worst = max(r["heatmaps_max_abs_diff"] for r in parity[prec].values())
        rel = max(r["heatmaps_max_abs_diff"] / max(r["heatmaps_range"], 1e-12)
                  for r in parity[prec].values())
        px = max(r["keypoints_max_px"] for r in parity[prec].values())
        p95 = max(r["keypoints_p95_px"] for r in parity[prec].values())
        log(f"{prec} ONNX loop vs LiteRT fp32 ({', '.join(clips)}): heatmaps max |diff| "
            f"{worst:.2e} ({rel:.1e} of their range), keypoints max {px:.4f} px "
            f"(95th percentile {p95:.4f} px)")
        for g in GRAPHS:
            section[prec][g]["parity"] = {
                "reference": "LiteRT fp32, same inputs (" + ", ".join(clips) + " clips)",
                "max_abs_diff": max(r["graphs"][g] for r in parity[prec].values())}
        if prec == "fp32" and worst >= FP32_TOLERANCE:
            raise RuntimeError(f"fp32 ONNX differs from LiteRT fp32 by {worst:.2e} (limit "
                               f"{FP32_TOLERANCE:g}): the conversion is wrong")
        if prec == "fp16" and rel > FP16_TOLERANCE:
            skipped[prec] = (f"heatmaps differ from LiteRT fp32 by {rel:.1e} of their range "
                             f"(limit {FP16_TOLERANCE:g})")
            log(f"fp16 ONNX not written: {skipped[prec]}")
    return parity, skipped


def _keep_mode(path: str) -> None:
    """Atomic writes create 0600 files; an export folder ships, so the umask's mode."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def format_parity(parity: Dict[str, dict]) -> List[str]:
    """One line per precision and clip."""
    lines = []
    for prec, clips in parity.items():
        for name, r in clips.items():
            graphs = ", ".join(f"{g} {v:.1e}" for g, v in r["graphs"].items())
            lines.append(f"{prec} {name}: heatmaps max |diff| {r['heatmaps_max_abs_diff']:.2e} "
                         f"(range {r['heatmaps_range']:.2f}), keypoints max "
                         f"{r['keypoints_max_px']:.4f} px (95th percentile "
                         f"{r['keypoints_p95_px']:.4f}); per graph: {graphs}")
    return lines


def convert_folder(assets: str, precisions=PRECISIONS, opset: Optional[int] = None,
                   threads: int = 2, quiet: bool = False) -> int:
    """export/to_onnx.py and to_tflite.py --onnx: checks the folder (before TensorFlow),
    converts, prints parity and files; returns 0."""
    path = os.path.join(assets, "manifest.json")
    if not os.path.isdir(assets):
        raise UserError(f"{assets}: no such export folder (export one with "
                        f"export/to_tflite.py)")
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such manifest (export one with export/to_tflite.py)")
    if not os.access(assets, os.W_OK):
        raise UserError(f"{assets}: cannot write here")
    check_converter()
    log = (lambda s: None) if quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    res = add_onnx(assets, precisions, opset or OPSET, threads, log)
    for line in format_parity(res["parity"]):
        print(line)
    for prec, why in res["skipped"].items():
        print(f"{prec}: not written ({why})")
    for prec, graphs in res["manifest"]["onnx"].items():
        for e in graphs.values():
            print(f"{e['file']}  {e['bytes'] / 1e6:.2f} MB  opset {e['opset']}")
    print(f"wrote {path}; run: python -m dkd_tf.infer VIDEO --assets {assets} "
          f"--backend onnxruntime")
    return 0
