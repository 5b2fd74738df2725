"""Reference labels for real footage from MediaPipe BlazePose (a labeller, not a dependency).

Run it in its own environment, never in the project's (mediapipe pins numpy < 2):

    python -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install "mediapipe==0.10.21" "numpy<2"
    /tmp/mpvenv/bin/python tools/blazepose_labels.py --video /usr/share/doc/opencv-doc/examples/data/vtest.avi \
        --out benchmark/real_footage/vtest_blazepose.json

What it does, for one real video (default: OpenCV's vtest.avi, real pedestrians filmed by a
static camera, Debian package opencv-doc):
1. finds moving people with a background subtractor (MOG2) and links their blobs over time;
2. cuts clips of --frames frames, each a fixed square window of the original frame around one
   person's path (a static camera, as the footage is; the person moves inside the window),
   keeping windows where no other large moving blob enters;
3. runs BlazePose Full (model_complexity=1, video mode) on each window, upscaled x2, and maps
   its 33 landmarks to Penn Action's 13 joints (head = mean of nose and ears); a joint is
   labelled visible when BlazePose's visibility is >= 0.5. Clips where BlazePose loses the
   person on any frame are dropped.
Writes JSON: {"source", "labeller", "joints", "clips": [{"name", "video", "start", "frames",
"window": [x, y, side], "keypoints": [T][13][x, y] window pixels, "visible": [T][13]}]}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import cv2
import numpy as np

PENN_FROM_BLAZEPOSE = [None, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # head: see below
HEAD = (0, 7, 8)  # nose, left ear, right ear


def read_video(path):
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    if not frames:
        sys.exit(f"error: {path}: no frames could be read")
    return frames


def moving_blobs(frames, min_h):
    bs = cv2.createBackgroundSubtractorMOG2(history=200, varThreshold=25, detectShadows=False)
    out = []
    for f in frames:
        m = bs.apply(f)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        m = cv2.dilate(m, np.ones((7, 3), np.uint8))
        _, _, st, _ = cv2.connectedComponentsWithStats(m)
        out.append([(x, y, w, h) for x, y, w, h, a in st[1:] if h >= min_h and a > 400 and w < 1.2 * h])
    return out


def follow(blobs, start, n, seed_box, max_gap=4):
    """The blob nearest the previous one, frame by frame (blobs split and merge: up to
    max_gap frames in a row may keep the last box); None when the person is lost."""
    path, cur, last, gap = [], np.array([seed_box[0] + seed_box[2] / 2, seed_box[1] + seed_box[3] / 2]), seed_box, 0
    for t in range(start, start + n):
        c = np.array([[x + w / 2, y + h / 2] for x, y, w, h in blobs[t]]).reshape(-1, 2)
        d = np.linalg.norm(c - cur, axis=1) if len(c) else np.array([np.inf])
        k = int(np.argmin(d))
        if d[k] > 30 or (len(c) and blobs[t][k][3] < 0.6 * last[3]):
            gap += 1
            if gap > max_gap:
                return None
            path.append(last)
            continue
        gap, cur, last = 0, c[k], blobs[t][k]
        path.append(last)
    return path


def candidate_windows(frames, blobs, n, step, min_h):
    H, W = frames[0].shape[:2]
    cands = []
    for s in range(20, len(frames) - n, step):   # MOG2 needs a few frames to learn the scene
        for b in blobs[s]:
            if b[3] < min_h:
                continue
            path = follow(blobs, s, n, b)
            if path is None:
                continue
            p = np.array(path, float)
            lo, hi = p[:, :2].min(0), (p[:, :2] + p[:, 2:]).max(0)
            side = int(min(max(1.6 * max(hi - lo), 2.2 * p[:, 3].max(), 160), H))
            cx, cy = (lo + hi) / 2
            x0 = int(np.clip(cx - side / 2, 0, W - side))
            y0 = int(np.clip(cy - side / 2, 0, H - side))
            # no other large mover inside the window during the clip
            others = 0
            for t in range(s, s + n):
                for q in blobs[t]:
                    qc = (q[0] + q[2] / 2, q[1] + q[3] / 2)
                    mine = any(abs(qc[0] - (pp[0] + pp[2] / 2)) < 10 and abs(qc[1] - (pp[1] + pp[3] / 2)) < 10
                               for pp in path[t - s:t - s + 1])
                    if not mine and x0 <= qc[0] <= x0 + side and y0 <= qc[1] <= y0 + side and q[3] >= 0.75 * p[:, 3].mean():
                        others += 1
            if others <= 2:
                cands.append((s, x0, y0, side, float(p[:, 3].mean())))
    return cands


def blazepose(frames_bgr, upscale=2):
    import mediapipe as mp

    kps, vis = [], []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                min_detection_confidence=0.5, min_tracking_confidence=0.5) as pose:
        for f in frames_bgr:
            big = cv2.resize(f, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
            r = pose.process(cv2.cvtColor(big, cv2.COLOR_BGR2RGB))
            if r.pose_landmarks is None:
                return None
            lm = r.pose_landmarks.landmark
            h, w = f.shape[:2]
            xy = np.array([[p.x * w, p.y * h] for p in lm])
            v = np.array([p.visibility for p in lm])
            k = np.zeros((13, 2))
            k[0] = xy[list(HEAD)].mean(0)
            kv = np.zeros(13, bool)
            kv[0] = v[list(HEAD)].mean() >= 0.5
            for j, b in enumerate(PENN_FROM_BLAZEPOSE):
                if b is not None:
                    k[j], kv[j] = xy[b], v[b] >= 0.5
            kps.append(k)
            vis.append(kv)
    return np.array(kps), np.array(vis)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default="/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    ap.add_argument("--out", default="benchmark/real_footage/vtest_blazepose.json")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--min-height", type=int, default=80, help="person height in px to start a clip")
    a = ap.parse_args(argv)
    if not os.path.isfile(a.video):
        print(f"error: {a.video}: no such video (Debian: apt-get install opencv-doc)", file=sys.stderr)
        return 2
    frames = read_video(a.video)
    blobs = moving_blobs(frames, 60)
    cands = candidate_windows(frames, blobs, a.frames, 10, a.min_height)
    cands.sort(key=lambda c: -c[4])  # larger people first
    clips, used = [], []
    for s, x0, y0, side, _ in cands:
        if len(clips) >= a.clips:
            break
        if any(abs(s - u[0]) < a.frames and abs(x0 - u[1]) < side and abs(y0 - u[2]) < side for u in used):
            continue
        win = [f[y0:y0 + side, x0:x0 + side] for f in frames[s:s + a.frames]]
        lab = blazepose(win)
        if lab is None:
            continue
        kp, vis = lab
        if vis[:, [1, 2, 7, 8]].mean() < 0.8:  # BlazePose unsure of the torso: not a label
            continue
        used.append((s, x0, y0))
        clips.append({"name": f"vtest_{s:04d}_{x0}_{y0}", "video": os.path.basename(a.video),
                      "start": s, "frames": a.frames, "window": [x0, y0, side],
                      "keypoints": np.round(kp, 2).tolist(), "visible": vis.astype(int).tolist()})
        print(f"clip {len(clips)}: frames {s}-{s + a.frames - 1}, window {x0},{y0} side {side}, "
              f"visible {vis.mean():.2f}")
    import mediapipe as mp

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"source": "OpenCV sample vtest.avi (Debian opencv-doc), real pedestrians, static camera",
                   "labeller": f"MediaPipe BlazePose Full (mediapipe {mp.__version__}, model_complexity=1, "
                               "video mode, window upscaled x2)",
                   "joints": ["head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                              "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                              "right_knee", "left_ankle", "right_ankle"],
                   "clips": clips}, f)
    print(f"wrote {len(clips)} clips to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
