"""Resident memory: peak RSS of a runtime-only process, and RSS while a runtime-only process
streams a long generated video through the video CLI's loop (never imports TensorFlow)."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from typing import Optional, Sequence

import numpy as np

_RSS_PROBE = r"""
import json, resource, sys, time
import numpy as np
from dkd_tf.runtime import PoseTracker
assets, precision, threads, frames = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tr = PoseTracker(assets, precision, num_threads=threads, reinit_every=30, backend=sys.argv[5])
H, W = tr.input_hw
rng = np.random.default_rng(0)
frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
for i in range(frames):
    tr.process(frame)
from dkd_tf.benchmark.memory import peak_rss_mb
print(json.dumps({"peak_rss_mb": peak_rss_mb(), "tensorflow_loaded": "tensorflow" in sys.modules}))
"""


def _proc_status_mb(field: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mb() -> float:
    """Peak RSS of this process (VmHWM; ru_maxrss would include a parent's RSS at fork on
    Linux, which a child started from a TensorFlow process inherits)."""
    v = _proc_status_mb("VmHWM")
    return v if v is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size of this process now (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def runtime_peak_rss(assets: str, precision: str, threads: int, frames: int = 100,
                     backend: str = "litert") -> dict:
    """Peak RSS of a fresh process that imports only the runtime and tracks `frames` frames."""
    r = subprocess.run([sys.executable, "-c", _RSS_PROBE, assets, precision, str(threads),
                        str(frames), backend], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"runtime RSS probe failed: {r.stderr.strip()[-500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


_STREAM_PROBE = r"""
import json, os, sys
from dkd_tf.benchmark.memory import current_rss_mb
from dkd_tf.infer import track_stream
from dkd_tf.runtime import OneEuroParams, PoseTracker
from dkd_tf.video_io import CsvStreamWriter, JsonStreamWriter, Mp4Writer, VideoSource
assets, video, out, marks = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
src = VideoSource(video)
tr = PoseTracker(assets, "fp32", roi="track", reinit_every=30, smooth=OneEuroParams(),
                 fps=src.fps)
ws = [Mp4Writer(os.path.join(out, "o.mp4"), src.fps, src.size),
      JsonStreamWriter(os.path.join(out, "o.json"), {"video": video}),
      CsvStreamWriter(os.path.join(out, "o.csv"), tr.joints)]
rss = {}
def probe(i, pose):
    if i + 1 in marks:
        rss[i + 1] = current_rss_mb()
st = track_stream(src, tr, *ws, progress=False, draw_roi=True, on_frame=probe)
for w in ws:
    w.close()
print(json.dumps({"rss_mb": rss, "frames": st["frames"], "seconds": st["seconds"]}))
"""


def write_synthetic_video(path: str, frames: int, size: int, clip: int = 100,
                          seed: int = 0) -> None:
    """An mp4v video of `frames` frames: one held-out synthetic clip played back and forth."""
    import cv2

    from ..heldout import heldout_video

    v = heldout_video(size, clip, seed)["frames"][..., ::-1]
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (size, size))
    order = np.concatenate([np.arange(clip), np.arange(clip - 2, 0, -1)])
    for i in range(frames):
        w.write(np.ascontiguousarray(v[order[i % len(order)]]))
    w.release()


def stream_rss(assets: str, frames: int, size: int, marks: Sequence[int]) -> dict:
    """RSS of a runtime-only process streaming a generated video through the video CLI's
    loop (ROI tracking, re-init every 30, One-Euro, MP4 + JSON + CSV written) at `marks`."""
    tmp = tempfile.mkdtemp(prefix="dkd-rss-")
    try:
        video = os.path.join(tmp, "long.mp4")
        write_synthetic_video(video, frames, size)
        r = subprocess.run([sys.executable, "-c", _STREAM_PROBE, assets, video, tmp,
                            json.dumps(list(marks))], capture_output=True, text=True,
                           timeout=3600)
        if r.returncode != 0:
            raise RuntimeError(f"stream RSS probe failed: {r.stderr.strip()[-500:]}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["rss_mb"] = {int(k): v for k, v in res["rss_mb"].items()}
        return res
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
