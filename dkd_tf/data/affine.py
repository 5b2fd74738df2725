"""Affine crops (pure NumPy): frame pixels <-> network-input pixels.

A crop is a 2x3 matrix A with [x', y'] = A @ [x, y, 1], mapping 0-based frame pixel centres
to input pixel centres; cv2.warpAffine(frame, A, (size, size)) renders it. Shapes: points
[..., 2]; A [2, 3].
"""
from __future__ import annotations

import numpy as np


def crop_matrix(center, box_size: float, out_size: int, rotation_deg: float = 0.0,
                flip: bool = False) -> np.ndarray:
    """Maps a square of side box_size centred on `center` (rotated by rotation_deg,
    counter-clockwise in the image, and mirrored when flip) onto an out_size square."""
    s = out_size / float(box_size)
    a = np.deg2rad(rotation_deg)
    c, si = np.cos(a) * s, np.sin(a) * s
    R = np.array([[c, si], [-si, c]])
    if flip:
        R = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ R
    half = (out_size - 1) / 2.0
    t = np.array([half, half]) - R @ np.asarray(center, dtype=np.float64)
    return np.concatenate([R, t[:, None]], axis=1)


def letterbox_matrix(frame_hw, out_size: int) -> np.ndarray:
    """The manifest's letterbox: scale s = min(out/w, out/h), resized frame centred with
    offset ((out - round(w s)) // 2, (out - round(h s)) // 2), round half up (as the edge
    runtime rounds; Python's round() would take 66.5 to 66); as an affine matrix in pixel-
    centre coordinates (pixel i at i): x_input = s * x_frame + ox + (s - 1) / 2, which is
    where a resize (cv2.resize, Android's scaled bitmaps: half-pixel centres) puts frame
    point x_frame. Without the (s - 1) / 2 term a warp and a resize+paste of the same frame
    differ by that much (0.4 input px, 2 frame px, at 640 -> 128)."""
    h, w = frame_hw
    s = min(out_size / w, out_size / h)
    ox = (out_size - int(np.floor(w * s + 0.5))) // 2
    oy = (out_size - int(np.floor(h * s + 0.5))) // 2
    c = (s - 1.0) / 2.0
    return np.array([[s, 0.0, ox + c], [0.0, s, oy + c]])


def apply_affine(points, A) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    return p @ A[:, :2].T + A[:, 2]


def invert_affine(A) -> np.ndarray:
    R = np.asarray(A[:, :2], dtype=np.float64)
    Ri = np.linalg.inv(R)
    return np.concatenate([Ri, (-Ri @ A[:, 2])[:, None]], axis=1)
