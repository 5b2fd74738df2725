"""Accuracy against speed of the LiteRT tracker (trained assets): re-initialisation
policies and One-Euro settings scored on held-out synthetic videos (PCK@0.2, ms per frame,
jitter), and the PNG of PCK against ms per frame."""
from __future__ import annotations

import os
import time
from typing import List, Optional, Sequence

import numpy as np

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


def held_out_videos(size: int, videos: int, frames: int, seed: int = 0) -> List[dict]:
    from ..data.synthetic import HELD_OUT_OFFSET, SyntheticVideos

    gen = SyntheticVideos(size, frames, seed)
    return [gen.video(HELD_OUT_OFFSET + i) for i in range(videos)]


def jitter(keypoints, visible, bbox) -> dict:
    """Mean ||p[t+1] - 2 p[t] + p[t-1]|| of joints visible in all three frames: in pixels
    and divided by the box's larger side. keypoints [N, T, K, 2], visible [N, T, K]."""
    kp = np.asarray(keypoints, np.float64)
    acc = np.linalg.norm(kp[:, 2:] - 2 * kp[:, 1:-1] + kp[:, :-2], axis=-1)
    v = visible[:, 2:] & visible[:, 1:-1] & visible[:, :-2] & np.isfinite(acc)
    size = np.maximum(bbox[:, 1:-1, 2] - bbox[:, 1:-1, 0], bbox[:, 1:-1, 3] - bbox[:, 1:-1, 1])
    rel = acc / np.maximum(size, 1.0)[..., None]
    if not v.any():
        return {"px": float("nan"), "relative": float("nan")}
    return {"px": float(acc[v].mean()), "relative": float(rel[v].mean())}


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


def _pck(kp, videos) -> float:
    from ..metrics import pck

    gt = np.stack([v["joints"] for v in videos])
    vis = np.stack([v["visible"] for v in videos])
    box = np.stack([v["bbox"] for v in videos])
    flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731
    return pck(flat(kp), flat(gt), flat(box), flat(vis))["mean"]


def evaluate_policies(assets: str, precisions: Sequence[str], policies, videos: List[dict],
                      threads: int, progress: bool = True, backend: str = "litert"
                      ) -> List[dict]:
    """PCK@0.2 and mean ms per frame (tracker.process wall time: preprocessing, graphs,
    decoding) of each precision and policy on the given videos."""
    from ..progress import progress_bar
    from ..runtime import PoseTracker

    rows = []
    todo = [(p, lab, kw) for p in precisions for lab, kw in policies]
    for prec, label, kw in progress_bar(todo, desc="policies", unit="run", disable=not progress):
        tr = PoseTracker(assets, prec, num_threads=threads, backend=backend, **kw)
        res = run_tracker(tr, videos)
        vis = np.stack([v["visible"] for v in videos])
        box = np.stack([v["bbox"] for v in videos])
        rows.append({"precision": prec, "policy": label, "settings": kw,
                     "pck": _pck(res["keypoints"], videos),
                     **{k: res[k] for k in ("ms_per_frame", "ms_per_frame_mean",
                                            "ms_initializer_frame", "ms_tracked_frame",
                                            "initializer_share")},
                     "jitter": jitter(res["keypoints"], vis, box)})
    return rows


def evaluate_smoothing(assets: str, videos: List[dict], threads: int, settings,
                       policy: Optional[dict] = None, backend: str = "litert") -> List[dict]:
    """Jitter and PCK of the raw and the One-Euro-smoothed keypoints (fp32) for each
    OneEuroParams in settings; the first row is the ground truth's own acceleration."""
    from ..runtime import PoseTracker

    gt = np.stack([v["joints"] for v in videos])
    vis = np.stack([v["visible"] for v in videos])
    box = np.stack([v["bbox"] for v in videos])
    rows = [{"smoothing": "ground truth", "pck": 1.0, "jitter": jitter(gt, vis, box)}]
    raw_done = False
    for p in settings:
        tr = PoseTracker(assets, "fp32", num_threads=threads, smooth=p, backend=backend,
                         **(policy or {}))
        res = run_tracker(tr, videos)
        if not raw_done:
            rows.append({"smoothing": "none", "pck": _pck(res["raw_keypoints"], videos),
                         "jitter": jitter(res["raw_keypoints"], vis, box)})
            raw_done = True
        rows.append({"smoothing": f"one-euro min_cutoff={p.min_cutoff:g} beta={p.beta:g} "
                                  f"d_cutoff={p.d_cutoff:g}",
                     "params": {"min_cutoff": p.min_cutoff, "beta": p.beta,
                                "d_cutoff": p.d_cutoff},
                     "pck": _pck(res["keypoints"], videos),
                     "jitter": jitter(res["keypoints"], vis, box)})
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
