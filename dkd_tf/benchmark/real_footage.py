"""Agreement with a reference labeller on real footage: the proxy for "does it track people".

    python -m dkd_tf.benchmark.real_footage [--assets DIR] [--labels FILE] [--video-dir DIR]
        [--roi full|track|person] [--reinit-every N] [--reinit-score s] [--smooth none|one-euro]
        [--json OUT.json] [--png OUT.png]

No labelled real data can be downloaded here, so the reference is a strong off-the-shelf
model: `tools/blazepose_labels.py` (run in its own environment; mediapipe is never a
dependency) cut clips of real pedestrians from OpenCV's vtest.avi (Debian: opencv-doc) and
labelled them with MediaPipe BlazePose Full. This command runs the edge tracker (LiteRT, the
runtime of `python -m dkd_tf.infer`, with infer's default options unless told otherwise) on
the same clips and scores PCK@0.2 of its keypoints against those labels: a joint counts when
BlazePose calls it visible, the threshold is 0.2 x the larger side of the labelled joints'
box on that frame. It measures agreement with another model on one scene, not accuracy.

Imports NumPy, OpenCV and the runtime only (no TensorFlow).
Shapes: labels keypoints [T, 13, 2] window pixels, visible [T, 13].
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

import numpy as np

from ..errors import UserError, quiet_libraries, run_cli
from ..joints import PENN_ACTION

DEFAULT_LABELS = os.path.join("benchmark", "real_footage", "vtest_blazepose.json")
DEFAULT_VIDEO_DIR = "/usr/share/doc/opencv-doc/examples/data"


def load_labels(path: str) -> dict:
    """The labeller's JSON, checked: clips with window [x, y, side], keypoints, visible."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{path}: no such labels file") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: not a readable JSON labels file ({e})") from None
    clips = d.get("clips") if isinstance(d, dict) else None
    if not clips:
        raise UserError(f"{path}: no clips (expected the output of tools/blazepose_labels.py)")
    for i, c in enumerate(clips):
        for key in ("video", "start", "frames", "window", "keypoints", "visible"):
            if key not in c:
                raise UserError(f"{path}: clip {i} has no {key!r}")
        kp, vis = np.asarray(c["keypoints"], float), np.asarray(c["visible"], bool)
        if kp.shape != (c["frames"], 13, 2) or vis.shape != (c["frames"], 13):
            raise UserError(f"{path}: clip {i}: keypoints {kp.shape} / visible {vis.shape} do "
                            f"not match {c['frames']} frames x 13 joints")
        if not np.isfinite(kp[vis]).all():
            raise UserError(f"{path}: clip {i}: visible joints with non-finite coordinates")
    return d


def clip_frames(video_path: str, start: int, n: int, window):
    """-> (frames start..start+n-1 of a video cut to the square window [x, y, side] (BGR),
    the video's frame rate)."""
    import cv2

    cap = cv2.VideoCapture(video_path)
    try:
        if not cap.isOpened():
            raise UserError(f"{video_path}: cannot open the video")
        x, y, s = (int(v) for v in window)
        out, t = [], 0
        while len(out) < n:
            ok, f = cap.read()
            if not ok:
                raise UserError(f"{video_path}: ends at frame {t}, the labels need frames "
                                f"{start}-{start + n - 1}")
            if t >= start:
                out.append(np.ascontiguousarray(f[y:y + s, x:x + s]))
            t += 1
        fps = cap.get(cv2.CAP_PROP_FPS)
        return out, (fps if fps and fps > 0 else 30.0)
    finally:
        cap.release()


def pck(pred: np.ndarray, ref: np.ndarray, vis: np.ndarray, alpha: float = 0.2):
    """-> (hits [T, K] bool, counted [T, K] bool): ||pred - ref|| <= alpha x the larger side
    of the box of the visible reference joints, per frame. pred, ref [T, K, 2]."""
    hits = np.zeros(vis.shape, bool)
    for t in range(len(ref)):
        p = ref[t][vis[t]]
        if len(p) < 2:
            continue
        size = max(np.ptp(p[:, 0]), np.ptp(p[:, 1]), 1.0)
        hits[t] = np.linalg.norm(pred[t] - ref[t], axis=-1) <= alpha * size
    return hits & vis, vis


def build_parser() -> argparse.ArgumentParser:
    from ..infer import DEFAULT_ASSETS

    ap = argparse.ArgumentParser(prog="python -m dkd_tf.benchmark.real_footage",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--assets", default=DEFAULT_ASSETS)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--labels", default=DEFAULT_LABELS)
    ap.add_argument("--video-dir", default=DEFAULT_VIDEO_DIR,
                    help="folder holding the labelled videos (vtest.avi)")
    ap.add_argument("--roi", choices=("full", "track", "person"), default=None)
    ap.add_argument("--roi-margin", type=float, default=None)
    ap.add_argument("--reinit-every", type=int, default=None)
    ap.add_argument("--reinit-score", type=float, default=None)
    ap.add_argument("--smooth", choices=("none", "one-euro"), default=None)
    ap.add_argument("--json", default=None, help="results as JSON")
    ap.add_argument("--png", default=None, help="overlays of one frame per clip")
    return ap


def tracker_options(a) -> dict:
    """infer's defaults, overridden by the flags given here (the same PoseTracker options)."""
    from ..infer import build_parser as infer_parser, roi_options

    d = infer_parser().parse_args(["x"])
    for key in ("roi", "roi_margin", "reinit_every", "reinit_score", "smooth"):
        if getattr(a, key) is not None:
            setattr(d, key, getattr(a, key))
    from ..runtime import OneEuroParams

    smooth = OneEuroParams(d.min_cutoff, d.beta, d.d_cutoff) if d.smooth == "one-euro" else None
    return dict(roi=d.roi, reinit_every=d.reinit_every, reinit_score=d.reinit_score,
                smooth=smooth, **roi_options(d))


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = build_parser().parse_args(argv)
    labels = load_labels(a.labels)
    from ..infer import _check_manifest_light

    _check_manifest_light(a.assets, a.precision)
    for c in labels["clips"]:
        vp = os.path.join(a.video_dir, c["video"])
        if not os.path.isfile(vp):
            raise UserError(f"{vp}: no such video (Debian: apt-get install opencv-doc, or give "
                            f"--video-dir)")
    quiet_libraries()
    from ..runtime import PoseTracker

    opts = tracker_options(a)
    tracker = PoseTracker(a.assets, a.precision, **opts)
    hits_all, counted_all, rows, tiles = [], [], [], []
    for c in labels["clips"]:
        frames, fps = clip_frames(os.path.join(a.video_dir, c["video"]), c["start"],
                                  c["frames"], c["window"])
        tracker.reset()
        poses = [tracker.process(f, timestamp=i / fps) for i, f in enumerate(frames)]
        pred = np.stack([p.keypoints for p in poses])
        ref, vis = np.asarray(c["keypoints"], float), np.asarray(c["visible"], bool)
        hits, counted = pck(pred, ref, vis)
        hits_all.append(hits)
        counted_all.append(counted)
        rows.append({"clip": c["name"], "pck": float(hits.sum() / max(counted.sum(), 1)),
                     "initializer_frames": int(sum(p.initializer for p in poses)),
                     "mean_score": float(np.mean([p.scores.mean() for p in poses]))})
        if a.png:
            tiles.append(_overlay(frames[len(frames) // 2], pred[len(frames) // 2],
                                  ref[len(frames) // 2], vis[len(frames) // 2],
                                  poses[len(frames) // 2].roi))
    H, C = np.concatenate(hits_all), np.concatenate(counted_all)
    per_joint = {n: float(H[:, k].sum() / max(C[:, k].sum(), 1)) for k, n in enumerate(PENN_ACTION.names)}
    res = {"labels": a.labels, "labeller": labels.get("labeller"), "assets": a.assets,
           "precision": a.precision,
           "options": {k: (v if k != "smooth" else (v is not None)) for k, v in opts.items()},
           "pck": float(H.sum() / max(C.sum(), 1)), "pck_per_joint": per_joint, "clips": rows,
           "joints_counted": int(C.sum())}
    print(format_table(res))
    if a.json:
        from ..io_utils import atomic_write_json

        atomic_write_json(a.json, res)
        print(f"wrote {a.json}")
    if a.png and tiles:
        from ..visualize import image_grid, write_png

        write_png(a.png, image_grid(tiles, cols=4))
        print(f"wrote {a.png}")
    return 0


def format_table(res: dict) -> str:
    groups = ("head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    pj = res["pck_per_joint"]
    g = {n: np.mean([v for k, v in pj.items() if n in k]) for n in groups}
    o = res["options"]
    lines = [f"real footage: {len(res['clips'])} clips, {res['joints_counted']} labelled joints; "
             f"assets {res['assets']} ({res['precision']}), roi {o['roi']}, reinit every "
             f"{o['reinit_every']}, reinit score {o['reinit_score']}",
             f"PCK@0.2 vs the reference labels: {res['pck']:.3f}   " +
             "  ".join(f"{n} {g[n]:.2f}" for n in groups)]
    for r in res["clips"]:
        lines.append(f"  {r['clip']:<22} {r['pck']:.3f}  (initializer frames {r['initializer_frames']}, "
                     f"mean score {r['mean_score']:.2f})")
    return "\n".join(lines)


def _overlay(frame, pred, ref, vis, roi):
    """RGB tile: reference joints green, the tracker's red, the input region grey."""
    import cv2

    img = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).copy()
    r = max(2, img.shape[0] // 90)
    x1, y1, x2, y2 = (int(round(v)) for v in roi)
    cv2.rectangle(img, (x1, y1), (x2, y2), (160, 160, 160), 1)
    for (px, py), (gx, gy), v in zip(pred, ref, vis):
        if v:
            cv2.circle(img, (int(gx), int(gy)), r, (0, 220, 0), -1)
        cv2.circle(img, (int(px), int(py)), r, (230, 30, 30), -1)
    return cv2.resize(img, (256, 256))


if __name__ == "__main__":
    sys.exit(run_cli(main))
