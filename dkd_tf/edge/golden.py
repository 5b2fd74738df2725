"""The golden clip: a short synthetic video as PNG frames plus the keypoints the exported
fp32 loop gives on it (expected.json), for checking a port on a device.

The frames are 4:3 (wider than tall), so a port exercises the whole letterbox: resize,
padding above and below, and the mapping back to frame pixels.

expected.json: {"video", "fps", "joints": [names], "frames": [{"index", "file",
"keypoints": [[x, y, score], ...] frame pixels, "initializer": bool}], plus "precision",
"frame_size" [w, h], "letterbox" {"s", "offset"}, "decode", "tolerance"}.
"""
from __future__ import annotations

import json
import os
from typing import Sequence

import cv2
import numpy as np

from ..heldout import FIRST_VIDEO, heldout_video

GOLDEN_FRAMES = 12
FPS = 30
EXPECTED = "expected.json"


def golden_clip(input_size: int, seed: int, frames: int = GOLDEN_FRAMES) -> dict:
    """A held-out synthetic video rendered at 1.25 x the input size and cropped to 4:3:
    {"frames" uint8 [T, h, w, 3] RGB, "joints" [T, K, 2] frame px, "visible", "video"}."""
    size = int(round(input_size * 1.25 / 8)) * 8
    h = size * 3 // 4
    top = (size - h) // 2
    v = heldout_video(size, frames, seed)
    joints = v["joints"] - np.array([0.0, top], np.float32)
    inside = (joints[..., 1] >= 0) & (joints[..., 1] <= h - 1)
    return {"frames": np.ascontiguousarray(v["frames"][:, top:top + h]), "joints": joints,
            "visible": v["visible"] & inside,
            "video": f"synthetic seed {seed} video {FIRST_VIDEO} ({v['action']}), "
                     f"{size}x{size} cropped to {size}x{h}"}


def write_golden(folder: str, clip: dict, keypoints: np.ndarray, scores: np.ndarray,
                 joint_names: Sequence[str], letterbox: dict, decode: str,
                 precision: str = "fp32", tolerance: dict | None = None) -> dict:
    """Writes NNNN.png frames and expected.json into folder; returns the expected dict."""
    os.makedirs(folder, exist_ok=True)
    frames = []
    for i, (img, kp, sc) in enumerate(zip(clip["frames"], keypoints, scores)):
        name = f"{i:04d}.png"
        if not cv2.imwrite(os.path.join(folder, name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{folder}: cannot write {name}")
        frames.append({"index": i, "file": name,
                       "keypoints": [[round(float(x), 4), round(float(y), 4),
                                      round(float(s), 5)] for (x, y), s in zip(kp, sc)],
                       "initializer": i == 0})
    h, w = clip["frames"].shape[1:3]
    expected = {"video": clip["video"], "fps": FPS, "joints": list(joint_names),
                "frames": frames, "precision": precision, "frame_size": [int(w), int(h)],
                "letterbox": letterbox, "decode": decode,
                "tolerance": tolerance or {}}
    with open(os.path.join(folder, EXPECTED), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    return expected
