"""The manifest's host loop over the exported graphs, for the export library: a thin view
of the runtime's PoseTracker (dkd_tf.runtime.tracker: the one loop of every backend).

    f = frame_encoder(x0); h = pose_initializer(x0)
    for each next frame x: f_new = frame_encoder(x); h = dynamic_conv(f, h, f_new); f = f_new
    keypoints = decode(h), mapped back through the letterbox

Verification, the golden clip and the parity tests run it. It speaks in the letterbox's
(s, offset) where the tracker speaks in affine maps. Shapes: frames uint8 [h, w, 3] RGB;
x float32 [1, H, W, 3]; f [1, m, n, C]; h [1, m, n, K]; keypoints [K, 2].
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from ..runtime import PoseTracker


def _offset(A: np.ndarray) -> Tuple[int, int]:
    """The letterbox's paste offset (ox, oy): A's translation less (s - 1) / 2."""
    c = (A[0, 0] - 1.0) / 2.0
    return int(round(A[0, 2] - c)), int(round(A[1, 2] - c))


class HostLoop:
    """The three graphs of one precision from an export folder, and the loop over them.

    backend: "litert" (default) or "onnxruntime" (the manifest's "onnx" section)."""

    def __init__(self, manifest: dict, folder: str, precision: str = "fp32",
                 num_threads: Optional[int] = None, backend: str = "litert", **kwargs):
        self.tracker = PoseTracker(manifest, precision, num_threads=num_threads,
                                   backend=backend, folder=folder, **kwargs)
        self.manifest, self.precision = self.tracker.manifest, precision
        self.graphs = self.tracker.graphs
        self.height, self.width = self.tracker.input_hw
        self.method = self.tracker.decode_method

    def preprocess(self, frame_rgb: np.ndarray):
        """-> (x [1, H, W, 3], s, (ox, oy))."""
        x, A = self.tracker.preprocess(frame_rgb, rgb=True)
        return x, float(A[0, 0]), _offset(A)

    def init(self, x):
        return self.tracker.initialize(x)

    def track(self, f, h, x):
        return self.tracker.track(f, h, x)

    def decode(self, h, s: float = 1.0, offset=(0, 0)):
        """heatmaps [1, m, n, K] -> (keypoints [K, 2] frame pixels, scores [K])."""
        c = (s - 1.0) / 2.0
        A = np.array([[s, 0.0, offset[0] + c], [0.0, s, offset[1] + c]])
        return self.tracker.decode(h, A)

    def heatmaps(self, inputs: np.ndarray) -> np.ndarray:
        """Normalised inputs [T, H, W, 3] (or [T, 1, H, W, 3]) -> heatmaps [T, m, n, K]."""
        return self.tracker.heatmaps(inputs)

    def video(self, frames_rgb: np.ndarray):
        """uint8 RGB frames [T, h, w, 3] -> (keypoints [T, K, 2] frame px, scores [T, K])."""
        return self.tracker.video(frames_rgb)

    def ms_per_call(self) -> Dict[str, float]:
        """Median ms per call of each graph so far (the first call, warm-up, excluded)."""
        return self.tracker.ms_per_call()
