"""Frame geometry of the runtime: the manifest's letterbox, square crops, affine maps
between frame, input and heatmap pixels, and moving heatmaps from one crop to another.

A crop is an integer window of the frame letterboxed like a whole frame (crop_window,
window_crop), and moving heatmaps between two crops is a separable bilinear warp in a fixed
order (warp_heatmaps): both are defined so that web/imageops.js computes the same numbers
bit for bit (cv2.resize's arithmetic is ported there; nothing goes through warpAffine).

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


def letterbox_geometry(w: int, h: int, height: int, width: int):
    """The letterbox of a w x h image into height x width -> (nw, nh, ox, oy, A): resized
    size, paste offset and A [2, 3] (letterbox's docs)."""
    s = min(width / w, height / h)
    nw = min(width, max(1, round_half_up(w * s)))
    nh = min(height, max(1, round_half_up(h * s)))
    ox, oy = (width - nw) // 2, (height - nh) // 2
    c = (s - 1.0) / 2.0
    return nw, nh, ox, oy, np.array([[s, 0.0, ox + c], [0.0, s, oy + c]])


def letterbox(frame: np.ndarray, height: int, width: int, interpolation: int = cv2.INTER_LINEAR,
              pad_value: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """The manifest's letterbox -> (image uint8 [height, width, 3], A [2, 3]).

    s = min(width / w, height / h); the frame is resized to (round(w s), round(h s)) and
    pasted at ((width - round(w s)) // 2, (height - round(h s)) // 2); A = [[s, 0, ox + c],
    [0, s, oy + c]] with c = (s - 1) / 2 maps frame pixels to input pixels (pixel centres,
    as the resize maps them; back with its inverse): data.affine.letterbox_matrix's matrix.
    """
    h, w = frame.shape[:2]
    nw, nh, ox, oy, A = letterbox_geometry(w, h, height, width)
    canvas = np.full((height, width, 3), pad_value, np.uint8)
    img = frame if (nw, nh) == (w, h) else cv2.resize(frame, (nw, nh), interpolation=interpolation)
    canvas[oy:oy + nh, ox:ox + nw] = img
    return canvas, A


def crop_window(center, side: float) -> Tuple[int, int, int]:
    """A wanted square crop (centre (cx, cy), side, frame pixels, floats) -> the integer
    window (x0, y0, n) it stands for: the frame pixels [x0, x0 + n) x [y0, y0 + n) with
    n = max(1, round(side)), x0 = round(cx - (n - 1) / 2), y0 = round(cy - (n - 1) / 2),
    round half up (floor(v + 0.5)): the window whose centre is nearest (cx, cy)."""
    n = max(1, round_half_up(float(side)))
    return (round_half_up(float(center[0]) - (n - 1) / 2.0),
            round_half_up(float(center[1]) - (n - 1) / 2.0), n)


def window_crop(frame: np.ndarray, window, height: int, width: int,
                interpolation: int = cv2.INTER_LINEAR, pad_value: int = 0
                ) -> Tuple[np.ndarray, np.ndarray]:
    """The crop of an integer window (x0, y0, n) (crop_window) -> (image uint8 [height,
    width, 3], A [2, 3]): the n x n frame pixels inside the window (pad_value where it leaves
    the frame), letterboxed into the input as a whole frame is (the same resize, so any
    port of the letterbox computes the same pixels); A is the window's letterbox A after the
    shift by (-x0, -y0): [[s, 0, (ox + c) - s x0], [0, s, (oy + c) - s y0]]."""
    x0, y0, n = (int(v) for v in window)
    h, w = frame.shape[:2]
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + n, w), min(y0 + n, h)
    if (xa, ya, xb, yb) == (x0, y0, x0 + n, y0 + n):
        patch = frame[y0:y0 + n, x0:x0 + n]          # inside the frame: a view
    else:
        patch = np.full((n, n) + frame.shape[2:], pad_value, np.uint8)
        if xb > xa and yb > ya:
            patch[ya - y0:yb - y0, xa - x0:xb - x0] = frame[ya:yb, xa:xb]
    img, A = letterbox(patch, height, width, interpolation, pad_value)
    A[0, 2] -= A[0, 0] * x0
    A[1, 2] -= A[1, 1] * y0
    return img, A


def invert_affine(A: np.ndarray) -> np.ndarray:
    """The inverse map, in closed form (web/region.js invertAffine: the same operations)."""
    (a, b, tx), (c, d, ty) = np.asarray(A, np.float64)
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return np.array([[ia, ib, -(ia * tx + ib * ty)], [ic, id_, -(ic * tx + id_ * ty)]])


def apply_affine(points, A) -> np.ndarray:
    return np.asarray(points, np.float64) @ A[:, :2].T + A[:, 2]


def _heatmap_taps(n: int, s_old: float, t_old: float, s_new: float, t_new: float,
                  stride: float):
    """One axis of warp_heatmaps: for new cells j = 0..n-1 the old cell q = (s_old ((stride j
    - t_new) / s_new) + t_old) / stride they sample -> (index of floor(q), of floor(q) + 1,
    into the maps padded by one zero cell each side; weights 1 - a, a; a = q - floor(q))."""
    j = np.arange(n, dtype=np.float64)
    q = (s_old * ((stride * j - t_new) / s_new) + t_old) / stride
    q0 = np.floor(q)
    a = q - q0
    i0 = np.clip(q0, -1, n).astype(np.int64) + 1
    i1 = np.clip(q0 + 1, -1, n).astype(np.int64) + 1
    return i0, i1, 1.0 - a, a


def warp_heatmaps(heatmaps: np.ndarray, A_old: np.ndarray, A_new: np.ndarray,
                  stride: float) -> np.ndarray:
    """Heatmaps [m, n, K] computed in crop A_old -> the same maps in crop A_new (zeros where
    the new crop sees what the old one did not).

    Both maps are a scale and a shift (the letterbox, window_crop), so the warp is separable:
    heatmap cell j is input pixel stride j; new cell (i, j) samples the old maps bilinearly at
    (q_y(i), q_x(j)) (_heatmap_taps), zero outside them, in float64 in one fixed order
    (t0 = wx0 h[y0, x0] + wx1 h[y0, x1], t1 likewise on row y1, out = wy0 t0 + wy1 t1),
    rounded to float32 once: web/imageops.js warpHeatmaps does the same operations, so the
    page's re-anchored state is bit for bit this one."""
    A_old, A_new = np.asarray(A_old, np.float64), np.asarray(A_new, np.float64)
    if A_old[0, 1] or A_old[1, 0] or A_new[0, 1] or A_new[1, 0]:
        raise ValueError("warp_heatmaps: the crops must be a scale and a shift")
    m, n = heatmaps.shape[:2]
    hm = np.pad(np.asarray(heatmaps, np.float32).reshape(m, n, -1).astype(np.float64),
                ((1, 1), (1, 1), (0, 0)))
    x0, x1, wx0, wx1 = _heatmap_taps(n, A_old[0, 0], A_old[0, 2], A_new[0, 0], A_new[0, 2],
                                     stride)
    y0, y1, wy0, wy1 = _heatmap_taps(m, A_old[1, 1], A_old[1, 2], A_new[1, 1], A_new[1, 2],
                                     stride)
    wx0, wx1 = wx0[None, :, None], wx1[None, :, None]
    r0, r1 = hm[y0], hm[y1]                                   # [m, n + 2, K]
    t0 = wx0 * r0[:, x0] + wx1 * r0[:, x1]
    t1 = wx0 * r1[:, x0] + wx1 * r1[:, x1]
    return (wy0[:, None, None] * t0 + wy1[:, None, None] * t1).astype(np.float32)
