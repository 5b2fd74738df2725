"""The manifest's host loop over the exported graphs: LiteRT, NumPy and OpenCV only.

    f = frame_encoder(x0); h = pose_initializer(x0)
    for each next frame x: f_new = frame_encoder(x); h = dynamic_conv(f, h, f_new); f = f_new
    keypoints = decode(h), mapped back through the letterbox

This is the reference loop that verification, the golden clip and the parity tests run
(dkd_tf.runtime.PoseTracker is the full-featured tracker for apps). Shapes: frames uint8
[h, w, 3] RGB; x float32 [1, H, W, 3]; f [1, m, n, C]; h [1, m, n, K]; keypoints [K, 2].
"""
from __future__ import annotations

import os
import time
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..codec import decode_heatmaps
from .litert import load_interpreter
from .manifest import GRAPHS, ROLES

INTERPOLATION = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST,
                 "area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC}


def round_half_up(v: float) -> int:
    return int(np.floor(v + 0.5))


def letterbox(frame: np.ndarray, height: int, width: int, interpolation: str = "linear",
              pad_value: int = 0) -> Tuple[np.ndarray, float, Tuple[int, int]]:
    """The manifest's letterbox -> (canvas uint8 [height, width, 3], s, (ox, oy))."""
    h, w = frame.shape[:2]
    s = min(width / w, height / h)
    nw = min(width, max(1, round_half_up(w * s)))
    nh = min(height, max(1, round_half_up(h * s)))
    ox, oy = (width - nw) // 2, (height - nh) // 2
    canvas = np.full((height, width, 3), pad_value, np.uint8)
    img = frame if (nw, nh) == (w, h) else cv2.resize(frame, (nw, nh),
                                                      interpolation=INTERPOLATION[interpolation])
    canvas[oy:oy + nh, ox:ox + nw] = img
    return canvas, s, (ox, oy)


class EdgeGraphRunner:
    """One exported graph, its tensors found by role: run(**{role: array}) -> {role: array}.
    Keeps the wall time of every call (ms) in `times`."""

    def __init__(self, path: str, entry: dict, num_threads: Optional[int] = None):
        self.path = path
        self.interpreter = load_interpreter(path, num_threads)
        by_name_in = {d["name"]: d for d in self.interpreter.get_input_details()}
        by_name_out = {d["name"]: d for d in self.interpreter.get_output_details()}
        self.inputs = {t["role"]: by_name_in[t["name"]] for t in entry["inputs"]}
        self.outputs = {t["role"]: by_name_out[t["name"]] for t in entry["outputs"]}
        self.times: List[float] = []

    def run(self, **arrays) -> Dict[str, np.ndarray]:
        it = self.interpreter
        t0 = time.perf_counter()
        for role, d in self.inputs.items():
            it.set_tensor(d["index"], np.ascontiguousarray(arrays[role], dtype=d["dtype"]))
        it.invoke()
        out = {role: it.get_tensor(d["index"]).copy() for role, d in self.outputs.items()}
        self.times.append((time.perf_counter() - t0) * 1e3)
        return out


class HostLoop:
    """The three graphs of one precision from an export folder, and the loop over them."""

    def __init__(self, manifest: dict, folder: str, precision: str = "fp32",
                 num_threads: Optional[int] = None):
        self.manifest, self.precision = manifest, precision
        entries = manifest["models"][precision]
        self.graphs = {g: EdgeGraphRunner(os.path.join(folder, entries[g]["file"]), entries[g],
                                          num_threads) for g in GRAPHS}
        for g in GRAPHS:
            want_in, want_out = ROLES[g]
            assert set(self.graphs[g].inputs) == set(want_in), g
            assert set(self.graphs[g].outputs) == set(want_out), g
        inp = manifest["input"]
        self.height, self.width = int(inp["height"]), int(inp["width"])
        self.mean = np.asarray(inp["normalization"]["mean"], np.float32)
        self.std = np.asarray(inp["normalization"]["std"], np.float32)
        self.interp = inp["letterbox"]["interpolation"]
        self.pad = int(inp["letterbox"]["pad_value"])
        self.method = manifest["decode"]["method"]

    # ---- one frame -----------------------------------------------------------------------
    def preprocess(self, frame_rgb: np.ndarray):
        """-> (x [1, H, W, 3], s, (ox, oy))."""
        canvas, s, off = letterbox(frame_rgb, self.height, self.width, self.interp, self.pad)
        x = (canvas.astype(np.float32) / np.float32(255.0) - self.mean) / self.std
        return x[None].astype(np.float32), s, off

    def init(self, x):
        f = self.graphs["frame_encoder"].run(image=x)["features"]
        h = self.graphs["pose_initializer"].run(image=x)["heatmaps"]
        return f, h

    def track(self, f, h, x):
        f_new = self.graphs["frame_encoder"].run(image=x)["features"]
        h = self.graphs["dynamic_conv"].run(features_prev=f, heatmaps_prev=h,
                                            features=f_new)["heatmaps"]
        return f_new, h

    def decode(self, h, s: float = 1.0, offset=(0, 0)):
        """heatmaps [1, m, n, K] -> (keypoints [K, 2] frame pixels, scores [K])."""
        kp, sc = decode_heatmaps(h[0], (self.height, self.width), self.method)
        # pixel centres: the resize puts frame point x at input s * x + ox + (s - 1) / 2
        kp = (kp.astype(np.float64) - np.asarray(offset, np.float64) + 0.5) / s - 0.5
        return kp, sc

    # ---- whole clips -----------------------------------------------------------------
    def heatmaps(self, inputs: np.ndarray) -> np.ndarray:
        """Normalised inputs [T, H, W, 3] (or [T, 1, H, W, 3]) -> heatmaps [T, m, n, K]."""
        xs = np.asarray(inputs, np.float32).reshape(-1, 1, self.height, self.width, 3)
        f, h = self.init(xs[0])
        out = [h[0]]
        for x in xs[1:]:
            f, h = self.track(f, h, x)
            out.append(h[0])
        return np.stack(out)

    def video(self, frames_rgb: np.ndarray):
        """uint8 RGB frames [T, h, w, 3] -> (keypoints [T, K, 2] frame px, scores [T, K])."""
        kps, scs, f, h = [], [], None, None
        for t, frame in enumerate(frames_rgb):
            x, s, off = self.preprocess(frame)
            f, h = self.init(x) if t == 0 else self.track(f, h, x)
            kp, sc = self.decode(h, s, off)
            kps.append(kp)
            scs.append(sc)
        return np.stack(kps), np.stack(scs)

    def ms_per_call(self) -> Dict[str, float]:
        """Median ms per call of each graph so far (the first call, warm-up, excluded)."""
        out = {}
        for g, r in self.graphs.items():
            ts = r.times[1:] or r.times
            out[g] = float(np.median(ts)) if ts else float("nan")
        return out
