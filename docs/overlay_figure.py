"""Makes docs/overlay.png, the README's overlay figure, from the exported assets.

    python docs/overlay_figure.py [--assets android_demo_assets] [--out docs/overlay.png]

A held-out synthetic video (never seen in training) is written as an MP4, tracked by the
video CLI exactly as a user runs it (`python -m dkd_tf.infer VIDEO --out OUT.mp4`), and
frames of the overlay video it wrote are read back and tiled in one row.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", default="android_demo_assets")
    ap.add_argument("--out", default=os.path.join("docs", "overlay.png"))
    ap.add_argument("--frames", default="0,4,10,14,20,24", help="frame indices to tile")
    ap.add_argument("--size", type=int, default=256, help="side of the generated video")
    ap.add_argument("--infer-args", default="--reinit-every 10",
                    help="extra arguments of python -m dkd_tf.infer (the re-init policy)")
    a = ap.parse_args()
    from dkd_tf.benchmark.memory import write_synthetic_video

    picks = [int(i) for i in a.frames.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, "held_out.mp4"), os.path.join(tmp, "overlay.mp4")
        write_synthetic_video(src, max(picks) + 1, a.size, clip=max(picks) + 1)
        subprocess.run([sys.executable, "-m", "dkd_tf.infer", src, "--assets", a.assets,
                        "--out", out, "--no-progress", *a.infer_args.split()], check=True)
        cap = cv2.VideoCapture(out)
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        cap.release()
    tiles = []
    for i in picks:
        f = frames[i].copy()
        cv2.putText(f, f"frame {i + 1}", (6, f.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(f)
    sep = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
    row = np.concatenate(sum([[t, sep] for t in tiles], [])[:-1], axis=1)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    cv2.imwrite(a.out, row)
    print(f"wrote {a.out} ({row.shape[1]}x{row.shape[0]}, frames {a.frames} of {len(frames)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
