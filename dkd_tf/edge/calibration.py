"""Representative data for int8 calibration, from the built-in synthetic videos.

  calibration_frames(cfg, n)      -> images float32 [n, S, S, 3], normalised network inputs
                                     (pose_initializer and frame_encoder calibrate on them).
  calibration_triples(model, cfg, n) -> n real (features_prev, heatmaps_prev, features)
                                     triples: the float Keras tracker run over synthetic clips
                                     (P on each clip's first frame, then F + match), so
                                     dynamic_conv calibrates on the states it will see.
  representative(arrays_by_role)  -> the converter's representative_dataset callable.

Calibration videos have an index range of their own (FIRST_VIDEO..), apart from the training
videos (0..) and the held-out ones (HELD_OUT_OFFSET..) that verification scores; frames are
rendered at the input size, so the letterbox is the identity.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List

import numpy as np

from ..data.synthetic import SyntheticVideos

CLIP_FRAMES = 11          # one initializer frame + 10 tracked frames per calibration clip
FIRST_VIDEO = 500_000     # first calibration video index (module docs)


def normalise(frames: np.ndarray, mean, std) -> np.ndarray:
    """uint8 RGB [..., 3] -> (x / 255 - mean) / std, float32."""
    x = frames.astype(np.float32) / np.float32(255.0)
    return ((x - np.float32(mean)) / np.float32(std)).astype(np.float32)


def calibration_clips(cfg, n_clips: int, clip_frames: int = CLIP_FRAMES) -> np.ndarray:
    """Normalised clips [n_clips, T, S, S, 3]."""
    gen = SyntheticVideos(cfg.model.input_size, clip_frames, cfg.train.seed)
    frames = np.stack([gen.video(FIRST_VIDEO + i)["frames"] for i in range(int(n_clips))])
    return normalise(frames, cfg.mean, cfg.std)


def calibration_frames(cfg, n: int) -> np.ndarray:
    """n normalised frames [n, S, S, 3]."""
    clips = calibration_clips(cfg, -(-int(n) // CLIP_FRAMES))
    return clips.reshape(-1, *clips.shape[2:])[:n]


def calibration_triples(model, cfg, n: int) -> Dict[str, np.ndarray]:
    """{role: [n, 1, ...]} for features_prev, heatmaps_prev, features from the float
    Keras tracker (the recurrence the exported loop runs)."""
    from ..errors import import_tensorflow

    tf = import_tensorflow()
    clips = calibration_clips(cfg, -(-int(n) // CLIP_FRAMES), CLIP_FRAMES + 1)  # T-1 each
    init = tf.function(lambda x: model.init_step(x, training=False))
    enc = tf.function(lambda x: model.encoder(x, training=False))
    match = tf.function(lambda f, h, g: model.match(f, h, g, training=False))
    out: Dict[str, List[np.ndarray]] = {"features_prev": [], "heatmaps_prev": [],
                                        "features": []}
    f, h = init(clips[:, 0])
    for t in range(1, clips.shape[1]):
        g = enc(clips[:, t])
        out["features_prev"].append(f.numpy())
        out["heatmaps_prev"].append(h.numpy())
        out["features"].append(g.numpy())
        f, h = g, match(f, h, g)
    # [T-1, N, ...] -> [(T-1) * N, 1, ...], clip-major so that [:n] spans every clip
    res = {}
    for role, xs in out.items():
        a = np.stack(xs, axis=1)
        res[role] = a.reshape(-1, 1, *a.shape[2:])[:n]
    return res


def representative(arrays_by_role: Dict[str, np.ndarray]) -> Callable[[], Iterable[dict]]:
    """{role: [n, 1, ...] or [n, ...]} -> a callable yielding one {role: [1, ...]} per sample."""
    n = min(len(a) for a in arrays_by_role.values())

    def gen():
        for i in range(n):
            yield {role: np.asarray(a[i], np.float32).reshape(1, *a.shape[-3:])
                   for role, a in arrays_by_role.items()}
    return gen
