"""Reading manifest.json (format "dkd-tf/1") on the runtime side: the one table of graph names
and roles, the checks an app makes before it loads anything, and the model files of one
backend and precision.

Pure Python + hashlib (no NumPy, OpenCV, LiteRT or TensorFlow): the export library
(dkd_tf.edge.manifest) builds manifests on top of these names. Where each backend's graphs are:
    LiteRT       manifest["models"][precision][graph]   (.tflite)
    onnxruntime  manifest["onnx"][precision][graph]     (.onnx, export/to_onnx.py)
Both entries have "file", "sha256", "inputs" and "outputs" ([{"name", "role", "shape",
"dtype", ...}]); a client wires tensors by role, never by order.
"""
from __future__ import annotations

import json
import os
from typing import Dict

from ..codec import DECODE_METHODS
from ..errors import UserError
from ..io_utils import sha256_file

MANIFEST_FORMAT = "dkd-tf/1"
GRAPHS = ("pose_initializer", "frame_encoder", "dynamic_conv")
ROLES = {
    "pose_initializer": (("image",), ("heatmaps",)),
    "frame_encoder": (("image",), ("features",)),
    "dynamic_conv": (("features_prev", "heatmaps_prev", "features"), ("heatmaps",)),
    "frame_encoder_head": (("image",), ("heatmaps",)),  # optional (PoseTracker encoder_head)
}
INTERPOLATIONS = ("linear", "nearest", "area", "cubic")
BACKENDS = ("litert", "onnxruntime")
# where each backend's graphs live in the manifest, and how to make them when absent
SECTIONS = {"litert": ("models", "python export/to_tflite.py"),
            "onnxruntime": ("onnx", "python export/to_onnx.py --assets DIR")}


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def load_manifest(path) -> dict:
    """Reads and checks a manifest.json (format dkd-tf/1); UserError names what is wrong.

    Accepts the manifest file or the folder holding it.
    """
    if os.path.isdir(path):
        path = os.path.join(path, "manifest.json")
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such manifest (export one with export/to_tflite.py)")
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: not a readable JSON manifest ({first_line(e)})") from None
    return check_manifest(m, path)


def check_manifest(m: dict, path: str) -> dict:
    """The checks of load_manifest on a manifest already in memory (path: where it is, or
    will be, written); adds "_path" and "_dir" (the folder its files are relative to)."""
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        got = m.get("format") if isinstance(m, dict) else type(m).__name__
        raise UserError(f"{path}: manifest format {got!r} is not {MANIFEST_FORMAT!r}")
    try:
        inp, hm = m["input"], m["heatmap"]
        int(inp["height"]), int(inp["width"]), int(hm["height"]), int(hm["width"])
        float(hm["stride"])
        norm = inp["normalization"]
        if len(norm["mean"]) != 3 or len(norm["std"]) != 3:
            raise ValueError("normalization mean and std need 3 values")
        if inp.get("color", "RGB") not in ("RGB", "BGR"):
            raise ValueError(f"input color {inp.get('color')!r} is not RGB or BGR")
        lb = inp.get("letterbox", {})
        if lb.get("interpolation", "linear") not in INTERPOLATIONS:
            raise ValueError(f"letterbox interpolation {lb.get('interpolation')!r} unknown")
        if m["decode"]["method"] not in DECODE_METHODS:
            raise ValueError(f"decode method {m['decode']['method']!r} not in {DECODE_METHODS}")
        if not m["joints"] or not isinstance(m["models"], dict) or not m["models"]:
            raise ValueError("no joints or no models")
        for section in ("models", "onnx"):
            for prec, graphs in (m.get(section) or {}).items():
                for g in GRAPHS:
                    spec = graphs[g]
                    spec["file"], spec["inputs"], spec["outputs"]
    except (KeyError, TypeError, ValueError) as e:
        what = f"missing {e}" if isinstance(e, KeyError) else first_line(e)
        raise UserError(f"{path}: not a valid {MANIFEST_FORMAT} manifest ({what})") from None
    m["_path"] = os.path.abspath(path)
    m["_dir"] = os.path.dirname(os.path.abspath(path))
    return m


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise UserError(f"backend {backend!r}: choose from {', '.join(BACKENDS)}")
    return backend


def graph_specs(manifest: dict, precision: str, backend: str = "litert") -> Dict[str, dict]:
    """{graph: manifest entry} of one backend and precision; UserError when absent."""
    section, how = SECTIONS[check_backend(backend)]
    models = manifest.get(section)
    if not isinstance(models, dict) or not models:
        raise UserError(f"{manifest['_path']}: no {section!r} section, so nothing for "
                        f"{backend} (add it with {how})")
    if precision not in models:
        have = ", ".join(models)
        what = "models" if section == "models" else f"{section!r} models"
        raise UserError(f"{manifest['_path']}: no {precision!r} {what} (has {have})")
    return models[precision]


def graph_files(manifest: dict, precision: str, check_sha256: bool = True,
                backend: str = "litert", names=GRAPHS) -> Dict[str, str]:
    """{graph: absolute path} for one backend and precision (the loop's graphs, or `names`);
    checks existence and sha256."""
    specs = graph_specs(manifest, precision, backend)
    out = {}
    for g in names:
        if g not in specs:
            raise UserError(f"{manifest['_path']}: no {g} graph at {precision} (export a "
                            f"checkpoint that has F's per-frame head)")
        spec = specs[g]
        path = os.path.join(manifest["_dir"], spec["file"])
        if not os.path.isfile(path):
            raise UserError(f"{path}: missing (named by {manifest['_path']})")
        if os.path.getsize(path) == 0:
            raise UserError(f"{path}: empty file")
        if check_sha256 and spec.get("sha256"):
            got = sha256_file(path)
            if got != spec["sha256"]:
                raise UserError(f"{path}: sha256 mismatch (manifest {spec['sha256'][:12]}..., "
                                f"file {got[:12]}...): the file changed after export")
        out[g] = path
    return out
