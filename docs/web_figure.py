"""Makes docs/web.png, the README's browser screenshot, and measures ms per frame in the page.

    python docs/web_figure.py [--assets android_demo_assets] [--out docs/web.png]

A held-out synthetic video (never seen in training) goes through the page in headless
Chromium exactly as `python -m dkd_tf.web --check VIDEO --json OUT` runs it, once on Wasm
(the screenshot is taken after its last frame) and once on WebGPU (SwiftShader, a software
GPU: not a GPU timing); keypoints are compared with `python -m dkd_tf.infer` on the same
video and the figures printed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def _keypoints(path):
    with open(path) as f:
        return np.array([fr["keypoints"] for fr in json.load(f)["frames"]], np.float64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", default="android_demo_assets")
    ap.add_argument("--out", default=os.path.join("docs", "web.png"))
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--size", type=int, default=256, help="side of the generated video")
    a = ap.parse_args()
    from dkd_tf.benchmark.memory import write_synthetic_video

    with tempfile.TemporaryDirectory() as tmp:
        video = os.path.join(tmp, "held_out.mp4")
        write_synthetic_video(video, a.frames, a.size, clip=a.frames)
        ref = os.path.join(tmp, "infer.json")
        subprocess.run([sys.executable, "-m", "dkd_tf.infer", video, "--assets", a.assets,
                        "--json", ref, "--no-progress"], check=True)
        for backend in ("wasm", "webgpu"):
            out = os.path.join(tmp, f"{backend}.json")
            cmd = [sys.executable, "-m", "dkd_tf.web", "--check", video, "--assets", a.assets,
                   "--json", out, "--backend", backend]
            if backend == "wasm":
                cmd += ["--screenshot", a.out]
            subprocess.run(cmd, check=True)
            with open(out) as f:
                doc = json.load(f)
            diff = np.linalg.norm(_keypoints(out)[..., :2] - _keypoints(ref)[..., :2],
                                  axis=-1).max()
            print(f"{backend}: {len(doc['frames'])} of {a.frames} frames, max |page - infer| "
                  f"{diff:.4f} px, {doc['ms_per_frame']:.1f} ms per frame (median "
                  f"{doc['ms_median']:.1f}), load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
