"""BlazePose Full's time per frame on this CPU: the reference of the mobile preset's target.

Issue 20 sets the mobile tracked frame at a third of MediaPipe BlazePose Full, measured in
video mode on one core with 320x240 frames. CPUs differ (and shared ones drift), so the two
are compared on the same machine, one right after the other: this script times BlazePose,
`python -m dkd_tf.bench --preset mobile --threads 1` times the tracked frame.

Run it in its own environment, never in the project's (mediapipe pins numpy < 2):

    python -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install "mediapipe==0.10.21" "numpy<2"
    /tmp/mpvenv/bin/python tools/blazepose_timing.py VIDEO --json OUT.json

One core: the process is pinned to CPU 0 (os.sched_setaffinity) before mediapipe starts its
threads. Every frame is resized to 320x240 and fed in order (video mode: the landmark model
runs on the region it tracked, the detector only when tracking is lost); the first `--warmup`
frames are not timed. Prints the median and 90th percentile ms per frame and writes them
(with the versions and the machine) to --json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video", help="a video with a person (e.g. OpenCV's vtest.avi)")
    ap.add_argument("--frames", type=int, default=300, help="timed frames (the video loops)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    if not os.path.isfile(a.video):
        print(f"error: {a.video}: no such file", file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    import cv2
    import mediapipe as mp
    import numpy as np

    cap = cv2.VideoCapture(a.video)
    frames = []
    while len(frames) < 200:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA),
                                   cv2.COLOR_BGR2RGB))
    if not frames:
        print(f"error: {a.video}: no frame could be decoded", file=sys.stderr)
        return 2
    ms = []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                smooth_landmarks=True) as pose:
        for i in range(a.warmup + a.frames):
            img = frames[i % len(frames)]
            t0 = time.perf_counter()
            pose.process(img)
            if i >= a.warmup:
                ms.append((time.perf_counter() - t0) * 1e3)
    out = {"model": "BlazePose Full (model_complexity=1), video mode",
           "mediapipe": mp.__version__, "frame": [320, 240], "cores": 1,
           "frames": len(ms), "median_ms": float(np.median(ms)),
           "p90_ms": float(np.percentile(ms, 90)),
           "machine": f"{platform.machine()} {os.cpu_count()} cores", "video": a.video}
    print(f"BlazePose Full, video mode, 1 core, 320x240: median {out['median_ms']:.2f} ms, "
          f"p90 {out['p90_ms']:.2f} ms over {len(ms)} frames")
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=2)
        os.replace(tmp, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
