"""Cost against accuracy of the three ways to get a pose per frame, at 1 and 2 threads:

  initializer_every_frame   P on every frame            ms: pose_initializer per call
  encoder_head_every_frame  F with its per-frame head    ms: frame_encoder_head per call
                            (the optional export graph; absent from older exports)
  dkd_tracked_frame         the DKD tracked frame        ms: frame_encoder + dynamic_conv
                                                         (P runs on frame 1 only)
ms are the medians of the interleaved invoke() rounds of dkd_tf.benchmark.timing (graphs only:
no preprocessing or decoding). PCK@0.2 and jitter (mean joint acceleration / box size) come
from the LiteRT tracker on held-out synthetic videos (benchmark.accuracy's policies "initializer
every frame", "encoder head every frame" and "never"); they need trained weights.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from .accuracy import save_pck_figure

# (method, label, bench_precision key, accuracy policy label)
METHODS = (("initializer_every_frame", "P every frame", "initializer_frame",
            "initializer every frame"),
           ("encoder_head_every_frame", "F + head every frame", "encoder_head_frame",
            "encoder head every frame"),
           ("dkd_tracked_frame", "DKD tracked frame", "tracked_frame", "never"))
THREADS = (1, 2)


def cost_rows(timings: Dict[int, dict], policies: Optional[List[dict]] = None,
              precision: str = "fp32") -> List[dict]:
    """timings {threads: bench_precision result}, policies: accuracy rows (or None) ->
    one row per method and thread count: method, label, threads, ms, p90_ms, mflops, and
    pck / jitter when that policy was scored at this precision."""
    acc = {r["policy"]: r for r in policies or [] if r["precision"] == precision}
    rows = []
    for method, label, key, policy in METHODS:
        for th in sorted(timings):
            t = timings[th].get(key)
            if t is None:
                continue
            row = {"method": method, "label": label, "threads": th, "precision": precision,
                   "ms": t["ms"], "p90_ms": t["p90_ms"], "mflops": t["flops"] / 1e6}
            if policy in acc:
                row["pck"] = acc[policy]["pck"]
                row["jitter"] = acc[policy]["jitter"]["relative"]
            rows.append(row)
    return rows


def format_rows(rows: List[dict]) -> str:
    lines = [f"{'method':<26}{'threads':>8}{'ms/frame':>10}{'MFLOPs':>10}{'PCK@0.2':>9}"
             f"{'jitter':>8}"]
    for r in rows:
        pck = f"{r['pck']:.3f}" if "pck" in r else "-"
        jit = f"{r['jitter']:.4f}" if "jitter" in r else "-"
        lines.append(f"{r['method']:<26}{r['threads']:>8}{r['ms']:>10.3f}{r['mflops']:>10.1f}"
                     f"{pck:>9}{jit:>8}")
    return "\n".join(lines)


def plot_cost_accuracy(rows: List[dict], path: str, title: str) -> bool:
    """PNG: PCK@0.2 against ms per frame (log axis), one marker per method, filled at 1
    thread and hollow at 2, the jitter written beside each point. False (no file) when no
    row has a PCK."""
    rows = [r for r in rows if "pck" in r]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    methods = [m for m, *_ in METHODS]
    for r in rows:
        c = colours[methods.index(r["method"]) % len(colours)]
        one = r["threads"] == 1
        ax.scatter(r["ms"], r["pck"], s=50, marker="o", color=c if one else "none",
                   edgecolors=c, label=f"{r['label']}, {r['threads']} thread"
                   + ("" if one else "s"))
        ax.annotate(f"jitter {r['jitter']:.3f}", (r["ms"], r["pck"]), fontsize=7,
                    xytext=(6, -3 if one else 6), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("ms per frame (LiteRT graphs, this CPU; log scale)")
    save_pck_figure(fig, ax, path, title)
    return True
