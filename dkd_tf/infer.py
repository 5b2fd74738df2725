"""Video CLI: track poses through a video (or a camera) with the exported graphs.

    python -m dkd_tf.infer VIDEO [--camera N] [--assets DIR] [--precision p]
        [--backend litert|onnxruntime] [--roi full|track|person] [--roi-margin m]
        [--reinit-every N] [--reinit-score s] [--smooth none|one-euro]
        [--out OUT.mp4] [--json OUT.json] [--csv OUT.csv]

Streams frames (constant memory), shows a progress bar with frames per second, and writes an
overlay MP4 (skeleton, joint scores, a red INIT marker on initializer frames, the input region
as a grey box), a JSON file ({"video", "fps", "joints", "frames": [{"index", "keypoints":
[[x, y, score], ...], "initializer"}, ...]}, keypoints in frame pixels) and/or a CSV (one
row per frame and joint). With --roi full --reinit-every 0 --smooth none the keypoints are
exactly the manifest's host loop. --backend onnxruntime runs the manifest's ONNX graphs
(export/to_onnx.py) on TensorRT, CUDA or the CPU, whichever onnxruntime has, and says which.
Imports the runtime (NumPy, OpenCV, LiteRT or onnxruntime) only, never TensorFlow;
arguments and files are checked before those imports.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Callable, Optional, Sequence

from .region_policy import REGION_POLICY
from .errors import (ONNXRUNTIME_MISSING, UserError, quiet_libraries, require_module,
                     run_cli)

DEFAULT_ASSETS = "android_demo_assets"
# Defaults chosen on real footage (dkd_tf/region_policy.py, README "Real people")
DEFAULT_ROI = REGION_POLICY["mode"]
DEFAULT_REINIT_EVERY = REGION_POLICY["reinit_every"]
# One-Euro defaults of the video CLI: those of dkd_tf.runtime.OneEuroParams
DEFAULT_MIN_CUTOFF, DEFAULT_BETA, DEFAULT_D_CUTOFF = 2.0, 2.0, 1.0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m dkd_tf.infer", description=__doc__.split("\n")[0])
    ap.add_argument("video", nargs="?", help="input video file (or use --camera)")
    ap.add_argument("--camera", type=int, default=None, help="camera index instead of a file")
    ap.add_argument("--assets", default=DEFAULT_ASSETS,
                    help=f"folder with manifest.json and the .tflite graphs ({DEFAULT_ASSETS})")
    ap.add_argument("--precision", default="fp32", help="fp32, fp16 or int8 (as exported)")
    ap.add_argument("--backend", choices=("litert", "onnxruntime"), default="litert",
                    help="LiteRT on the .tflite graphs, or onnxruntime on the .onnx ones "
                         "(TensorRT > CUDA > CPU, whichever it has; pip install -e '.[onnx]')")
    ap.add_argument("--roi", choices=("full", "track", "person"), default=DEFAULT_ROI,
                    help="input region: the whole frame; a crop around the last pose; or "
                         "person: find the person with a whole-frame pass, then a crop that "
                         "follows them")
    ap.add_argument("--roi-margin", type=float, default=None,
                    help="crop side / the keypoints' box (track, person)")
    ap.add_argument("--reinit-every", type=int, default=DEFAULT_REINIT_EVERY,
                    help="run the initializer every N frames (0 = only on the first)")
    ap.add_argument("--reinit-score", type=float, default=None,
                    help="also re-initialise after a frame whose mean joint score is below s")
    ap.add_argument("--smooth", choices=("none", "one-euro"), default="one-euro")
    ap.add_argument("--min-cutoff", type=float, default=DEFAULT_MIN_CUTOFF,
                    help="One-Euro cutoff at rest (Hz)")
    ap.add_argument("--beta", type=float, default=DEFAULT_BETA,
                    help="One-Euro cutoff slope (per person size per second)")
    ap.add_argument("--d-cutoff", type=float, default=DEFAULT_D_CUTOFF,
                    help="One-Euro cutoff of the speed estimate (Hz)")
    ap.add_argument("--out", default=None, help="overlay video (.mp4)")
    ap.add_argument("--json", default=None, help="keypoints as JSON")
    ap.add_argument("--csv", default=None, help="keypoints as CSV, one row per frame and joint")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads")
    ap.add_argument("--delegate", default=None,
                    help="LiteRT delegate: a library path, or 'none' for plain kernels")
    ap.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def validate_args(a) -> None:
    """Every check that needs no heavy import; raises UserError naming the problem."""
    from .video_io import check_output_path, check_video_file

    if (a.video is None) == (a.camera is None):
        raise UserError("give a VIDEO file or --camera N (exactly one)")
    if a.video is not None:
        check_video_file(a.video)
    if a.reinit_every < 0:
        raise UserError(f"--reinit-every must be >= 0 (got {a.reinit_every})")
    if a.reinit_score is not None and not a.reinit_score >= 0:
        raise UserError(f"--reinit-score must be >= 0 (got {a.reinit_score})")
    if a.min_cutoff <= 0 or a.d_cutoff <= 0 or a.beta < 0:
        raise UserError("One-Euro needs --min-cutoff > 0, --d-cutoff > 0 and --beta >= 0")
    if a.roi_margin is not None and not a.roi_margin >= 1.0:
        raise UserError(f"--roi-margin must be >= 1 (got {a.roi_margin})")
    if a.threads is not None and a.threads < 1:
        raise UserError(f"--threads must be >= 1 (got {a.threads})")
    if a.max_frames is not None and a.max_frames < 1:
        raise UserError(f"--max-frames must be >= 1 (got {a.max_frames})")
    if a.backend == "onnxruntime":
        if a.delegate is not None:
            raise UserError("--delegate is a LiteRT option; onnxruntime picks its execution "
                            "provider itself")
        require_module("onnxruntime", ONNXRUNTIME_MISSING)
    outs = {}
    for flag, suffix in (("out", ".mp4"), ("json", ".json"), ("csv", ".csv")):
        p = getattr(a, flag)
        if p is not None:
            p = check_output_path(p, suffix)
            if a.video is not None and os.path.abspath(a.video) == p:
                raise UserError(f"{p}: --{flag} would overwrite the input video")
            if p in outs.values():
                raise UserError(f"{p}: given for two outputs")
            outs[flag] = p
    _check_manifest_light(a.assets, a.precision, a.backend)


def roi_options(a) -> dict:
    """PoseTracker keyword arguments for the region flags that were given."""
    return {} if a.roi_margin is None else {"roi_margin": a.roi_margin}


def _check_manifest_light(assets: str, precision: str, backend: str = "litert") -> None:
    path = os.path.join(assets, "manifest.json") if os.path.isdir(assets) else assets
    if not os.path.exists(assets):
        raise UserError(f"{assets}: no such assets folder (export one with export/to_tflite.py, "
                        f"or give --assets)")
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such manifest")
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: not a readable JSON manifest ({e})") from None
    fmt = m.get("format") if isinstance(m, dict) else None
    if fmt != "dkd-tf/1":
        raise UserError(f"{path}: manifest format {fmt!r} is not 'dkd-tf/1'")
    models = m.get("models") if isinstance(m.get("models"), dict) else {}
    if backend == "onnxruntime":
        models = m.get("onnx") if isinstance(m.get("onnx"), dict) else {}
        if not models:
            raise UserError(f"{path}: no 'onnx' section, so nothing for onnxruntime (add it "
                            f"with python export/to_onnx.py --assets {assets})")
        if precision not in models:
            raise UserError(f"{path}: no {precision!r} 'onnx' models (has "
                            f"{', '.join(models)})")
    if precision not in models:
        raise UserError(f"{path}: no {precision!r} models (has {', '.join(models) or 'none'})")


def overlay(frame, pose, joint_set, roi_box=None):
    """Draws the pose onto the BGR frame in place: skeleton, scores, INIT marker, ROI box."""
    import cv2

    from .visualize import draw_skeleton

    h, w = frame.shape[:2]
    th = max(1, int(round(min(h, w) / 240)))
    if roi_box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in roi_box)
        cv2.rectangle(frame, (x1, y1), (x2, y2), (160, 160, 160), th, cv2.LINE_AA)
    draw_skeleton(frame, pose.keypoints, joint_set, scores=pose.scores, thickness=th,
                  radius=th + 1)
    label = f"{pose.index}"
    if pose.initializer:
        cv2.circle(frame, (8 * th, 8 * th), 5 * th, (0, 0, 255), -1, cv2.LINE_AA)
        label += " INIT"
    cv2.putText(frame, label, (16 * th, 12 * th), cv2.FONT_HERSHEY_PLAIN, 0.8 * th,
                (0, 0, 255) if pose.initializer else (255, 255, 255), th, cv2.LINE_AA)
    return frame


def track_stream(source, tracker, video_writer=None, json_writer=None, csv_writer=None,
                 progress: bool = True, draw_roi: bool = False,
                 on_frame: Optional[Callable] = None) -> dict:
    """Runs the tracker over the source's frames, writing each output as it goes.

    on_frame(index, pose) is called after each frame (memory probes use it). Returns
    {"frames", "initializer_frames", "seconds"}. Writers are not closed here.
    """
    from .joints import JointSet
    from .progress import progress_bar

    K = len(tracker.joints)
    js = JointSet("manifest", tuple(tracker.joints), tuple(tracker.skeleton), (), {}, (0, 0))
    n_init = 0
    t0 = time.perf_counter()
    bar = progress_bar(total=source.total, desc="tracking", unit="frame", disable=not progress)
    try:
        for i, frame in source:
            pose = tracker.process(frame, timestamp=i / source.fps)
            n_init += int(pose.initializer)
            if json_writer is not None:
                json_writer.write({"index": i, "keypoints": [
                    [round(float(pose.keypoints[j, 0]), 3), round(float(pose.keypoints[j, 1]), 3),
                     round(float(pose.scores[j]), 4)] for j in range(K)],
                    "initializer": bool(pose.initializer)})
            if csv_writer is not None:
                csv_writer.write(i, pose.keypoints, pose.scores, pose.initializer)
            if video_writer is not None:
                video_writer.write(overlay(frame, pose, js, pose.roi if draw_roi else None))
            if on_frame is not None:
                on_frame(i, pose)
            bar.update(1)
    finally:
        bar.close()
    return {"frames": source.frames_read, "initializer_frames": n_init,
            "seconds": time.perf_counter() - t0}


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = build_parser().parse_args(argv)
    validate_args(a)
    quiet_libraries()
    from .runtime import OneEuroParams, PoseTracker
    from .video_io import (CsvStreamWriter, JsonStreamWriter, Mp4Writer, VideoSource,
                           check_output_path)

    source = VideoSource(a.video, a.camera, a.max_frames)
    smooth = (OneEuroParams(a.min_cutoff, a.beta, a.d_cutoff) if a.smooth == "one-euro"
              else None)
    try:
        tracker = PoseTracker(a.assets, a.precision, a.delegate, a.threads, roi=a.roi,
                              reinit_every=a.reinit_every, reinit_score=a.reinit_score,
                              smooth=smooth, fps=source.fps, backend=a.backend,
                              **roi_options(a))
    except BaseException:
        source.release()
        raise
    print(f"{a.backend}: {tracker.describe()}", file=sys.stderr)
    writers, finished, stats = {}, False, {"frames": 0}
    try:
        if a.out:
            writers["out"] = Mp4Writer(check_output_path(a.out, ".mp4"), source.fps, source.size)
        if a.json:
            writers["json"] = JsonStreamWriter(check_output_path(a.json, ".json"), {
                "video": a.video if a.video is not None else f"camera:{a.camera}",
                "fps": source.fps, "width": source.size[0], "height": source.size[1],
                "joints": tracker.joints, "precision": a.precision, "backend": a.backend,
                "roi": a.roi,
                "reinit_every": a.reinit_every, "reinit_score": a.reinit_score,
                "smooth": a.smooth})
        if a.csv:
            writers["csv"] = CsvStreamWriter(check_output_path(a.csv, ".csv"), tracker.joints)
        if not writers:
            print("note: no --out, --json or --csv given; printing a summary only",
                  file=sys.stderr)
        stats = track_stream(source, tracker, writers.get("out"), writers.get("json"),
                             writers.get("csv"), progress=not a.no_progress,
                             draw_roi=a.roi != "full")
        finished = True
    finally:
        source.release()
        complete = finished and source.problem is None
        written = []
        for key, w in writers.items():
            if w.frames == 0:  # nothing to keep: leave no empty outputs behind
                w.discard()
                continue
            path = (w.close({"frames_written": w.frames, "complete": complete})
                    if key == "json" else w.close())
            if path:
                written.append(path)
        if not finished and written:
            n = max(w.frames for w in writers.values())
            print(f"warning: stopped after {n} frames; outputs kept up to there: "
                  f"{', '.join(written)}", file=sys.stderr)
    ms = tracker.graph_ms
    print(f"{stats['frames']} frames ({stats['initializer_frames']} initializer) in "
          f"{stats['seconds']:.1f} s, {stats['frames'] / max(stats['seconds'], 1e-9):.1f} "
          f"frames/s; ms per call: " + ", ".join(f"{g} {v:.2f}" for g, v in ms.items()))
    for p in written:
        print(f"wrote {p}")
    if not complete:
        print(f"warning: {source.name}: outputs kept up to frame {stats['frames'] - 1}",
              file=sys.stderr)
        raise UserError(f"{source.name}: {source.problem}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
