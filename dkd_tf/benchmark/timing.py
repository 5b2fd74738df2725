"""Timing of LiteRT interpreters: one interpreter per graph with a stated thread count and
the default delegate (XNNPACK), random inputs set once, `warmup` invokes, then rounds in
which every graph is invoked once, in turn, so all graphs see the same machine load."""
from __future__ import annotations

import os
import time
from typing import Dict

import numpy as np

from .tflite_analysis import analyze_tflite

GRAPHS = ("pose_initializer", "frame_encoder", "dynamic_conv")
OPTIONAL = ("frame_encoder_head",)  # timed too when the manifest has it


def _fill_inputs(interp, rng) -> None:
    for d in interp.get_input_details():
        shape, dt = tuple(d["shape"]), d["dtype"]
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            x = rng.integers(max(info.min, -100), min(info.max, 100), shape).astype(dt)
        else:
            x = rng.standard_normal(shape).astype(dt)
            if "heatmap" in d["name"]:
                x = np.abs(x) * 0.3
        interp.set_tensor(d["index"], x)


def time_rounds(interps: Dict[str, object], rounds: int, warmup: int) -> Dict[str, np.ndarray]:
    """Invokes each interpreter once per round, in turn -> {name: ms per round [rounds]}."""
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
                    warmup: int) -> dict:
    """Analysis and timing of one precision's three graphs (and frame_encoder_head when
    exported: "encoder_head_frame")."""
    from ..runtime import graph_files, make_interpreter

    names = GRAPHS + tuple(g for g in OPTIONAL if g in manifest["models"][precision])
    files = graph_files(manifest, precision, names=names)
    interps = {g: make_interpreter(files[g], threads) for g in names}
    ms = time_rounds(interps, rounds, warmup)
    parts = {}
    for g in names:
        a = analyze_tflite(files[g])
        parts[g] = {"file": os.path.basename(files[g]), "bytes": os.path.getsize(files[g]),
                    **a, **_stats(ms[g])}
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
