"""The input region of PoseTracker (roi "full", "track" or "person"; the modes are described in
dkd_tf.runtime.tracker's module docs): which crop of the frame the graphs see, when the crop
moves, and re-anchoring the state into a moved crop.

A mixin of PoseTracker: it reads the tracker's settings (roi, roi_margin, roi_shift,
roi_zoom, roi_min_score, roi_min_joints, roi_min_side, input_hw, stride), its state `_s`
and its graphs / preprocess.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..region_policy import REGION_POLICY
from .geometry import apply_affine, invert_affine, warp_heatmaps

ROI_MODES = ("full", "track", "person")


class RegionMixin:
    """The region methods of PoseTracker (see the module docs)."""

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
        return self._crop_around(self._s.keypoints, self._s.scores, shape, outliers=False)

    def _crop_around(self, kp, sc, shape, outliers: bool = True):
        """(cx, cy, side) around the confident keypoints kp [K, 2], or None (too few).

        outliers: leave out joints far from the others. On the whole-frame pass a confident
        joint further than outlier_factor x the joints' median distance from their median
        point is a false find (a pole, a cone), not a limb. Not while tracking: inside the
        crop every joint belongs to the person, and dropping the outermost ones shrank the
        crop onto part of the person (held-out synthetic videos, margin 2: PCK 0.733 with the
        rule while tracking, 0.789 without)."""
        pts = self._confident(kp, sc)
        if pts is None:
            return None
        if outliers:
            d = np.linalg.norm(pts - np.median(pts, axis=0), axis=1)
            near = pts[d <= REGION_POLICY["outlier_factor"] * max(float(np.median(d)), 1.0)]
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

    def _reanchor(self, box, rgb) -> None:
        """Moves the state into a new crop: encoder on the previous frame there, heatmaps
        warped from the old crop."""
        s = self._s
        x, A_new = self.preprocess(s.prev_frame, box, rgb)
        s.features = self.graphs["frame_encoder"].run(image=x)["features"]
        s.heatmaps = warp_heatmaps(s.heatmaps[0], s.A, A_new, self.stride)[None]
        s.A, s.crop_box = A_new, box
        self.reanchors += 1

    def _roi_box(self, A) -> Tuple[float, float, float, float]:
        H, W = self.input_hw
        Ai = invert_affine(A)
        (x1, y1), (x2, y2) = apply_affine([[0, 0], [W - 1, H - 1]], Ai)
        return (float(x1), float(y1), float(x2), float(y2))
