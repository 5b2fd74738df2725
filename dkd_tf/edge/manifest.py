"""manifest.json (format "dkd-tf/1"): everything an app needs to run the exported graphs.

Pure Python (no TensorFlow): the runtime and the verification read it too. A client wires
each graph by the tensors' roles (image, features, heatmaps, features_prev, heatmaps_prev),
never by tensor order; a tensor's "name" is the name the LiteRT interpreter reports in
get_input_details() / get_output_details(), and "signature_name" its name in the model's
SignatureDef ("serving_default"), which equals the role.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

from ..io_utils import sha256_file  # noqa: F401  (re-exported)
from ..codec import DARK_EPS, DECODE_METHODS
from ..errors import UserError
from ..runtime.manifest import GRAPHS, MANIFEST_FORMAT as FORMAT, ROLES  # noqa: F401

# optional graphs: present in models[precision] only when exported; a client that runs the
# loop below ignores them. Each entry carries "role" (what it is for).
OPTIONAL_GRAPHS = ("frame_encoder_head",)
HEAD_ROLE = ("optional per-frame baseline: heatmaps = frame_encoder_head(x) on every frame "
             "(F with its per-frame head, no state, no pose_initializer); not part of the "
             "loop")
PRECISIONS = ("fp32", "fp16", "int8")
TOP_KEYS = ("format", "preset", "checkpoint", "input", "heatmap", "decode", "joints",
            "skeleton", "models")
LOOP = ("f = frame_encoder(x0); h = pose_initializer(x0); for each next frame x: "
        "f_new = frame_encoder(x); h = dynamic_conv(features_prev=f, heatmaps_prev=h, "
        "features=f_new); f = f_new; keypoints = decode(h) mapped back through the letterbox")


def parse_precisions(value) -> tuple:
    """"fp32,fp16" or a sequence -> validated tuple (order kept, duplicates dropped)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for p in (str(v).strip().lower() for v in items):
        if not p:
            continue
        if p not in PRECISIONS:
            raise UserError(f"unknown precision {p!r}; choose from {', '.join(PRECISIONS)}")
        if p not in out:
            out.append(p)
    if not out:
        raise UserError(f"no precision given; choose from {', '.join(PRECISIONS)}")
    return tuple(out)


def model_file(graph: str, precision: str) -> str:
    return f"{graph}_{precision}.tflite"




def decode_spec(method: str = "dark") -> dict:
    """The decode block: the method and every constant of dkd_tf.codec.decode_heatmaps."""
    if method not in DECODE_METHODS:
        raise UserError(f"decode method {method!r}: choose from {', '.join(DECODE_METHODS)}")
    params: dict = {"score": "the heatmap maximum at the argmax cell",
                    "argmax": "first maximum in row-major (y, x) order of each joint's map"}
    if method in ("quarter", "dark"):
        params["quarter"] = {
            "offset": 0.25,
            "rule": "x += 0.25 * sign(h[y, x+1] - h[y, x-1]), same for y; only when the "
                    "argmax is not on that axis' border (0 < x < n - 1)"}
    if method == "dark":
        params["dark"] = {
            "log_floor": DARK_EPS,
            "rule": "L = log(max(h, log_floor)); centre c = argmax clamped to [1, n - 2] per "
                    "axis; central differences on the 3x3 stencil at c: gx = (L[x+1] - "
                    "L[x-1]) / 2, gy likewise, dxx = L[x+1] - 2 L + L[x-1], dyy likewise, "
                    "dxy = (L[x+1,y+1] - L[x+1,y-1] - L[x-1,y+1] + L[x-1,y-1]) / 4; "
                    "det = dxx dyy - dxy^2; if dxx < 0 and det > 0: "
                    "x = cx - (dyy gx - dxy gy) / det, y = cy - (dxx gy - dxy gx) / det, "
                    "then clamped to [ax - 0.5, ax + 0.5] (ax = argmax; the bound is 1.0 "
                    "instead of 0.5 on the side beyond a border cell), else the quarter rule",
            "max_offset": 0.5,
            "border_max_offset": 1.0,
            "fallback": "quarter",
            "min_size": 3}
    return {"method": method, "params": params,
            "to_input_pixels": "x_input = x_heatmap * stride (pixel centres, 0-based)",
            "to_frame_pixels": "x_frame = (x_input - offset_x + 0.5) / s - 0.5 (the "
                               "letterbox's s and offset; pixel centres, as the resize "
                               "maps them)"}


def input_spec(cfg) -> dict:
    s = cfg.model.input_size
    return {"height": s, "width": s, "color": "RGB",
            "normalization": {"mean": [float(v) for v in cfg.mean],
                              "std": [float(v) for v in cfg.std],
                              "formula": "(pixel / 255 - mean) / std, per RGB channel, "
                                         "after letterboxing (pad pixels too)"},
            "letterbox": {"interpolation": "linear", "pad_value": 0,
                          "rule": "s = min(W / w, H / h); resize the frame to "
                                  "(round(w s), round(h s)) (round half up), paste it at "
                                  "((W - round(w s)) // 2, (H - round(h s)) // 2) on a W x H "
                                  "canvas of pad_value, then normalise"},
            "dtype": "float32", "layout": "NHWC"}


def heatmap_spec(cfg) -> dict:
    m = cfg.model.heatmap_size
    return {"height": m, "width": m, "stride": cfg.model.input_size // m,
            "channels": cfg.model.num_joints}


def tensor_entries(details_by_role: Dict[str, dict], roles) -> List[dict]:
    """Interpreter details keyed by signature name -> the manifest's tensor list, in the
    order of `roles`; fails when a role is missing."""
    out = []
    for role in roles:
        if role not in details_by_role:
            raise RuntimeError(f"the converted model has no signature tensor {role!r} "
                               f"(has {sorted(details_by_role)})")
        d = details_by_role[role]
        dtype = getattr(d["dtype"], "__name__", str(d["dtype"]))
        scale, zero = d.get("quantization", (0.0, 0))
        quant = None if not scale else {"scale": float(scale), "zero_point": int(zero)}
        out.append({"name": d["name"], "signature_name": role, "role": role,
                    "shape": [int(v) for v in d["shape"]], "dtype": dtype,
                    "quantization": quant})
    return out


def validate(m: dict, folder: Optional[str] = None, check_files: bool = True) -> dict:
    """Checks the structure (and, with a folder, that every file exists and matches its
    sha256); returns m. UserError names the first problem."""
    where = os.path.join(folder, "manifest.json") if folder else "manifest"
    try:
        missing = [k for k in TOP_KEYS if k not in m]
        if missing:
            raise ValueError(f"missing keys {missing}")
        if m["format"] != FORMAT:
            raise ValueError(f"format {m['format']!r} is not {FORMAT!r}")
        if m["decode"]["method"] not in DECODE_METHODS:
            raise ValueError(f"decode method {m['decode']['method']!r}")
        for prec, graphs in m["models"].items():
            for g in GRAPHS + tuple(o for o in OPTIONAL_GRAPHS if o in graphs):
                e = graphs[g]
                ins, outs = ROLES[g]
                if sorted(t["role"] for t in e["inputs"]) != sorted(ins) or \
                        sorted(t["role"] for t in e["outputs"]) != sorted(outs):
                    raise ValueError(f"{prec}/{g}: roles do not match {ins} -> {outs}")
                if "ok" not in e.get("gpu", {}) or "method" not in e.get("gpu", {}):
                    raise ValueError(f"{prec}/{g}: no gpu verdict")
                if folder and check_files:
                    path = os.path.join(folder, e["file"])
                    if not os.path.isfile(path):
                        raise ValueError(f"{e['file']} is missing")
                    if sha256_file(path) != e["sha256"]:
                        raise ValueError(f"{e['file']} does not match its sha256")
    except (KeyError, TypeError, ValueError) as ex:
        what = f"missing {ex}" if isinstance(ex, KeyError) else str(ex)
        raise UserError(f"{where}: not a valid {FORMAT} manifest ({what})") from None
    return m


def load(path: str, check_files: bool = True) -> dict:
    """Reads manifest.json (or the folder holding it) and validates it."""
    if os.path.isdir(path):
        path = os.path.join(path, "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except OSError as e:
        raise UserError(f"{path}: cannot read the manifest ({e.strerror})") from None
    except ValueError as e:
        raise UserError(f"{path}: not JSON ({e})") from None
    return validate(m, os.path.dirname(os.path.abspath(path)), check_files)
