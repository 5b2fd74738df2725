"""The edge tracker: three LiteRT graphs and the host loop that carries their state.

Imports NumPy, OpenCV and a LiteRT interpreter only (never TensorFlow, the models, the data
pipeline or training; DESIGN.md §6). The interpreter comes from ai_edge_litert, else
tflite_runtime, else tf.lite (the last resort of a machine with nothing else).

The host loop (manifest "dkd-tf/1"):
    frame 0 / initializer frames:  f = frame_encoder(x); h = pose_initializer(x)
    tracked frames:                 f_new = frame_encoder(x); h = dynamic_conv(f, h, f_new);
                                    f = f_new
    keypoints = decode(h) in input pixels, mapped back to frame pixels.

Input region (`roi`):
  "full":  every frame is letterboxed whole, exactly as the manifest says (resize to
           round(w s) x round(h s), s = min(W / w, H / h), pasted centred on pad_value).
  "track": frame 0 is letterboxed whole; afterwards the input is a square crop around the
           previous keypoints' box (side = roi_margin x the box's larger side), as detector-
           tracker systems do. The state (f, h) lives in the coordinates of the crop it was
           computed in, so the crop is kept fixed while the person stays inside it
           (hysteresis: it moves only when the wanted crop's centre is off by more than
           roi_shift x its side or its side changes by more than the factor roi_zoom). When it
           moves, the tracker re-anchors the state: it runs frame_encoder once more on the
           previous frame inside the new crop, and warps the previous heatmaps into the new
           crop with cv2.warpAffine. So a tracked frame costs the encoder twice only on the
           frames where the crop moves. Initializer frames take the wanted crop directly (or
           the whole frame when the re-init was triggered by a low score, or when fewer than
           roi_min_joints joints are confident enough to define a box). The side is kept
           within [roi_min_side x the frame's shorter side, 1.2 x its longer side] and the
           centre inside the frame. A confident joint further than 3x the joints' median
           distance from their median point is left out of the box (a pole or a cone found
           as a wrist must not blow the crop up to the whole frame).
  "person": as "track", but an initializer frame that has no crop to go by (the first frame,
           or one after a low score) first finds the person: the initializer runs once on
           the whole letterboxed frame, and the crop around the joints it finds is where the
           initializer and the encoder then run (the state lives in that crop). Without
           enough confident joints the whole frame is used, as in "full". Real people are
           often small and off-centre in a frame; the network works best on a person who
           fills about half of its input (margin 2, the size the training set is drawn at).
           Measured on real footage (README "Real people"): the default of `infer`.

Re-initialisation: the initializer runs again every `reinit_every` frames (0 = never)
and on the frame after one whose mean joint score fell below `reinit_score` (None = off).

Smoothing: `smooth=OneEuroParams(...)` (or True for the defaults) filters the output
keypoints with a One-Euro filter in time, the speed measured in units of the person's size
(dkd_tf.one_euro). The state and the crops use the unsmoothed keypoints.

Shapes: frames uint8 [h, w, 3] BGR (or RGB with rgb=True); keypoints [K, 2] frame pixels
(x, y); scores [K] (heatmap maxima); A [2, 3] maps frame pixels to input pixels.
"""
from __future__ import annotations

import gc
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from .io_utils import sha256_file  # noqa: F401  (re-exported)
from .codec import DECODE_METHODS, decode_heatmaps
from .errors import muted_stderr, UserError
from .one_euro import OneEuroFilter

MANIFEST_FORMAT = "dkd-tf/1"
GRAPHS = ("pose_initializer", "frame_encoder", "dynamic_conv")
ROLES = {
    "pose_initializer": (("image",), ("heatmaps",)),
    "frame_encoder": (("image",), ("features",)),
    "dynamic_conv": (("features_prev", "heatmaps_prev", "features"), ("heatmaps",)),
    "frame_encoder_head": (("image",), ("heatmaps",)),  # optional (PoseTracker encoder_head)
}
INTERPOLATION = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST,
                 "area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC}
ROI_MODES = ("full", "track", "person")


# ---- interpreter ---------------------------------------------------------------------
def interpreter_api():
    """-> (Interpreter class, load_delegate, source): ai_edge_litert, tflite_runtime, tf.lite."""
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate
        return Interpreter, load_delegate, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter, load_delegate
        return Interpreter, load_delegate, "tflite_runtime"
    except ImportError:
        pass
    try:
        if sys.modules.get("tensorflow", False) is None:  # blocked on purpose
            raise ImportError("tensorflow")
        from .errors import import_tensorflow

        tf = import_tensorflow()
        return tf.lite.Interpreter, tf.lite.experimental.load_delegate, "tensorflow.lite"
    except (ImportError, AttributeError):
        pass
    raise UserError("no TFLite interpreter found: install ai-edge-litert "
                    "(pip install ai-edge-litert), or tflite-runtime, or tensorflow")


def make_interpreter(path: str, num_threads: Optional[int] = None, delegate=None):
    """A LiteRT interpreter for the .tflite file at path, tensors allocated.

    delegate: None = the runtime's default (XNNPACK on CPU); "none" = plain builtin kernels;
    a path to a delegate library (.so); or a delegate object from load_delegate.
    """
    Interpreter, load_delegate, _ = interpreter_api()
    kwargs = {"model_path": path, "num_threads": num_threads}
    if isinstance(delegate, str) and delegate.lower() in ("none", "builtin"):
        resolver = _op_resolver_type(Interpreter)
        if resolver is not None:
            kwargs["experimental_op_resolver_type"] = resolver
    elif isinstance(delegate, str) and delegate.lower() not in ("", "default", "xnnpack"):
        kwargs["experimental_delegates"] = [_load_delegate(load_delegate, delegate)]
    elif delegate is not None and not isinstance(delegate, str):
        kwargs["experimental_delegates"] = [delegate]
    try:
        with muted_stderr():  # LiteRT's C++ "INFO: Created ... XNNPACK delegate" line
            interp = Interpreter(**kwargs)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise UserError(f"{path}: not a usable TFLite model ({_first_line(e)})") from None
    return interp


def _load_delegate(load_delegate, path: str):
    """load_delegate(path) with one clear error; LiteRT's Delegate.__del__ raises on a
    half-built object after a failed load, which is silenced here."""
    if os.sep in path and not os.path.isfile(path):
        raise UserError(f"{path}: no such delegate library")
    hook, err = sys.unraisablehook, None
    sys.unraisablehook = lambda *_: None
    try:
        try:
            return load_delegate(path)
        except (ValueError, OSError, RuntimeError) as e:
            err = _first_line(e)
        gc.collect()
    finally:
        sys.unraisablehook = hook
    raise UserError(f"{path}: cannot load delegate ({err})")




def _op_resolver_type(Interpreter):
    import importlib

    mod = importlib.import_module(Interpreter.__module__)
    t = getattr(mod, "OpResolverType", None)
    return None if t is None else t.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# ---- manifest ------------------------------------------------------------------------


def load_manifest(path: str) -> dict:
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
        raise UserError(f"{path}: not a readable JSON manifest ({_first_line(e)})") from None
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
        if lb.get("interpolation", "linear") not in INTERPOLATION:
            raise ValueError(f"letterbox interpolation {lb.get('interpolation')!r} unknown")
        if m["decode"]["method"] not in DECODE_METHODS:
            raise ValueError(f"decode method {m['decode']['method']!r} not in {DECODE_METHODS}")
        if not m["joints"] or not isinstance(m["models"], dict) or not m["models"]:
            raise ValueError("no joints or no models")
        for prec, graphs in m["models"].items():
            for g in GRAPHS:
                spec = graphs[g]
                spec["file"], spec["inputs"], spec["outputs"]
    except (KeyError, TypeError, ValueError) as e:
        what = f"missing {e}" if isinstance(e, KeyError) else _first_line(e)
        raise UserError(f"{path}: not a valid {MANIFEST_FORMAT} manifest ({what})") from None
    m["_path"] = os.path.abspath(path)
    m["_dir"] = os.path.dirname(os.path.abspath(path))
    return m


def graph_files(manifest: dict, precision: str, check_sha256: bool = True,
                names=GRAPHS) -> Dict[str, str]:
    """{graph: absolute path} for one precision (the loop's graphs, or `names`); checks
    existence and sha256."""
    if precision not in manifest["models"]:
        raise UserError(f"{manifest['_path']}: no {precision!r} models (has "
                        f"{', '.join(manifest['models'])})")
    out = {}
    for g in names:
        if g not in manifest["models"][precision]:
            raise UserError(f"{manifest['_path']}: no {g} graph at {precision} (export a "
                            f"checkpoint that has F's per-frame head)")
        spec = manifest["models"][precision][g]
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


# ---- one graph -----------------------------------------------------------------------
class Graph:
    """One exported graph: inputs and outputs wired by the manifest's role and name.

    run(**{role: float32 array}) -> {role: float32 array}; int8 / uint8 tensors are quantised
    and dequantised here with the interpreter's own (scale, zero point).
    """

    def __init__(self, name: str, path: str, spec: dict, num_threads=None, delegate=None):
        self.name, self.path = name, path
        self.interpreter = make_interpreter(path, num_threads, delegate)
        want_in, want_out = ROLES[name]
        self.inputs = self._wire(spec.get("inputs", []), self.interpreter.get_input_details(),
                                 want_in, "input")
        self.outputs = self._wire(spec.get("outputs", []), self.interpreter.get_output_details(),
                                  want_out, "output")
        self.ms_total, self.calls = 0.0, 0

    def _wire(self, declared, details, roles, kind):
        by_name = {d["name"]: d for d in details}
        wired = {}
        for io in declared:
            if io.get("role") in roles:
                d = by_name.get(io.get("name"))
                if d is None:
                    raise UserError(f"{self.path}: has no {kind} named {io.get('name')!r} "
                                    f"(role {io['role']}); its {kind}s: {sorted(by_name)}")
                if "shape" in io and list(d["shape"]) != list(io["shape"]):
                    raise UserError(f"{self.path}: {kind} {d['name']!r} has shape "
                                    f"{list(d['shape'])}, manifest says {io['shape']}")
                wired[io["role"]] = d
        missing = [r for r in roles if r not in wired]
        if missing:
            raise UserError(f"{self.path}: manifest names no {kind} with role "
                            f"{', '.join(missing)}")
        return wired

    @staticmethod
    def _quantize(d, x):
        if d["dtype"] in (np.int8, np.uint8, np.int16):
            scale, zp = d["quantization"]
            info = np.iinfo(d["dtype"])
            q = np.round(np.asarray(x, np.float32) / scale + zp)
            return np.clip(q, info.min, info.max).astype(d["dtype"])
        return np.asarray(x, dtype=d["dtype"])

    @staticmethod
    def _dequantize(d, x):
        if d["dtype"] in (np.int8, np.uint8, np.int16):
            scale, zp = d["quantization"]
            return (x.astype(np.float32) - zp) * np.float32(scale)
        return x.astype(np.float32, copy=False)

    def run(self, **arrays) -> Dict[str, np.ndarray]:
        t0 = time.perf_counter()
        it = self.interpreter
        for role, d in self.inputs.items():
            it.set_tensor(d["index"], self._quantize(d, arrays[role]))
        it.invoke()
        out = {role: self._dequantize(d, it.get_tensor(d["index"]))
               for role, d in self.outputs.items()}
        self.ms_total += (time.perf_counter() - t0) * 1e3
        self.calls += 1
        return out


# ---- geometry ------------------------------------------------------------------------
def _round_half_up(v: float) -> int:
    return int(np.floor(v + 0.5))


def letterbox(frame: np.ndarray, height: int, width: int, interpolation: int = cv2.INTER_LINEAR,
              pad_value: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """The manifest's letterbox -> (image uint8 [height, width, 3], A [2, 3]).

    s = min(width / w, height / h); the frame is resized to (round(w s), round(h s)) and
    pasted at ((width - round(w s)) // 2, (height - round(h s)) // 2); A = [[s, 0, ox + c],
    [0, s, oy + c]] with c = (s - 1) / 2 maps frame pixels to input pixels (pixel centres,
    as the resize maps them; back with its inverse): data.affine.letterbox_matrix's matrix.
    """
    h, w = frame.shape[:2]
    s = min(width / w, height / h)
    nw = min(width, max(1, _round_half_up(w * s)))
    nh = min(height, max(1, _round_half_up(h * s)))
    ox, oy = (width - nw) // 2, (height - nh) // 2
    canvas = np.full((height, width, 3), pad_value, np.uint8)
    img = frame if (nw, nh) == (w, h) else cv2.resize(frame, (nw, nh), interpolation=interpolation)
    canvas[oy:oy + nh, ox:ox + nw] = img
    c = (s - 1.0) / 2.0
    return canvas, np.array([[s, 0.0, ox + c], [0.0, s, oy + c]])


def box_crop_matrix(center, side: float, height: int, width: int) -> np.ndarray:
    """A [2, 3]: a square of `side` frame pixels centred on `center` -> the input, fitted to
    the input's shorter side, centre on centre (pixel centres)."""
    s = min(height, width) / max(float(side), 1e-6)
    cx, cy = float(center[0]), float(center[1])
    return np.array([[s, 0.0, (width - 1) / 2.0 - s * cx], [0.0, s, (height - 1) / 2.0 - s * cy]])


def invert_affine(A: np.ndarray) -> np.ndarray:
    R = np.asarray(A[:, :2], np.float64)
    Ri = np.linalg.inv(R)
    return np.concatenate([Ri, (-Ri @ A[:, 2])[:, None]], axis=1)


def compose_affine(B: np.ndarray, A: np.ndarray) -> np.ndarray:
    """B after A."""
    return np.concatenate([B[:, :2] @ A[:, :2], (B[:, :2] @ A[:, 2] + B[:, 2])[:, None]], 1)


def apply_affine(points, A) -> np.ndarray:
    return np.asarray(points, np.float64) @ A[:, :2].T + A[:, 2]


def warp_heatmaps(heatmaps: np.ndarray, A_old: np.ndarray, A_new: np.ndarray,
                  stride: float) -> np.ndarray:
    """Heatmaps [m, n, K] computed in crop A_old -> the same maps in crop A_new (zeros where
    the new crop sees what the old one did not)."""
    m, n = heatmaps.shape[:2]
    D = np.array([[1.0 / stride, 0, 0], [0, 1.0 / stride, 0]])        # input -> heatmap
    Di = np.array([[stride, 0, 0], [0, stride, 0]], np.float64)
    M = compose_affine(D, compose_affine(A_new, compose_affine(invert_affine(A_old), Di)))
    out = cv2.warpAffine(np.ascontiguousarray(heatmaps, np.float32), M, (n, m),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(m, n, -1)


# ---- the tracker ---------------------------------------------------------------------
@dataclass
class Pose:
    """One frame's result: keypoints [K, 2] frame pixels, scores [K], whether the initializer
    ran on this frame, the frame index, and the input region as a box in frame pixels."""

    keypoints: np.ndarray
    scores: np.ndarray
    initializer: bool
    index: int
    roi: Tuple[float, float, float, float]
    raw_keypoints: Optional[np.ndarray] = None  # before smoothing (same as keypoints if none)


@dataclass(frozen=True)
class OneEuroParams:
    """One-Euro parameters for keypoints; speed in person sizes per second. The defaults
    were picked on training-range synthetic videos: with the initializer on every frame they
    cut jitter by about 60% for under 0.5 points of PCK (README, "Edge runtime")."""

    min_cutoff: float = 2.0
    beta: float = 2.0
    d_cutoff: float = 1.0


class KeypointSmoother:
    """One-Euro over keypoints [K, 2] in frame pixels, speed scaled by the person's size."""

    def __init__(self, params: OneEuroParams = OneEuroParams(), rate: float = 30.0):
        self.params = params
        self.filter = OneEuroFilter(params.min_cutoff, params.beta, params.d_cutoff, rate)

    def reset(self) -> None:
        self.filter.reset()

    def __call__(self, keypoints, t: Optional[float] = None, size: float = 1.0) -> np.ndarray:
        return self.filter(keypoints, t, value_scale=1.0 / max(float(size), 1e-6))


@dataclass
class _State:
    features: Optional[np.ndarray] = None
    heatmaps: Optional[np.ndarray] = None
    A: Optional[np.ndarray] = None          # the crop the state lives in
    crop_box: Optional[Tuple] = None        # (cx, cy, side) or None for the whole frame
    prev_frame: Optional[np.ndarray] = None  # for re-anchoring (roi "track" and "person")
    keypoints: Optional[np.ndarray] = None   # raw, frame pixels
    scores: Optional[np.ndarray] = None
    since_init: int = 0
    low_score: bool = False


class PoseTracker:
    """DKD on LiteRT: process(frame) -> Pose, reset() between videos.

    manifest_path: manifest.json or its folder. precision: a key of manifest["models"].
    delegate / num_threads: see make_interpreter. roi: "full", "track" or "person" (module
    docs).
    reinit_every: run the initializer every N frames (0 = never, 1 = every frame).
    reinit_score: re-init on the frame after one whose mean score is below this (None = off).
    smooth: None, True (default One-Euro) or OneEuroParams. fps: the time base for smoothing
    when process() gets no timestamp. With the defaults this is exactly the manifest's loop.
    encoder_head: instead of the loop, run the optional frame_encoder_head graph (F with its
    per-frame head) on every whole frame: no state, no initializer (the small-network
    baseline; roi must be "full"; re-initialisation settings have nothing to act on).
    """

    def __init__(self, manifest_path: str, precision: str = "fp32", delegate=None,
                 num_threads: Optional[int] = None, roi: str = "full", reinit_every: int = 0,
                 reinit_score: Optional[float] = None, smooth=None, fps: float = 30.0,
                 roi_margin: float = 2.0, roi_shift: float = 0.1, roi_zoom: float = 1.2,
                 roi_min_score: float = 0.2, roi_min_joints: int = 4,
                 roi_min_side: float = 0.25, check_sha256: bool = True,
                 encoder_head: bool = False):
        if roi not in ROI_MODES:
            raise UserError(f"roi {roi!r}: choose from {', '.join(ROI_MODES)}")
        if encoder_head and roi != "full":
            raise UserError("encoder_head runs on whole frames: roi must be 'full'")
        self.encoder_head = bool(encoder_head)
        if reinit_every < 0:
            raise UserError(f"reinit_every must be >= 0 (got {reinit_every})")
        self.manifest = load_manifest(manifest_path)
        self.precision = precision
        names = ("frame_encoder_head",) if self.encoder_head else GRAPHS
        files = graph_files(self.manifest, precision, check_sha256, names)
        specs = self.manifest["models"][precision]
        self.graphs = {g: Graph(g, files[g], specs[g], num_threads, delegate) for g in names}
        inp, hm = self.manifest["input"], self.manifest["heatmap"]
        self.input_hw = (int(inp["height"]), int(inp["width"]))
        self.heatmap_hw = (int(hm["height"]), int(hm["width"]))
        self.stride = float(hm["stride"])
        norm = inp["normalization"]
        std = np.asarray(norm["std"], np.float32)
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._bias = (-np.asarray(norm["mean"], np.float32) / std).astype(np.float32)
        self.rgb_input = inp.get("color", "RGB") == "RGB"
        lb = inp.get("letterbox", {})
        self.interpolation = INTERPOLATION[lb.get("interpolation", "linear")]
        self.pad_value = int(lb.get("pad_value", 0))
        self.decode_method = self.manifest["decode"]["method"]
        self.joints = list(self.manifest["joints"])
        self.skeleton = [tuple(e) for e in self.manifest.get("skeleton", [])]
        self.roi, self.reinit_every = roi, int(reinit_every)
        self.reinit_score = None if reinit_score is None else float(reinit_score)
        self.roi_margin, self.roi_shift, self.roi_zoom = roi_margin, roi_shift, roi_zoom
        self.roi_min_score, self.roi_min_joints = roi_min_score, roi_min_joints
        self.roi_min_side = float(roi_min_side)
        if smooth is True:
            smooth = OneEuroParams()
        self.smoother = KeypointSmoother(smooth, fps) if smooth else None
        self.fps = float(fps)
        self.reset()

    # ---- public ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forgets the video: the next frame runs the initializer on the whole frame."""
        self._s = _State()
        self.index = 0
        self.reanchors = 0
        self.coarse_passes = 0
        if self.smoother is not None:
            self.smoother.reset()

    def preprocess(self, frame: np.ndarray, A: Optional[np.ndarray] = None,
                   rgb: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """frame uint8 [h, w, 3] -> (network input float32 [1, H, W, 3], A [2, 3]).

        A None: the manifest's letterbox of the whole frame; else cv2.warpAffine with A."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [h, w, 3] (got {frame.dtype} {frame.shape})")
        if rgb != self.rgb_input:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # the same swap both ways
        H, W = self.input_hw
        if A is None:
            img, A = letterbox(frame, H, W, self.interpolation, self.pad_value)
        else:
            img = cv2.warpAffine(frame, A, (W, H), flags=self.interpolation,
                                 borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=(self.pad_value,) * 3)
        x = img.astype(np.float32) * self._scale + self._bias
        return x[None], A

    def decode(self, heatmaps: np.ndarray, A: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """heatmaps [1, m, n, K] in crop A -> (keypoints [K, 2] frame pixels, scores [K])."""
        kp, sc = decode_heatmaps(heatmaps[0], self.input_hw, self.decode_method)
        return apply_affine(kp, invert_affine(A)), sc

    def process(self, frame: np.ndarray, timestamp: Optional[float] = None,
                rgb: bool = False) -> Pose:
        """One frame (BGR, or RGB with rgb=True) -> Pose; timestamp in seconds (smoothing)."""
        s = self._s
        first = s.heatmaps is None
        init = first or (self.reinit_every > 0 and s.since_init >= self.reinit_every) \
            or s.low_score
        crop_box = None if (first or s.low_score) else self._wanted_crop(frame.shape)
        if self.encoder_head:  # the per-frame baseline (class docs): no state carried
            x, A = self.preprocess(frame, None, rgb)
            s.heatmaps = self.graphs["frame_encoder_head"].run(image=x)["heatmaps"]
            init = False
        elif init:
            if self.roi == "person" and crop_box is None:
                crop_box = self._find_person(frame, rgb)
            A = None if crop_box is None else self._crop_matrix(crop_box)
            x, A = self.preprocess(frame, A, rgb)
            s.features = self.graphs["frame_encoder"].run(image=x)["features"]
            s.heatmaps = self.graphs["pose_initializer"].run(image=x)["heatmaps"]
            s.since_init = 0
        else:
            if self.roi != "full" and self._should_move(s.crop_box, crop_box):
                self._reanchor(crop_box, rgb)
            A = s.A if s.crop_box is not None else None
            x, A = self.preprocess(frame, A, rgb)
            f_new = self.graphs["frame_encoder"].run(image=x)["features"]
            s.heatmaps = self.graphs["dynamic_conv"].run(
                features_prev=s.features, heatmaps_prev=s.heatmaps, features=f_new)["heatmaps"]
            s.features = f_new
            crop_box = s.crop_box
        s.A, s.crop_box = A, crop_box
        s.since_init += 1
        kp, sc = self.decode(s.heatmaps, A)
        s.keypoints, s.scores = kp, sc
        s.low_score = self.reinit_score is not None and float(np.mean(sc)) < self.reinit_score
        if self.roi != "full":
            s.prev_frame = frame.copy()
        out_kp = kp
        if self.smoother is not None:
            t = timestamp if timestamp is not None else self.index / self.fps
            out_kp = self.smoother(kp, t, self._person_size(kp, sc, frame.shape))
        pose = Pose(out_kp.astype(np.float32), sc.astype(np.float32), bool(init), self.index,
                    self._roi_box(A), kp.astype(np.float32))
        self.index += 1
        return pose

    @property
    def graph_ms(self) -> Dict[str, float]:
        """Mean ms per call of each graph so far."""
        return {g: (gr.ms_total / gr.calls if gr.calls else 0.0) for g, gr in self.graphs.items()}

    # ---- ROI ---------------------------------------------------------------------------
    def _confident(self, kp, sc):
        ok = np.isfinite(kp).all(1) & (sc >= self.roi_min_score)
        return kp[ok] if ok.sum() >= self.roi_min_joints else None

    def _person_size(self, kp, sc, shape) -> float:
        pts = self._confident(kp, sc)
        if pts is None:
            return float(max(shape[:2]))
        return float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))

    def _wanted_crop(self, shape):
        """(cx, cy, side) around the previous keypoints, or None (whole frame)."""
        if self.roi == "full" or self._s.keypoints is None:
            return None
        return self._crop_around(self._s.keypoints, self._s.scores, shape)

    def _crop_around(self, kp, sc, shape):
        """(cx, cy, side) around the confident keypoints kp [K, 2], or None (too few)."""
        pts = self._confident(kp, sc)
        if pts is None:
            return None
        # a confident joint far from the others is a false find (a pole, a cone), not a
        # limb: keep joints within 3x the median distance from the joints' median
        d = np.linalg.norm(pts - np.median(pts, axis=0), axis=1)
        near = pts[d <= 3.0 * max(float(np.median(d)), 1.0)]
        if len(near) >= self.roi_min_joints:
            pts = near
        h, w = shape[:2]
        lo, hi = pts.min(0), pts.max(0)
        side = max(hi[0] - lo[0], hi[1] - lo[1]) * self.roi_margin
        side = min(max(side, self.roi_min_side * min(h, w), 16.0), 1.2 * max(h, w))
        c = np.clip((lo + hi) / 2.0, 0.0, [w - 1.0, h - 1.0])  # keep the person's centre in view
        return (float(c[0]), float(c[1]), float(side))

    def _find_person(self, frame, rgb):
        """roi="person": a coarse pass of the initializer over the whole frame; the crop
        around the joints it finds confidently, or None (then the whole frame is used)."""
        x, A = self.preprocess(frame, None, rgb)
        kp, sc = self.decode(self.graphs["pose_initializer"].run(image=x)["heatmaps"], A)
        self.coarse_passes += 1
        return self._crop_around(kp, sc, frame.shape)

    def _should_move(self, cur, want) -> bool:
        if cur is None or want is None:
            return cur != want
        shift = np.hypot(want[0] - cur[0], want[1] - cur[1]) > self.roi_shift * cur[2]
        zoom = max(want[2] / cur[2], cur[2] / want[2]) > self.roi_zoom
        return bool(shift or zoom)

    def _crop_matrix(self, box) -> np.ndarray:
        H, W = self.input_hw
        return box_crop_matrix(box[:2], box[2], H, W)

    def _reanchor(self, box, rgb) -> None:
        """Moves the state into a new crop: encoder on the previous frame there, heatmaps
        warped from the old crop."""
        s = self._s
        A_new = None if box is None else self._crop_matrix(box)
        x, A_new = self.preprocess(s.prev_frame, A_new, rgb)
        s.features = self.graphs["frame_encoder"].run(image=x)["features"]
        s.heatmaps = warp_heatmaps(s.heatmaps[0], s.A, A_new, self.stride)[None]
        s.A, s.crop_box = A_new, box
        self.reanchors += 1

    def _roi_box(self, A) -> Tuple[float, float, float, float]:
        H, W = self.input_hw
        Ai = invert_affine(A)
        (x1, y1), (x2, y2) = apply_affine([[0, 0], [W - 1, H - 1]], Ai)
        return (float(x1), float(y1), float(x2), float(y2))
