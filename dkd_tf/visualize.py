"""Drawing helpers (OpenCV + NumPy only, so the edge runtime can use them too).

Images are uint8 [H, W, 3] in the colour order of the caller; colours given here are
symmetric enough to read in either order.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .joints import JointSet

_LEFT = (60, 200, 255)
_RIGHT = (255, 120, 60)
_MID = (80, 255, 80)


def _joint_colour(js: JointSet, j: int):
    name = js.names[j]
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _MID


def draw_skeleton(img: np.ndarray, keypoints, js: JointSet, visible=None, scores=None,
                  thickness: int = 1, radius: int = 2) -> np.ndarray:
    """Draws bones and joints onto img in place and returns it.

    keypoints [K, 2] pixels; visible [K] bool (hidden joints drawn hollow); scores [K] printed
    beside each joint when given.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = np.ones(len(kp), bool) if visible is None else np.asarray(visible, bool)
    ok = np.all(np.isfinite(kp), axis=1)
    pts = [tuple(int(round(v)) for v in p) if o else None for p, o in zip(kp, ok)]
    for a, b in js.skeleton:
        if pts[a] is not None and pts[b] is not None:
            cv2.line(img, pts[a], pts[b], _joint_colour(js, b), thickness, cv2.LINE_AA)
    for j, p in enumerate(pts):
        if p is None:
            continue
        cv2.circle(img, p, radius, _joint_colour(js, j), -1 if vis[j] else 1, cv2.LINE_AA)
        if scores is not None:
            cv2.putText(img, f"{scores[j]:.2f}", (p[0] + 3, p[1] - 3), cv2.FONT_HERSHEY_PLAIN,
                        0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def image_grid(images: Sequence[np.ndarray], cols: int, pad: int = 2) -> np.ndarray:
    """Tiles equally sized images [H, W, 3] into one image, row by row."""
    h, w = images[0].shape[:2]
    rows = (len(images) + cols - 1) // cols
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h,
             pad + c * (w + pad): pad + c * (w + pad) + w] = im
    return grid


def write_png(path: str, rgb: np.ndarray) -> None:
    """Writes an RGB image atomically (temporary name, then rename)."""
    import os

    tmp = f"{path}.tmp-{os.getpid()}.png"
    if not cv2.imwrite(tmp, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not write PNG")
    os.replace(tmp, path)
