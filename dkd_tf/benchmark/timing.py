"""Timing of the exported graphs on a runtime backend: one model per graph with a stated
thread count (LiteRT: the default delegate, XNNPACK; onnxruntime: the best execution
provider it has), random inputs set once, `warmup` invokes, then rounds in which every
graph is invoked once, in turn, so all graphs see the same machine load."""
from __future__ import annotations

import os
import time
from typing import Dict

import numpy as np

from ..runtime.manifest import GRAPHS  # noqa: F401  (re-exported)
from .tflite_analysis import analyze_tflite

OPTIONAL = ("frame_encoder_head",)  # timed too when the manifest has it

def _fill_inputs(model, rng) -> None:
    """Random inputs for a runtime model (backends.load_model), set once."""
    feeds = {}
    for d in model.inputs:
        shape, dt = tuple(int(v) for v in d["shape"]), np.dtype(d["dtype"])
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            x = rng.integers(max(info.min, -100), min(info.max, 100), shape).astype(dt)
        else:
            x = rng.standard_normal(shape).astype(dt)
            if "heatmap" in d["name"]:
                x = np.abs(x) * 0.3
        feeds[d["name"]] = x
    model.set_inputs(feeds)


def time_rounds(interps: Dict[str, object], rounds: int, warmup: int) -> Dict[str, np.ndarray]:
    """Invokes each model once per round, in turn -> {name: ms per round [rounds]}.
    interps: runtime models (set_inputs / invoke)."""
    rng = np.random.default_rng(0)
    for it in interps.values():
        _fill_inputs(it, rng)
    for _ in range(warmup):
        for it in interps.values():
            it.invoke()
    out = {k: np.empty(rounds) for k in interps}
    clock = time.perf_counter
    for r in range(rounds):
        for k, it in interps.items():
            t0 = clock()
            it.invoke()
            out[k][r] = (clock() - t0) * 1e3
    return out


def _stats(ms: np.ndarray) -> dict:
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "mean_ms": float(np.mean(ms))}


def bench_precision(manifest: dict, precision: str, threads: int, rounds: int,
                    warmup: int, backend: str = "litert") -> dict:
    """Analysis and timing of one precision's three graphs (and frame_encoder_head when
    exported: "encoder_head_frame") on a backend. Params and FLOPs are read from the .tflite
    file (for ONNX: the fp32 one every .onnx file is converted from; edge/onnx_export.py)."""
    from ..runtime import graph_files, graph_specs, load_model

    optional = tuple(g for g in OPTIONAL if g in graph_specs(manifest, precision, backend))
    names = GRAPHS + optional
    files = graph_files(manifest, precision, backend=backend, names=names)
    tflite = files if backend == "litert" else graph_files(manifest, "fp32", names=names)
    models = {g: load_model(backend, files[g], threads, precision=precision) for g in names}
    ms = time_rounds(models, rounds, warmup)
    parts = {}
    for g in names:
        a = analyze_tflite(tflite[g])
        parts[g] = {"file": os.path.basename(files[g]), "bytes": os.path.getsize(files[g]),
                    "device": models[g].device, **a, **_stats(ms[g])}
    tracked = ms["frame_encoder"] + ms["dynamic_conv"]
    init = ms["pose_initializer"]
    tf_ = parts["frame_encoder"]["flops"] + parts["dynamic_conv"]["flops"]
    if_ = parts["pose_initializer"]["flops"]
    both = ms["pose_initializer"] + ms["frame_encoder"]
    head = {}
    if "frame_encoder_head" in ms:  # the per-frame baseline: one graph per frame
        h = ms["frame_encoder_head"]
        head["encoder_head_frame"] = {"flops": parts["frame_encoder_head"]["flops"],
                                      "ms": float(np.median(h)),
                                      "p90_ms": float(np.percentile(h, 90))}
    return {
        **head,
        "parts": parts,
        "tracked_frame": {"flops": tf_, "ms": float(np.median(tracked)),
                          "p90_ms": float(np.percentile(tracked, 90))},
        "initializer_frame": {"flops": if_, "ms": float(np.median(init)),
                              "p90_ms": float(np.percentile(init, 90))},
        # the first frame of a video runs both P and F (the state needs f_1)
        "first_frame": {"flops": if_ + parts["frame_encoder"]["flops"],
                        "ms": float(np.median(both))},
        "ratios": {"flops": if_ / max(tf_, 1), "ms": float(np.median(init) / np.median(tracked))},
    }
