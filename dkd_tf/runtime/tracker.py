"""The edge tracker: three exported graphs and the host loop that carries their state, the
one loop of every backend (LiteRT .tflite or onnxruntime .onnx; dkd_tf.runtime.backends).

Imports NumPy, OpenCV and the chosen backend only (never TensorFlow, the models, the data
pipeline or training: a phone has none of them; docs/design.md §4). The input region's
methods live in region.py.

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
           crop (geometry.warp_heatmaps). So a tracked frame costs the encoder twice only on
           the frames where the crop moves. A crop is an integer square window of the frame
           (geometry.crop_window: side and corner rounded half up; pad_value outside the
           frame) letterboxed into the input like a whole frame (geometry.window_crop), so
           every port computes the same input pixels. Initializer frames take the wanted
           crop directly (or the whole frame when the re-init was triggered by a low score,
           or when fewer than roi_min_joints joints are confident enough to define a box).
           The side is kept within [roi_min_side x the frame's shorter side, 1.2 x its
           longer side] and the centre inside the frame.
  "person": as "track", but an initializer frame that has no crop to go by (the first frame,
           or one after a low score) first finds the person: the initializer runs once on
           the whole letterboxed frame, and the crop around the joints it finds (leaving out
           a confident joint further than 3x the joints' median distance from their median
           point: a pole or a cone found as a wrist) is where the initializer and the
           encoder then run (the state lives in that crop). Without enough confident joints
           the whole frame is used, as in "full". Real people are often small and
           off-centre in a frame. The default of `infer` (dkd_tf/region_policy.py, margin
           2.5; measured on real footage and held-out synthetic videos, README "Real
           people").

Re-initialisation: the initializer runs again every `reinit_every` frames (0 = never)
and on the frame after one whose mean joint score fell below `reinit_score` (None = off).

Smoothing: `smooth=OneEuroParams(...)` (or True for the defaults) filters the output
keypoints with a One-Euro filter in time, the speed measured in units of the person's size
(dkd_tf.one_euro). The state and the crops use the unsmoothed keypoints.

Shapes: frames uint8 [h, w, 3] BGR (or RGB with rgb=True); keypoints [K, 2] frame pixels
(x, y); scores [K] (heatmap maxima); A [2, 3] maps frame pixels to input pixels.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..codec import decode_heatmaps
from ..errors import UserError
from .geometry import (INTERPOLATION, apply_affine, crop_window, invert_affine, letterbox,
                       window_crop)
from .graph import Graph
from .manifest import (GRAPHS, check_backend, check_manifest, graph_files, graph_specs,
                       load_manifest)
from ..region_policy import REGION_POLICY as _P
from .region import ROI_MODES, RegionMixin
from .smoothing import KeypointSmoother, OneEuroParams


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


class PoseTracker(RegionMixin):
    """DKD on LiteRT or onnxruntime: process(frame) -> Pose, reset() between videos.

    manifest_path: manifest.json or its folder, or a manifest dict (then `folder` says where
    its files are). precision: a key of manifest["models"] (litert) or manifest["onnx"]
    (onnxruntime). backend: "litert" or "onnxruntime" (dkd_tf.runtime.backends).
    delegate (LiteRT) / providers (onnxruntime) / num_threads: see backends.load_model.
    roi: "full", "track" or "person" (module docs).
    reinit_every: run the initializer every N frames (0 = never, 1 = every frame).
    reinit_score: re-init on the frame after one whose mean score is below this (None = off).
    smooth: None, True (default One-Euro) or OneEuroParams. fps: the time base for smoothing
    when process() gets no timestamp. With the defaults this is exactly the manifest's loop.
    encoder_head: instead of the loop, run the optional frame_encoder_head graph (F with its
    per-frame head) on every whole frame: no state, no initializer (the small-network
    baseline; roi must be "full"; re-initialisation settings have nothing to act on).
    """

    def __init__(self, manifest_path: Union[str, dict], precision: str = "fp32", delegate=None,
                 num_threads: Optional[int] = None, roi: str = "full", reinit_every: int = 0,
                 reinit_score: Optional[float] = None, smooth=None, fps: float = 30.0,
                 roi_margin: float = _P["margin"], roi_shift: float = _P["shift"],
                 roi_zoom: float = _P["zoom"], roi_min_score: float = _P["min_score"],
                 roi_min_joints: int = _P["min_joints"], roi_min_side: float = _P["min_side"],
                 check_sha256: bool = True,
                 backend: str = "litert", providers: Optional[Sequence[str]] = None,
                 folder: Optional[str] = None, encoder_head: bool = False):
        if roi not in ROI_MODES:
            raise UserError(f"roi {roi!r}: choose from {', '.join(ROI_MODES)}")
        if encoder_head and roi != "full":
            raise UserError("encoder_head runs on whole frames: roi must be 'full'")
        self.encoder_head = bool(encoder_head)
        if reinit_every < 0:
            raise UserError(f"reinit_every must be >= 0 (got {reinit_every})")
        if isinstance(manifest_path, dict):
            self.manifest = check_manifest(dict(manifest_path),
                                           os.path.join(folder or ".", "manifest.json"))
        else:
            self.manifest = load_manifest(manifest_path)
        self.precision, self.backend = precision, check_backend(backend)
        names = ("frame_encoder_head",) if self.encoder_head else GRAPHS
        files = graph_files(self.manifest, precision, check_sha256, backend, names)
        specs = graph_specs(self.manifest, precision, backend)
        self.graphs = {g: Graph(g, files[g], specs[g], num_threads, delegate, backend,
                                providers, precision) for g in names}
        inp, hm = self.manifest["input"], self.manifest["heatmap"]
        self.input_hw = (int(inp["height"]), int(inp["width"]))
        self.heatmap_hw = (int(hm["height"]), int(hm["width"]))
        self.stride = float(hm["stride"])
        norm = inp["normalization"]
        self._mean = np.asarray(norm["mean"], np.float32)
        self._std = np.asarray(norm["std"], np.float32)
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

    def preprocess(self, frame: np.ndarray, box: Optional[Tuple] = None,
                   rgb: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """frame uint8 [h, w, 3] -> (network input float32 [1, H, W, 3], A [2, 3]).

        box None: the manifest's letterbox of the whole frame; a crop box (cx, cy, side):
        its integer window (geometry.crop_window) letterboxed the same way (window_crop)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [h, w, 3] (got {frame.dtype} {frame.shape})")
        if rgb != self.rgb_input:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # the same swap both ways
        H, W = self.input_hw
        if box is None:
            img, A = letterbox(frame, H, W, self.interpolation, self.pad_value)
        else:
            img, A = window_crop(frame, crop_window(box[:2], box[2]), H, W, self.interpolation,
                                 self.pad_value)
        # the manifest's formula, operation for operation (the golden clip was made so)
        x = (img.astype(np.float32) / np.float32(255.0) - self._mean) / self._std
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
            x, A = self.preprocess(frame, crop_box, rgb)
            s.features, s.heatmaps = self.initialize(x)
            s.since_init = 0
        else:
            if self.roi != "full" and self._should_move(s.crop_box, crop_box):
                self._reanchor(crop_box, rgb)
            x, A = self.preprocess(frame, s.crop_box, rgb)
            s.features, s.heatmaps = self.track(s.features, s.heatmaps, x)
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

    def ms_per_call(self) -> Dict[str, float]:
        """Median ms per call of each graph so far (the first call, warm-up, excluded)."""
        return {g: gr.median_ms() for g, gr in self.graphs.items()}

    def describe(self) -> str:
        """Which backend runs the graphs and on what, e.g. "onnxruntime 1.32.0 on
        CPUExecutionProvider" (the device of every graph, when they differ)."""
        from .backends import backend_version

        devices = list(dict.fromkeys(gr.model.device for gr in self.graphs.values()))
        return f"{backend_version(self.backend)} on {', '.join(devices)}"

    # ---- the manifest's loop, one step at a time -----------------------------------------
    def initialize(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Input x [1, H, W, 3] -> state (features [1, m, n, C], heatmaps [1, m, n, K])."""
        f = self.graphs["frame_encoder"].run(image=x)["features"]
        h = self.graphs["pose_initializer"].run(image=x)["heatmaps"]
        return f, h

    def track(self, f: np.ndarray, h: np.ndarray, x: np.ndarray
              ) -> Tuple[np.ndarray, np.ndarray]:
        """State (f, h) and the next input x -> the next state (f_new, h_new)."""
        f_new = self.graphs["frame_encoder"].run(image=x)["features"]
        h = self.graphs["dynamic_conv"].run(features_prev=f, heatmaps_prev=h,
                                            features=f_new)["heatmaps"]
        return f_new, h

    def heatmaps(self, inputs: np.ndarray) -> np.ndarray:
        """Normalised inputs [T, H, W, 3] (or [T, 1, H, W, 3]) -> heatmaps [T, m, n, K]: the
        initializer on the first, tracking on every next one (what the exporter checks
        against the Keras unroll)."""
        H, W = self.input_hw
        xs = np.asarray(inputs, np.float32).reshape(-1, 1, H, W, 3)
        f, h = self.initialize(xs[0])
        out = [h[0]]
        for x in xs[1:]:
            f, h = self.track(f, h, x)
            out.append(h[0])
        return np.stack(out)

    def video(self, frames_rgb) -> Tuple[np.ndarray, np.ndarray]:
        """uint8 RGB frames [T, h, w, 3] from the start of a video -> (raw keypoints
        [T, K, 2] frame pixels, scores [T, K]) under this tracker's settings (the defaults:
        exactly the manifest's loop)."""
        self.reset()
        poses = [self.process(f, rgb=True) for f in frames_rgb]
        return (np.stack([p.raw_keypoints for p in poses]).astype(np.float64),
                np.stack([p.scores for p in poses]))
