"""Benchmark of the exported graphs on this machine, with a runtime backend (LiteRT, or
onnxruntime on the manifest's ONNX graphs) and a stated thread count.

    python -m dkd_tf.bench [--assets DIR | --preset NAME] [--json OUT] [--frames N]
                           [--threads N] [--backend litert|onnxruntime]

For each graph and precision: parameters and FLOPs counted from the .tflite flatbuffer,
median and p90 ms of invoke(); the tracked frame (frame_encoder + dynamic_conv) against the
initializer frame (pose_initializer) as ratios of FLOPs and ms; the dynamic correlation's
GFLOP/s against the same op with constant weights; peak RSS of a runtime-only process.
The cost/accuracy part (dkd_tf/benchmark/cost_accuracy.py) times P every frame, F with its
per-frame head every frame (the optional frame_encoder_head graph) and the DKD tracked frame
at 1 and 2 threads; with trained assets it plots their PCK@0.2 against ms per frame, jitter
beside each point (<json>_cost.png).
With --preset (and no assets) it first exports an untrained model of that preset to a
temporary folder: timing does not depend on the weights. With assets of a trained model
(manifest "checkpoint" set) it also scores re-initialisation policies and One-Euro
smoothing on held-out synthetic videos (PCK@0.2 against ms per frame, one PNG).

FLOPs and params are read from the flatbuffer (method: dkd_tf/benchmark/tflite_analysis.py,
and the JSON's "flops_method").

Timing (method): one model per graph with `threads` threads (LiteRT: the default delegate,
XNNPACK; onnxruntime: its best execution provider, said on stderr), random inputs set once,
`warmup` invokes, then `frames` rounds; each round invokes every graph of a precision once,
in turn, so all graphs see the same machine load; tracked-frame ms = per-round
frame_encoder + dynamic_conv, median over rounds. May import TensorFlow (export and the
correlation micro-benchmark); the runtime it times does not.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from typing import Optional, Sequence

import numpy as np

from .benchmark.accuracy import (default_policies, evaluate_policies, evaluate_smoothing,
                                 plot_pck_vs_ms)
from .benchmark.memory import peak_rss_mb, runtime_peak_rss, stream_rss
from .benchmark.tflite_analysis import FLOPS_METHOD, correlation_shape
from .benchmark.timing import bench_precision
from .errors import (ONNXRUNTIME_MISSING, UserError, quiet_libraries, require_module,
                     run_cli)
from .heldout import heldout_videos


# ---- report --------------------------------------------------------------------------
def format_report(res: dict) -> str:
    lines = [f"{res.get('runtime', res['litert'])} on {res['machine']}, "
             f"{res.get('device', 'cpu')}, {res['threads']} thread(s), "
             f"input {res['input'][0]}x{res['input'][1]}; {res['weights']}",
             f"{'graph':<20}{'prec':<6}{'params':>10}{'MFLOPs':>10}{'median ms':>11}"
             f"{'p90 ms':>9}{'GFLOP/s':>9}"]
    for prec, r in res["precisions"].items():
        for g, p in r["parts"].items():
            lines.append(f"{g:<20}{prec:<6}{p['params']:>10,}{p['flops'] / 1e6:>10.1f}"
                         f"{p['median_ms']:>11.3f}{p['p90_ms']:>9.3f}"
                         f"{p['flops'] / p['median_ms'] / 1e6:>9.1f}")
    lines.append("")
    for prec, r in res["precisions"].items():
        t, i, q = r["tracked_frame"], r["initializer_frame"], r["ratios"]
        lines.append(f"{prec}: tracked frame (F + D) {t['flops'] / 1e6:.1f} MFLOPs "
                     f"{t['ms']:.3f} ms; initializer frame (P) {i['flops'] / 1e6:.1f} MFLOPs "
                     f"{i['ms']:.3f} ms; P / tracked: FLOPs {q['flops']:.1f}x, "
                     f"ms {q['ms']:.1f}x")
    d = res.get("dynamic_conv")
    if d:
        lines.append(f"dynamic correlation ({d['matching']}, S={d['kernel_size']}, "
                     f"{d['flops'] / 1e6:.2f} MFLOPs): {d['gflops_per_s']:.1f} GFLOP/s "
                     f"({d['ms']:.3f} ms) vs constant weights {d['reference_gflops_per_s']:.1f} "
                     f"GFLOP/s ({d['reference_ms']:.3f} ms): {100 * d['fraction']:.0f}%")
    rss = res.get("peak_rss_mb", {})
    if rss:
        lines.append("peak RSS: " + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items()
                                               if isinstance(v, (int, float))))
    if res.get("stream_rss"):
        s = res["stream_rss"]
        lines.append("RSS while streaming: " + ", ".join(
            f"after frame {k:,} {v:.1f} MB" for k, v in sorted(s["rss_mb"].items())))
    if res.get("cost_accuracy"):
        from .benchmark.cost_accuracy import format_rows

        lines += ["", "cost / accuracy (" + res["cost_accuracy"]["precision"] + "):",
                  format_rows(res["cost_accuracy"]["rows"])]
    pk = res.get("pck", {})
    if "skipped" in pk:
        lines.append(f"PCK part skipped: {pk['skipped']}")
    elif pk:
        lines.append("")
        lines.append(f"{'precision':<10}{'policy':<26}{'PCK@0.2':>8}{'ms/frame':>10}"
                     f"{'(mean)':>8}{'init %':>8}{'jitter':>8}")
        for r in pk["policies"]:
            lines.append(f"{r['precision']:<10}{r['policy']:<26}{r['pck']:>8.3f}"
                         f"{r['ms_per_frame']:>10.2f}{r.get('ms_per_frame_mean', 0):>8.2f}"
                         f"{100 * r['initializer_share']:>8.1f}"
                         f"{r['jitter']['relative']:>8.4f}")
        if pk.get("smoothing"):
            lines.append("")
            lines.append(f"{'policy':<25}{'smoothing':<46}{'PCK@0.2':>8}{'jitter px':>10}"
                         f"{'rel':>8}")
            for r in pk["smoothing"]:
                lines.append(f"{r.get('policy', ''):<25}{r['smoothing']:<46}{r['pck']:>8.3f}"
                             f"{r['jitter']['px']:>10.3f}{r['jitter']['relative']:>8.4f}")
    return "\n".join(lines)


def _litert_version() -> str:
    from .runtime.backends import backend_version

    return backend_version("litert")


def export_untrained(preset: str, out_dir: str, precisions: Sequence[str],
                     progress: bool = True) -> dict:
    """Exports an untrained model of a preset (timing does not depend on the weights)."""
    import dataclasses

    from .config import get_preset
    from .errors import import_tensorflow

    import_tensorflow()
    from .edge.exporter import export_model
    from .models.dkd import DKD

    cfg = get_preset(preset)
    model = DKD(dataclasses.asdict(cfg.model)).build_all(1)
    return export_model(model, cfg, out_dir, precisions=tuple(precisions), checkpoint="",
                        calibration_frames=8, golden=False, gpu_check=False, progress=progress,
                        reference_videos=0)


def _correlation_shape(manifest: dict, precision: str) -> tuple:
    """(S, matching, m, n, C, K): the manifest's model_config, else read from the
    dynamic_conv graph, else the preset's."""
    from .runtime import graph_files

    mc = manifest.get("model_config")
    if mc:
        m = int(manifest["heatmap"]["height"]), int(manifest["heatmap"]["width"])
        return (int(mc["kernel_size"]), mc["matching"], *m, int(mc["feature_channels"]),
                int(mc["num_joints"]))
    found = correlation_shape(graph_files(manifest, precision)["dynamic_conv"])
    if found is not None:
        return found
    from .config import get_preset

    mc = get_preset(manifest.get("preset", "tiny")).model
    m = mc.heatmap_size
    return mc.kernel_size, mc.matching, m, m, mc.feature_channels, mc.num_joints


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dkd_tf.bench",
                                 description="Benchmark the exported graphs with LiteRT.")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--assets", default=None,
                     help="folder with manifest.json (default android_demo_assets/)")
    src.add_argument("--preset", default=None,
                     help="export an untrained model of this preset (tiny, mobile, r50) first")
    ap.add_argument("--json", default="bench.json", help="results (JSON); the PNG goes beside")
    ap.add_argument("--frames", type=int, default=100, help="timed rounds per graph")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--backend", choices=("litert", "onnxruntime"), default="litert",
                    help="time the .tflite graphs on LiteRT or the .onnx ones on onnxruntime "
                         "(TensorRT > CUDA > CPU provider, whichever it has)")
    ap.add_argument("--precisions", default=None,
                    help="comma list (default: all in the manifest; fp32,fp16,int8 with --preset)")
    ap.add_argument("--pck-videos", type=int, default=10,
                    help="held-out synthetic videos for the PCK part (0 = skip)")
    ap.add_argument("--pck-frames", type=int, default=40)
    ap.add_argument("--reinit-score", type=float, default=None,
                    help="threshold of the score-based policy (default: the 10th percentile "
                         "of the tracked frames' mean joint score on the first two videos)")
    ap.add_argument("--memory-frames", type=int, default=0,
                    help="also stream a generated video of N frames and report RSS (0 = skip)")
    ap.add_argument("--no-correlation", action="store_true",
                    help="skip the correlation micro-benchmark (it needs TensorFlow; "
                         "LiteRT only)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    for flag in ("frames", "threads"):
        if getattr(a, flag) < 1:
            raise UserError(f"--{flag} must be >= 1")
    if a.warmup < 0 or a.pck_videos < 0 or a.memory_frames < 0 or a.pck_frames < 3:
        raise UserError("--warmup, --pck-videos and --memory-frames must be >= 0, "
                        "--pck-frames >= 3")
    json_path = os.path.abspath(a.json)
    if not os.path.isdir(os.path.dirname(json_path)):
        raise UserError(f"{json_path}: folder does not exist")
    assets = a.assets
    if assets is None and a.preset is None:
        assets = "android_demo_assets"
        if not os.path.isdir(assets):
            raise UserError("android_demo_assets/: not found; give --assets DIR or --preset NAME")
    if a.preset is not None:
        from .config import PRESETS

        if a.preset not in PRESETS:
            raise UserError(f"unknown preset {a.preset!r}; choose from {', '.join(PRESETS)}")
        if a.backend != "litert":
            raise UserError("--preset exports LiteRT graphs only: export, add ONNX with "
                            "export/to_onnx.py, then give --assets DIR --backend onnxruntime")
    if a.backend == "onnxruntime":
        require_module("onnxruntime", ONNXRUNTIME_MISSING)
    quiet_libraries()
    tmp = None
    precisions = a.precisions.split(",") if a.precisions else None
    try:
        if a.preset is not None:
            precisions = precisions or ["fp32", "fp16", "int8"]
            tmp = tempfile.mkdtemp(prefix=f"dkd-bench-{a.preset}-")
            print(f"exporting an untrained {a.preset} model to {tmp} (timing does not depend "
                  f"on the weights) ...", file=sys.stderr)
            export_untrained(a.preset, tmp, precisions, progress=not a.no_progress)
            assets = tmp
        return run_bench(a, assets, precisions, tmp is not None, json_path)
    finally:
        if tmp is not None:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def run_bench(a, assets: str, precisions, exported: bool, json_path: str) -> int:
    """Everything after the assets exist (main's arguments in a)."""
    from .runtime import backend_version, graph_specs, load_manifest

    manifest = load_manifest(assets)
    section = "models" if a.backend == "litert" else "onnx"
    precisions = precisions or list(manifest.get(section) or manifest["models"])
    for p in precisions:
        graph_specs(manifest, p, a.backend)  # one clear line when absent
    trained = bool(manifest.get("checkpoint")) and a.preset is None
    weights = ("trained weights: " + str(manifest.get("checkpoint")) if trained else
               "untrained weights (timing does not depend on them)")
    res = {"assets": None if exported else os.path.abspath(assets),
           "preset": a.preset or manifest.get("preset"), "weights": weights,
           "input": [int(manifest["input"]["height"]), int(manifest["input"]["width"])],
           "threads": a.threads, "machine": f"{platform.machine()} {platform.processor() or ''}"
           f" {os.cpu_count()} cores".replace("  ", " "), "litert": _litert_version(),
           "backend": a.backend, "runtime": backend_version(a.backend),
           "rounds": a.frames, "warmup": a.warmup, "flops_method": FLOPS_METHOD,
           "timing_method": "median / p90 of invoke() over rounds, graphs interleaved",
           "precisions": {}}
    for p in precisions:
        res["precisions"][p] = bench_precision(manifest, p, a.threads, a.frames, a.warmup,
                                               a.backend)
    res["device"] = next(iter(res["precisions"][precisions[0]]["parts"].values()))["device"]
    print(f"{a.backend}: {res['runtime']} on {res['device']}", file=sys.stderr)
    ref = res["precisions"]["fp32" if "fp32" in res["precisions"] else precisions[0]]
    res["parts"] = {p: r["parts"] for p, r in res["precisions"].items()}
    for k in ("tracked_frame", "initializer_frame", "first_frame", "ratios"):
        res[k] = ref[k]
    if not a.no_correlation and a.backend == "litert":
        from .benchmark.correlation import correlation_benchmark

        S, matching, m, n, C, K = _correlation_shape(manifest, precisions[0])
        res["dynamic_conv"] = correlation_benchmark(S, matching, m, n, C, K, a.threads,
                                                    a.frames, a.warmup)
    res["peak_rss_mb"] = {
        "runtime_process": runtime_peak_rss(assets, precisions[0], a.threads,
                                            backend=a.backend)["peak_rss_mb"],
        "this_process": peak_rss_mb()}
    if a.memory_frames:
        marks = sorted({min(1000, a.memory_frames), a.memory_frames})
        res["stream_rss"] = stream_rss(assets, a.memory_frames, res["input"][0], marks)
    if not trained:
        res["pck"] = {"skipped": "untrained weights" + (f" (--preset {a.preset})" if a.preset
                                                        else " (manifest has no checkpoint)")}
    elif a.pck_videos == 0:
        res["pck"] = {"skipped": "--pck-videos 0"}
    else:
        res["pck"] = accuracy_part(assets, manifest, precisions, a, json_path)
    res["cost_accuracy"] = cost_accuracy_part(manifest, precisions, a, res, json_path)
    from .io_utils import atomic_write_json

    atomic_write_json(json_path, res)
    print(format_report(res))
    pngs = [p for p in (res["pck"].get("png"), res["cost_accuracy"].get("png")) if p]
    print(f"wrote {json_path}" + "".join(f" and {p}" for p in pngs))
    return 0


def cost_accuracy_part(manifest, precisions, a, res, json_path) -> dict:
    """P every frame, F + head every frame, DKD tracked frame at 1 and 2 threads (the
    reference precision), with the accuracy part's PCK and jitter when it ran."""
    from .benchmark.cost_accuracy import THREADS, cost_rows, plot_cost_accuracy

    prec = "fp32" if "fp32" in res["precisions"] else precisions[0]
    timings = {a.threads: res["precisions"][prec]}
    for th in THREADS:
        if th not in timings:
            timings[th] = bench_precision(manifest, prec, th, a.frames, a.warmup)
    rows = cost_rows({th: timings[th] for th in THREADS}, res["pck"].get("policies"), prec)
    out = {"precision": prec, "threads": list(THREADS), "rows": rows}
    if "encoder_head_frame" not in timings[a.threads]:
        out["note"] = "no frame_encoder_head graph in this export (re-export to add it)"
    png = os.path.splitext(json_path)[0] + "_cost.png"
    title = (f"PCK@0.2 vs ms per frame ({prec}, {res['input'][0]} px); "
             f"{res['pck'].get('videos', 0)} held-out synthetic videos")
    if plot_cost_accuracy(rows, png, title):
        out["png"] = png
    return out


def accuracy_part(assets, manifest, precisions, a, json_path) -> dict:
    """Policies x precisions and One-Euro settings on held-out synthetic videos."""
    from .runtime import OneEuroParams, PoseTracker

    size = int(manifest["input"]["height"])
    videos = heldout_videos(size, a.pck_videos, a.pck_frames)
    score = a.reinit_score
    if score is None:  # the 10th percentile of tracked frames' mean score (2 videos)
        tr = PoseTracker(assets, "fp32", num_threads=a.threads, backend=a.backend)
        sc = []
        for v in videos[:2]:
            tr.reset()
            sc += [tr.process(f, rgb=True).scores.mean() for f in v["frames"]][1:]
        score = round(float(np.percentile(sc, 10)), 3)
    head = "frame_encoder_head" in manifest["models"][precisions[0]]
    rows = evaluate_policies(assets, precisions, default_policies(score, head), videos,
                             a.threads, progress=not a.no_progress, backend=a.backend)
    settings = [OneEuroParams(), OneEuroParams(4.0, 2.0, 1.0), OneEuroParams(0.5, 1.0, 1.0)]
    smooth = []
    for label, policy in (("every 30", {"reinit_every": 30}),
                          ("initializer every frame", {"reinit_every": 1})):
        for r in evaluate_smoothing(assets, videos, a.threads, settings, policy=policy,
                                    backend=a.backend):
            smooth.append({"policy": label, **r})
    png = os.path.splitext(json_path)[0] + "_pck.png"
    plot_pck_vs_ms(rows, png, f"PCK@0.2 vs ms/frame, {a.pck_videos} held-out synthetic videos "
                              f"x {a.pck_frames} frames, {a.threads} threads")
    return {"videos": a.pck_videos, "frames": a.pck_frames, "reinit_score": score,
            "policies": rows, "smoothing": smooth, "png": png}


if __name__ == "__main__":
    sys.exit(run_cli(main))
