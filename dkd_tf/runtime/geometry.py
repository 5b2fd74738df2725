"""Frame geometry of the runtime: the manifest's letterbox, square crops, affine maps
between frame, input and heatmap pixels, and moving heatmaps from one crop to another.

NumPy + OpenCV only. A [2, 3] maps frame pixels to input pixels (pixel centres, as the
resize maps them); points are [..., 2] (x, y).
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

INTERPOLATION = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST,
                 "area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC}


def round_half_up(v: float) -> int:
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
    nw = min(width, max(1, round_half_up(w * s)))
    nh = min(height, max(1, round_half_up(h * s)))
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
