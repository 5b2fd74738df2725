"""PCK, the benchmark metric of Penn Action and (Sub-)JHMDB, and jitter (pure NumPy).

Shapes: pred, gt [N, K, 2] pixels (x, y); bbox [N, 4] as x1, y1, x2, y2; visible [N, K] bool.
Over videos (pck_videos, jitter): the same with a frame axis, [N, T, K, 2], [N, T, 4],
[N, T, K].
"""
from __future__ import annotations

import numpy as np

from .joints import joint_set_for

DEFAULT_ALPHAS = np.linspace(0.05, 0.5, 10)


def _reference_size(gt, bbox, norm: str):
    """Per-frame normaliser [N] and whether the frame counts [N]."""
    if norm == "bbox":
        b = np.asarray(bbox, dtype=np.float64)
        w = b[:, 2] - b[:, 0]
        h = b[:, 3] - b[:, 1]
        ok = np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
        return np.where(ok, np.maximum(w, h), 0.0), ok
    if norm == "torso":
        i, j = joint_set_for(gt.shape[1]).torso
        size = np.linalg.norm(gt[:, i] - gt[:, j], axis=-1)
        ok = np.isfinite(size) & (size > 0)
        return np.where(ok, size, 0.0), ok
    raise ValueError(f"unknown PCK normalisation {norm!r}: use 'bbox' or 'torso'")


def pck(pred, gt, bbox, visible=None, alpha: float = 0.2, norm: str = "bbox") -> dict:
    """Percentage of correct keypoints.

    A joint counts when it is visible (visible=None: all joints) and its frame has a valid
    normaliser; it is correct when ||pred - gt|| <= alpha * size (inclusive), where size is
      norm="bbox":  max(x2 - x1, y2 - y1) of that frame's ground-truth box (the protocol of
                    LSTM Pose Machines and DKD); boxes of zero or negative width or height
                    make the frame not counted;
      norm="torso": ||gt[left shoulder] - gt[right hip]|| of that frame (the joint set's
                    `torso` pair); a zero-length torso makes the frame not counted.
    Non-finite predictions count as misses.
    Returns {"per_joint": [K] (NaN where nothing counted), "mean": pooled hits / counted,
    "group_mean": {group: pooled over the group's joints}, "counted": int}.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    n, k = gt.shape[:2]
    vis = np.ones((n, k), bool) if visible is None else np.asarray(visible).astype(bool)
    size, frame_ok = _reference_size(gt, bbox, norm)
    counted = vis & frame_ok[:, None] & np.all(np.isfinite(gt), axis=-1)
    dist = np.linalg.norm(pred - gt, axis=-1)
    hit = counted & np.isfinite(dist) & (dist <= alpha * size[:, None])
    hits_j = hit.sum(axis=0)
    count_j = counted.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = np.where(count_j > 0, hits_j / np.maximum(count_j, 1), np.nan)
    total = int(count_j.sum())
    mean = float(hits_j.sum() / total) if total else float("nan")
    group_mean = {}
    for name, idx in joint_set_for(k).groups.items():
        c = int(count_j[list(idx)].sum())
        group_mean[name] = float(hits_j[list(idx)].sum() / c) if c else float("nan")
    return {"per_joint": per_joint, "mean": mean, "group_mean": group_mean, "counted": total}


def pck_curve(pred, gt, bbox, visible=None, alphas=DEFAULT_ALPHAS, norm: str = "bbox"):
    """PCK at each threshold -> (alphas [A], values [A], auc in [0, 1]).

    auc is the trapezoid area under the curve divided by the alpha range, so a model that is
    right at every threshold scores 1.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    values = np.array([pck(pred, gt, bbox, visible, a, norm)["mean"] for a in alphas])
    span = alphas[-1] - alphas[0]
    auc = float(np.trapezoid(values, alphas) / span) if span > 0 else float(values[0])
    return alphas, values, auc


def frames(a):
    """[N, T, ...] -> [N * T, ...]: every frame of N videos, video by video."""
    a = np.asarray(a)
    return a.reshape(-1, *a.shape[2:])


def pck_videos(pred, gt, bbox, visible=None, alpha: float = 0.2, norm: str = "bbox") -> dict:
    """pck over every frame of N videos, pooled: pred, gt [N, T, K, 2], bbox [N, T, 4],
    visible [N, T, K] (None: all joints)."""
    return pck(frames(pred), frames(gt), frames(bbox),
               None if visible is None else frames(visible), alpha, norm)


def jitter(keypoints, visible, bbox) -> dict:
    """Mean frame-to-frame acceleration ||p[t+1] - 2 p[t] + p[t-1]|| of the joints visible in
    all three frames whose acceleration is finite: {"px": in pixels, "relative": each divided
    by the larger side of the middle frame's box (at least 1 px), so it reads as a fraction
    of the body}; both NaN when no joint counts.

    keypoints [N, T, K, 2] pixels, visible [N, T, K] bool, bbox [N, T, 4] (x1, y1, x2, y2).
    The box's side is computed in the box's own dtype (float32 boxes of the synthetic
    videos in the benchmark, float64 in evaluate), as the published figures were.
    """
    kp = np.asarray(keypoints, np.float64)
    vis = np.asarray(visible, bool)
    box = np.asarray(bbox)
    acc = np.linalg.norm(kp[:, 2:] - 2 * kp[:, 1:-1] + kp[:, :-2], axis=-1)
    v = vis[:, 2:] & vis[:, 1:-1] & vis[:, :-2] & np.isfinite(acc)
    size = np.maximum(box[:, 1:-1, 2] - box[:, 1:-1, 0], box[:, 1:-1, 3] - box[:, 1:-1, 1])
    rel = acc / np.maximum(size, 1.0)[..., None]
    if not v.any():
        return {"px": float("nan"), "relative": float("nan")}
    return {"px": float(acc[v].mean()), "relative": float(rel[v].mean())}
