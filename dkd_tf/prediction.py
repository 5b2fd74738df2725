"""Keras prediction over video arrays: the DKD tracker and the per-frame rows, and the
mapping of decoded keypoints back to frame pixels.

Used by python -m dkd_tf.evaluate (the rows of its table) and by the export's Keras
reference (dkd_tf.edge.verify.keras_keypoints). Images are normalised floats
[N, T, S, S, 3] at the input size; heatmaps come back as [N, T, m, m, K] (m = S / 4).

  predict_videos  the streaming tracker (init_step on frame 1, track_step after: the
                  per-frame functions the export converts), or P on every frame
  predict_rows    the rows of the evaluation, sharing F's features:
                    dkd                      P on frame 1, then h_t = match(f_{t-1}, h_{t-1}, f_t)
                    dkd_without_past         the same with h_{t-1} zeroed: match(f_{t-1}, 0, f_t)
                    encoder_every_frame      F's per-frame head on every frame (a PerFrameHead)
                    initializer_every_frame  P on every frame
  frame_keypoints heatmaps + the crop of each video -> keypoints in frame pixels

TensorFlow is imported by the functions that run the model, not by this module.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .codec import decode_heatmaps
from .errors import import_tensorflow


def predict_videos(model, images: np.ndarray, every_frame: bool = False,
                   batch: int = 16) -> np.ndarray:
    """images [N, T, S, S, 3] -> heatmaps [N, T, m, m, K], streaming frame by frame with the
    exported per-frame functions (DKD) or P on every frame (every_frame=True)."""
    tf = import_tensorflow()
    init = tf.function(lambda x: model.init_step(x, training=False))
    track = tf.function(lambda f, h, x: model.track_step(f, h, x, training=False))
    p_only = tf.function(lambda x: model.initializer(x, training=False))
    out = []
    for i in range(0, len(images), batch):
        clip = images[i:i + batch]
        if every_frame:
            T = clip.shape[1]
            flat = clip.reshape(-1, *clip.shape[2:])
            hs = np.concatenate([p_only(flat[j:j + 64]).numpy() for j in range(0, len(flat), 64)])
            out.append(hs.reshape(len(clip), T, *hs.shape[1:]))
            continue
        f, h = init(clip[:, 0])
        hs = [h.numpy()]
        for t in range(1, clip.shape[1]):
            f, h = track(f, h, clip[:, t])
            hs.append(h.numpy())
        out.append(np.stack(hs, axis=1))
    return np.concatenate(out)


def frame_keypoints(heatmaps: np.ndarray, crops: np.ndarray, input_size: int):
    """heatmaps [N, T, m, m, K], crops [N, 2, 3] (frame -> input) -> keypoints [N, T, K, 2]
    in frame pixels, scores [N, T, K]."""
    kp, sc = decode_heatmaps(heatmaps, input_size)
    out = np.empty_like(kp, dtype=np.float64)
    for i, A in enumerate(crops):
        R = np.asarray(A[:, :2], np.float64)
        Ri = np.linalg.inv(R)
        out[i] = (kp[i] - A[:, 2]) @ Ri.T
    return out, sc


def row_functions(model, head=None) -> dict:
    """The compiled per-frame functions predict_rows runs (built once per evaluation: a
    tf.function per chunk would retrace every chunk)."""
    tf = import_tensorflow()
    fns = {"encoder": tf.function(lambda x: model.encoder(x, training=False)),
           "initializer": tf.function(lambda x: model.initializer(x, training=False)),
           "match": tf.function(lambda f, h, g: model.match(f, h, g, training=False))}
    if head is not None:
        fns["head"] = tf.function(lambda f: head(f))
    return fns


def predict_rows(model, images: np.ndarray, head=None, without_past: bool = True,
                 every_frame: bool = False, fns: Optional[dict] = None,
                 batch: int = 64) -> dict:
    """images [N, T, S, S, 3] -> {row: heatmaps [N, T, m, m, K]} for "dkd",
    "dkd_without_past" (without_past), "encoder_every_frame" (head given) and
    "initializer_every_frame" (every_frame): the rows of the module docs. F runs once per
    frame (batched, inference mode: the same features the streaming track_step computes) and
    the tracker rows share it."""
    fns = fns or row_functions(model, head)
    N, T = images.shape[:2]

    def per_frame(fn, x):  # [N*T, ...] in batches
        return np.concatenate([fn(x[j:j + batch]).numpy() for j in range(0, len(x), batch)])

    flat = images.reshape(-1, *images.shape[2:])
    f = per_frame(fns["encoder"], flat)
    out = {}
    if head is not None:
        hs = per_frame(fns["head"], f)
        out["encoder_every_frame"] = hs.reshape(N, T, *hs.shape[1:])
    if every_frame:
        hp = per_frame(fns["initializer"], flat)
        out["initializer_every_frame"] = hp.reshape(N, T, *hp.shape[1:])
        h0 = out["initializer_every_frame"][:, 0]
    else:
        h0 = fns["initializer"](images[:, 0]).numpy()
    f = f.reshape(N, T, *f.shape[1:])
    h, dkd, zero = h0, [h0], [h0]
    zeros = np.zeros_like(h0)
    for t in range(1, T):
        h = fns["match"](f[:, t - 1], h, f[:, t])
        dkd.append(h.numpy())
        if without_past:
            zero.append(fns["match"](f[:, t - 1], zeros, f[:, t]).numpy())
    out["dkd"] = np.stack(dkd, axis=1)
    if without_past:
        out["dkd_without_past"] = np.stack(zero, axis=1)
    return out
