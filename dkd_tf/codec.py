"""Heatmap codec: keypoints <-> Gaussian heatmaps (pure NumPy, plus a TF decode for graphs).

Coordinate convention (used everywhere in dkd_tf): keypoints are (x, y) in 0-based pixel
centres of the network input; a joint at input pixel x sits at heatmap coordinate
x / stride, where stride = input_size / heatmap_size per axis (4 in every preset), so decoding
multiplies the refined heatmap coordinate by the stride. Sizes are (height, width), or one int
for a square.

Shapes: keypoints [..., K, 2], visible [..., K], heatmaps [..., h, w, K], scores [..., K].
"""
from __future__ import annotations

from typing import Tuple, Union

import numpy as np

Size = Union[int, Tuple[int, int]]
DECODE_METHODS = ("dark", "quarter", "argmax")
# DARK's log of a heatmap needs a floor: predicted maps touch zero and go negative.
DARK_EPS = 1e-10


def _hw(size: Size) -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def encode_heatmaps(keypoints, visible, image_size: Size, heatmap_size: Size,
                    sigma: float = 2.0) -> np.ndarray:
    """Unnormalised Gaussian heatmaps (peak height 1 at the joint's heatmap coordinate).

    keypoints [..., K, 2] input pixels, visible [..., K] (bool or 0/1) -> float32 [..., h, w, K].
    Invisible joints, non-finite coordinates and joints outside the input frame
    (x < 0, x > W - 1, same for y) get an all-zero map. sigma is in heatmap cells.
    """
    ih, iw = _hw(image_size)
    hh, hw = _hw(heatmap_size)
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = np.asarray(visible).astype(bool)
    finite = np.all(np.isfinite(kp), axis=-1)
    kp = np.where(finite[..., None], kp, 0.0)
    inside = ((kp[..., 0] >= 0) & (kp[..., 0] <= iw - 1)
              & (kp[..., 1] >= 0) & (kp[..., 1] <= ih - 1))
    keep = vis & finite & inside
    cx = kp[..., 0] * (hw / iw)  # [..., K]
    cy = kp[..., 1] * (hh / ih)
    gx = np.exp(-((np.arange(hw) - cx[..., None]) ** 2) / (2.0 * sigma ** 2))  # [..., K, w]
    gy = np.exp(-((np.arange(hh) - cy[..., None]) ** 2) / (2.0 * sigma ** 2))  # [..., K, h]
    maps = gy[..., :, None] * gx[..., None, :]  # [..., K, h, w]
    maps = maps * keep[..., None, None]
    return np.moveaxis(maps, -3, -1).astype(np.float32)


def _take(flat, idx):
    """flat [N, h*w], idx [N] -> [N]."""
    return np.take_along_axis(flat, idx[:, None], axis=1)[:, 0]


def decode_heatmaps(heatmaps, image_size: Size, method: str = "dark"):
    """Heatmaps [..., h, w, K] -> (keypoints [..., K, 2] in input pixels, scores [..., K]).

    argmax:  the arg-max cell.
    quarter: the arg-max moved a quarter cell towards the higher neighbour on each axis.
    dark:    a Taylor (Newton) step on the log heatmap (DARK, Zhang et al. 2020): derivatives
             by central differences on a 3x3 stencil centred on the arg-max, clamped one cell
             in from the border so border peaks are refined too; the step is taken only where
             the log-Hessian is negative definite (else the quarter rule), and the result is
             clamped to within half a cell of the arg-max (one cell outwards on a border
             cell, where the peak may lie past the last cell centre). Exact for a Gaussian.
    scores:  the heatmap maximum.
    """
    if method not in DECODE_METHODS:
        raise ValueError(f"unknown decode method {method!r}; choose from {DECODE_METHODS}")
    hm = np.asarray(heatmaps, dtype=np.float32)
    *lead, h, w, k = hm.shape
    ih, iw = _hw(image_size)
    flat = np.moveaxis(hm.reshape(-1, h, w, k), -1, 1).reshape(-1, h * w)  # [N, h*w]
    idx = np.argmax(flat, axis=1)
    scores = flat[np.arange(flat.shape[0]), idx]
    iy, ix = idx // w, idx % w
    x, y = ix.astype(np.float64), iy.astype(np.float64)
    if method in ("quarter", "dark"):
        has_x = (ix > 0) & (ix < w - 1)
        has_y = (iy > 0) & (iy < h - 1)
        right = _take(flat, iy * w + np.minimum(ix + 1, w - 1))
        left = _take(flat, iy * w + np.maximum(ix - 1, 0))
        down = _take(flat, np.minimum(iy + 1, h - 1) * w + ix)
        up = _take(flat, np.maximum(iy - 1, 0) * w + ix)
        qx = np.where(has_x, 0.25 * np.sign(right - left), 0.0)
        qy = np.where(has_y, 0.25 * np.sign(down - up), 0.0)
        if method == "quarter" or w < 3 or h < 3:
            x, y = x + qx, y + qy
        else:
            x, y = _dark_step(flat, ix, iy, h, w, x + qx, y + qy)
    kp = np.stack([x * (iw / w), y * (ih / h)], axis=-1)
    kp = kp.reshape(*lead, k, 2).astype(np.float32)
    return kp, scores.reshape(*lead, k).astype(np.float32)


def _dark_step(flat, ix, iy, h, w, fallback_x, fallback_y):
    cx = np.clip(ix, 1, w - 2)
    cy = np.clip(iy, 1, h - 2)
    logf = np.log(np.maximum(flat, DARK_EPS).astype(np.float64))

    def at(dx, dy):
        return _take(logf, (cy + dy) * w + (cx + dx))

    f0 = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = at(1, 0) - 2 * f0 + at(-1, 0)
    dyy = at(0, 1) - 2 * f0 + at(0, -1)
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy * dxy
    ok = (dxx < 0) & (det > 0)
    safe = np.where(ok, det, 1.0)
    ox = -(dyy * gx - dxy * gy) / safe
    oy = -(-dxy * gx + dxx * gy) / safe
    x = np.clip(cx + ox, ix - np.where(ix > 0, 0.5, 1.0), ix + np.where(ix < w - 1, 0.5, 1.0))
    y = np.clip(cy + oy, iy - np.where(iy > 0, 0.5, 1.0), iy + np.where(iy < h - 1, 0.5, 1.0))
    return np.where(ok, x, fallback_x), np.where(ok, y, fallback_y)


def decode_heatmaps_tf(heatmaps, image_size: Size, method: str = "dark"):
    """TensorFlow twin of `decode_heatmaps` (same rules, float32), for use inside graphs.

    heatmaps [B, h, w, K] -> (keypoints [B, K, 2], scores [B, K]).
    """
    if method not in DECODE_METHODS:
        raise ValueError(f"unknown decode method {method!r}; choose from {DECODE_METHODS}")
    import tensorflow as tf  # local: the NumPy core must import without TensorFlow
    hm = tf.convert_to_tensor(heatmaps, tf.float32)
    h, w, k = hm.shape[1], hm.shape[2], hm.shape[3]
    ih, iw = _hw(image_size)
    flat = tf.reshape(tf.transpose(hm, [0, 3, 1, 2]), [-1, h * w])  # [N, h*w]
    idx = tf.argmax(flat, axis=1, output_type=tf.int32)
    scores = tf.reduce_max(flat, axis=1)
    iy, ix = idx // w, idx % w

    def take(src, i):
        return tf.gather(src, i[:, None], batch_dims=1)[:, 0]

    x = tf.cast(ix, tf.float32)
    y = tf.cast(iy, tf.float32)
    if method in ("quarter", "dark"):
        has_x = (ix > 0) & (ix < w - 1)
        has_y = (iy > 0) & (iy < h - 1)
        right = take(flat, iy * w + tf.minimum(ix + 1, w - 1))
        left = take(flat, iy * w + tf.maximum(ix - 1, 0))
        down = take(flat, tf.minimum(iy + 1, h - 1) * w + ix)
        up = take(flat, tf.maximum(iy - 1, 0) * w + ix)
        qx = tf.where(has_x, 0.25 * tf.sign(right - left), 0.0)
        qy = tf.where(has_y, 0.25 * tf.sign(down - up), 0.0)
        if method == "quarter" or w < 3 or h < 3:
            x, y = x + qx, y + qy
        else:
            cx = tf.clip_by_value(ix, 1, w - 2)
            cy = tf.clip_by_value(iy, 1, h - 2)
            logf = tf.math.log(tf.maximum(flat, DARK_EPS))

            def at(dx, dy):
                return take(logf, (cy + dy) * w + (cx + dx))

            f0 = at(0, 0)
            gx = 0.5 * (at(1, 0) - at(-1, 0))
            gy = 0.5 * (at(0, 1) - at(0, -1))
            dxx = at(1, 0) - 2 * f0 + at(-1, 0)
            dyy = at(0, 1) - 2 * f0 + at(0, -1)
            dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
            det = dxx * dyy - dxy * dxy
            ok = (dxx < 0) & (det > 0)
            safe = tf.where(ok, det, 1.0)
            ox = -(dyy * gx - dxy * gy) / safe
            oy = -(-dxy * gx + dxx * gy) / safe
            fx = tf.cast(ix, tf.float32)
            fy = tf.cast(iy, tf.float32)
            dx_ = tf.clip_by_value(tf.cast(cx, tf.float32) + ox,
                                   fx - tf.where(ix > 0, 0.5, 1.0),
                                   fx + tf.where(ix < w - 1, 0.5, 1.0))
            dy_ = tf.clip_by_value(tf.cast(cy, tf.float32) + oy,
                                   fy - tf.where(iy > 0, 0.5, 1.0),
                                   fy + tf.where(iy < h - 1, 0.5, 1.0))
            x = tf.where(ok, dx_, x + qx)
            y = tf.where(ok, dy_, y + qy)
    kp = tf.stack([x * (iw / w), y * (ih / h)], axis=-1)
    return tf.reshape(kp, [-1, k, 2]), tf.reshape(scores, [-1, k])
