"""Accuracy against speed of the LiteRT tracker (trained assets): re-initialisation
policies and One-Euro settings scored on held-out synthetic videos (PCK@0.2, ms per frame,
jitter), and the PNG of PCK against ms per frame.

The videos and the scores are dkd_tf.heldout's (heldout_videos, pck_of, jitter_of)."""
from __future__ import annotations

import os
import time
from typing import List, Optional, Sequence

import numpy as np

from ..heldout import jitter_of, pck_of, stack_labels


def default_policies(score: float, encoder_head: bool = False) -> List[tuple]:
    """(label, PoseTracker keyword arguments) of the re-initialisation policies scored, and
    with encoder_head the per-frame baseline (the optional frame_encoder_head graph)."""
    head = [("encoder head every frame", {"encoder_head": True})] if encoder_head else []
    return head + [("never", {"reinit_every": 0}),
            ("every 30", {"reinit_every": 30}),
            ("every 10", {"reinit_every": 10}),
            (f"score < {score:g}", {"reinit_score": score}),
            ("every 30, roi track", {"reinit_every": 30, "roi": "track"}),
            ("initializer every frame", {"reinit_every": 1}),
            ("every frame, roi track", {"reinit_every": 1, "roi": "track"})]


def run_tracker(tracker, videos: List[dict]) -> dict:
    """Tracks each video (RGB frames) -> keypoints, raw keypoints [N, T, K, 2], ms per frame,
    share of initializer frames.

    ms_per_frame = share x median ms of initializer frames + (1 - share) x median ms of
    tracked frames (each tracker.process() call timed: preprocessing, graphs, decoding), so
    that bursts of load on a shared machine do not swamp the comparison; ms_per_frame_mean
    is the plain wall-clock mean."""
    kps, raws, times, flags = [], [], [], []
    clock = time.perf_counter
    for v in videos:
        tracker.reset()
        k, r = [], []
        for fr in v["frames"]:
            t0 = clock()
            p = tracker.process(fr, rgb=True)
            times.append(1e3 * (clock() - t0))
            flags.append(bool(p.initializer))
            k.append(p.keypoints)
            r.append(p.raw_keypoints)
        kps.append(k)
        raws.append(r)
    times, flags = np.asarray(times), np.asarray(flags)
    share = float(flags.mean()) if len(flags) else 0.0
    med = {b: float(np.median(times[flags == b])) if (flags == b).any() else 0.0
           for b in (True, False)}
    return {"keypoints": np.asarray(kps), "raw_keypoints": np.asarray(raws),
            "ms_per_frame": share * med[True] + (1 - share) * med[False],
            "ms_per_frame_mean": float(times.mean()) if len(times) else 0.0,
            "ms_initializer_frame": med[True], "ms_tracked_frame": med[False],
            "initializer_share": share}


def evaluate_policies(assets: str, precisions: Sequence[str], policies, videos: List[dict],
                      threads: int, progress: bool = True, backend: str = "litert"
                      ) -> List[dict]:
    """PCK@0.2 and mean ms per frame (tracker.process wall time: preprocessing, graphs,
    decoding) of each precision and policy on the given videos."""
    from ..progress import progress_bar
    from ..runtime import PoseTracker

    truth = stack_labels(videos)
    rows = []
    todo = [(p, lab, kw) for p in precisions for lab, kw in policies]
    for prec, label, kw in progress_bar(todo, desc="policies", unit="run", disable=not progress):
        tr = PoseTracker(assets, prec, num_threads=threads, backend=backend, **kw)
        res = run_tracker(tr, videos)
        rows.append({"precision": prec, "policy": label, "settings": kw,
                     "pck": pck_of(res["keypoints"], truth),
                     **{k: res[k] for k in ("ms_per_frame", "ms_per_frame_mean",
                                            "ms_initializer_frame", "ms_tracked_frame",
                                            "initializer_share")},
                     "jitter": jitter_of(res["keypoints"], truth)})
    return rows


def evaluate_smoothing(assets: str, videos: List[dict], threads: int, settings,
                       policy: Optional[dict] = None, backend: str = "litert") -> List[dict]:
    """Jitter and PCK of the raw and the One-Euro-smoothed keypoints (fp32) for each
    OneEuroParams in settings; the first row is the ground truth's own acceleration."""
    from ..runtime import PoseTracker

    truth = stack_labels(videos)
    rows = [{"smoothing": "ground truth", "pck": 1.0,
             "jitter": jitter_of(truth["joints"], truth)}]
    raw_done = False
    for p in settings:
        tr = PoseTracker(assets, "fp32", num_threads=threads, smooth=p, backend=backend,
                         **(policy or {}))
        res = run_tracker(tr, videos)
        if not raw_done:
            rows.append({"smoothing": "none", "pck": pck_of(res["raw_keypoints"], truth),
                         "jitter": jitter_of(res["raw_keypoints"], truth)})
            raw_done = True
        rows.append({"smoothing": f"one-euro min_cutoff={p.min_cutoff:g} beta={p.beta:g} "
                                  f"d_cutoff={p.d_cutoff:g}",
                     "params": {"min_cutoff": p.min_cutoff, "beta": p.beta,
                                "d_cutoff": p.d_cutoff},
                     "pck": pck_of(res["keypoints"], truth),
                     "jitter": jitter_of(res["keypoints"], truth)})
    return rows


def plot_pck_vs_ms(rows: List[dict], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    markers = "osD^vP*X"
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    precs = list(dict.fromkeys(r["precision"] for r in rows))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r in rows:
        ax.scatter(r["ms_per_frame"], r["pck"], marker=markers[policies.index(r["policy"]) % 8],
                   color=colours[precs.index(r["precision"]) % len(colours)], s=40)
    for i, p in enumerate(policies):
        ax.scatter([], [], marker=markers[i % 8], color="grey", label=p)
    for i, p in enumerate(precs):
        ax.scatter([], [], marker="s", color=colours[i % len(colours)], label=p)
    ax.set_xlabel("ms per frame (LiteRT, this CPU)")
    save_pck_figure(fig, ax, path, title)


def save_pck_figure(fig, ax, path: str, title: str) -> None:
    """PCK@0.2 axis, title, grid and legend, then the PNG written atomically."""
    import matplotlib.pyplot as plt

    ax.set_ylabel("PCK@0.2")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
