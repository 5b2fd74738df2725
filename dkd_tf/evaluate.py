"""Scoring: PCK of DKD (P on frame 1, tracking after) against P on every frame.

`python -m dkd_tf.evaluate --workdir W [--json OUT] [--ablation-workdir W2]` evaluates the
latest checkpoint of W on the held-out videos (synthetic by default, or `--dataset penn|jhmdb
--data DIR`) and writes eval.json and pck.png into W (or where --json says).
Protocol: PCK@0.2 of the ground-truth box's larger side in frame pixels; Penn Action and the
synthetic set count visible joints only, JHMDB counts all joints.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

import numpy as np

from .codec import decode_heatmaps
from .errors import run_cli
from .metrics import pck, pck_curve


def predict_videos(model, images: np.ndarray, every_frame: bool = False,
                   batch: int = 16) -> np.ndarray:
    """images [N, T, S, S, 3] -> heatmaps [N, T, m, m, K], streaming frame by frame with the
    exported per-frame functions (DKD) or P on every frame (every_frame=True)."""
    from .errors import import_tensorflow

    tf = import_tensorflow()
    init = tf.function(lambda x: model.init_step(x, training=False))
    track = tf.function(lambda f, h, x: model.track_step(f, h, x, training=False))
    p_only = tf.function(lambda x: model.initializer(x, training=False))
    out = []
    for i in range(0, len(images), batch):
        clip = images[i:i + batch]
        if every_frame:
            T = clip.shape[1]
            flat = clip.reshape(-1, *clip.shape[2:])
            hs = np.concatenate([p_only(flat[j:j + 64]).numpy() for j in range(0, len(flat), 64)])
            out.append(hs.reshape(len(clip), T, *hs.shape[1:]))
            continue
        f, h = init(clip[:, 0])
        hs = [h.numpy()]
        for t in range(1, clip.shape[1]):
            f, h = track(f, h, clip[:, t])
            hs.append(h.numpy())
        out.append(np.stack(hs, axis=1))
    return np.concatenate(out)


def frame_keypoints(heatmaps: np.ndarray, crops: np.ndarray, input_size: int):
    """heatmaps [N, T, m, m, K], crops [N, 2, 3] (frame -> input) -> keypoints [N, T, K, 2]
    in frame pixels, scores [N, T, K]."""
    kp, sc = decode_heatmaps(heatmaps, input_size)
    out = np.empty_like(kp, dtype=np.float64)
    for i, A in enumerate(crops):
        R = np.asarray(A[:, :2], np.float64)
        Ri = np.linalg.inv(R)
        out[i] = (kp[i] - A[:, 2]) @ Ri.T
    return out, sc


def jitter(keypoints: np.ndarray, visible: np.ndarray, bbox: np.ndarray) -> float:
    """Mean frame-to-frame acceleration ||p[t+1] - 2 p[t] + p[t-1]|| of joints visible in all
    three frames, divided by the box's larger side (so it reads as a fraction of the body)."""
    acc = np.linalg.norm(keypoints[:, 2:] - 2 * keypoints[:, 1:-1] + keypoints[:, :-2], axis=-1)
    v = visible[:, 2:] & visible[:, 1:-1] & visible[:, :-2]
    size = np.maximum(bbox[:, 1:-1, 2] - bbox[:, 1:-1, 0], bbox[:, 1:-1, 3] - bbox[:, 1:-1, 1])
    acc = acc / np.maximum(size, 1.0)[..., None]
    return float(acc[v].mean()) if v.any() else float("nan")


def score(keypoints, records, count_all: bool = False) -> dict:
    """keypoints [N, T, K, 2] frame pixels vs the records' labels -> the JSON block."""
    gt = np.stack([r["joints"] for r in records]).astype(np.float64)
    vis = np.stack([r["visible"] for r in records]).astype(bool)
    if count_all:
        vis = np.ones_like(vis)
    box = np.stack([r["bbox"] for r in records]).astype(np.float64)
    N, T, K = gt.shape[:3]
    flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731
    res = pck(flat(keypoints), flat(gt), flat(box), flat(vis))
    alphas, curve, auc = pck_curve(flat(keypoints), flat(gt), flat(box), flat(vis))
    per_frame = [pck(keypoints[:, t], gt[:, t], box[:, t], vis[:, t])["mean"] for t in range(T)]
    actions = {}
    for a in sorted({r.get("action", "") for r in records}):
        idx = [i for i, r in enumerate(records) if r.get("action", "") == a]
        actions[a] = pck(flat(keypoints[idx]), flat(gt[idx]), flat(box[idx]),
                         flat(vis[idx]))["mean"]
    return {"pck": res["mean"], "auc": auc, "pck_per_joint": [float(v) for v in res["per_joint"]],
            "pck_groups": res["group_mean"], "pck_per_frame": [float(v) for v in per_frame],
            "pck_curve": {"alphas": [float(a) for a in alphas], "values": [float(v) for v in curve]},
            "pck_per_action": actions, "jitter": jitter(keypoints, vis, box),
            "counted": res["counted"]}


def evaluate_model(model, records, pipe_cfg, count_all=False, every_frame=True,
                   chunk: int = 16) -> dict:
    """Runs DKD (and P on every frame) over whole held-out videos and scores both. Videos
    go through in chunks of `chunk`, so only one chunk's float frames and heatmaps are in
    memory at a time (all 100 default videos at once: ~2 GB)."""
    from .data.pipeline import evaluation_inputs, num_frames

    T = min(num_frames(r) for r in records)
    kps = {"dkd": [], "initializer_every_frame": []}
    for i in range(0, len(records), chunk):
        ins = evaluation_inputs(records[i:i + chunk], pipe_cfg)
        images = np.stack([d["image"][:T] for d in ins])
        crops = np.stack([d["crop"] for d in ins])
        for name, every in (("dkd", False), ("initializer_every_frame", True)):
            if every and not every_frame:
                continue
            kp, _ = frame_keypoints(predict_videos(model, images, every_frame=every), crops,
                                    pipe_cfg.input_size)
            kps[name].append(kp)
        del ins, images
    recs = [{**r, "joints": r["joints"][:T], "visible": r["visible"][:T], "bbox": r["bbox"][:T]}
            for r in records]
    out = {name: score(np.concatenate(kp), recs, count_all) for name, kp in kps.items() if kp}
    out["frames_per_video"] = int(T)
    out["videos"] = len(records)
    return out


def format_table(results: dict) -> str:
    """A plain-text table: rows = methods, columns = PCK@0.2, AUC, groups, drift."""
    from .joints import PCK_GROUPS

    rows = [("method", "PCK@0.2", "AUC", *PCK_GROUPS, "fr2-16", "fr17-32", "jitter")]
    for name in ("dkd", "dkd_no_adversarial", "initializer_every_frame"):
        if name not in results:
            continue
        r = results[name]
        pf = np.array(r["pck_per_frame"])
        rows.append((name, f"{r['pck']:.3f}", f"{r['auc']:.3f}",
                     *[f"{r['pck_groups'][g]:.3f}" for g in PCK_GROUPS],
                     f"{np.nanmean(pf[1:16]):.3f}", f"{np.nanmean(pf[16:32]):.3f}" if len(pf) > 16 else "-",
                     f"{r['jitter']:.4f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in
                               enumerate(zip(r, widths))) for r in rows)


def plot_curves(results: dict, path: str) -> None:
    """PNG: PCK against threshold (left) and PCK per frame index (right) for each method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("dkd", "dkd_no_adversarial", "initializer_every_frame"):
        if name in results:
            r = results[name]
            a.plot(r["pck_curve"]["alphas"], r["pck_curve"]["values"], marker="o",
                   label=f"{name} (AUC {r['auc']:.3f})")
            b.plot(np.arange(1, len(r["pck_per_frame"]) + 1), r["pck_per_frame"], label=name)
    a.set_xlabel("threshold (fraction of box size)"), a.set_ylabel("PCK"), a.grid(alpha=0.3)
    b.set_xlabel("frame index"), b.set_ylabel("PCK@0.2"), b.grid(alpha=0.3)
    a.legend(fontsize=8), b.legend(fontsize=8)
    a.set_title("PCK curve"), b.set_title("PCK@0.2 per frame (drift)")
    fig.tight_layout()
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .data.sources import DATASETS, check_data_dir

    ap = argparse.ArgumentParser(prog="python -m dkd_tf.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default="runs/tiny")
    ap.add_argument("--json", default=None, help="where to write the results (default W/eval.json)")
    ap.add_argument("--ablation-workdir", default=None,
                    help="work directory of a run trained without the adversarial term")
    ap.add_argument("--dataset", choices=DATASETS, default="synthetic")
    ap.add_argument("--data", default=None)
    ap.add_argument("--videos", type=int, default=None, help="held-out videos (synthetic)")
    a = ap.parse_args(argv)
    check_data_dir(a.dataset, a.data)
    from .trainer import open_workdir_for_eval

    model, cfg, step, steps_run = open_workdir_for_eval(a.workdir)
    abl = open_workdir_for_eval(a.ablation_workdir) if a.ablation_workdir else None
    from .training_data import eval_records_and_pipeline

    recs, pipe = eval_records_and_pipeline(cfg, a.dataset, a.data, a.videos)
    res = evaluate_model(model, recs, pipe, count_all=(a.dataset == "jhmdb"))
    if abl is not None:
        res["dkd_no_adversarial"] = evaluate_model(abl[0], recs, pipe, a.dataset == "jhmdb",
                                                   every_frame=False)["dkd"]
    from .flops import dkd_flops

    fl = dkd_flops(model)
    res["flops"] = {"initializer": fl["initializer"], "tracked": fl["tracked"],
                    "encoder": fl["encoder"], "match": fl["match"]}
    res.update(preset=cfg.preset, checkpoint_step=step, dataset=a.dataset, steps_run=steps_run)
    out = a.json or os.path.join(a.workdir, "eval.json")
    from .io_utils import atomic_write_json

    atomic_write_json(out, res)
    plot_curves(res, os.path.splitext(out)[0] + "_pck.png")
    print(format_table(res))
    print(f"FLOPs per frame: initializer {fl['initializer'] / 1e9:.3f} G, tracked "
          f"{fl['tracked'] / 1e9:.3f} G (ratio {fl['initializer'] / fl['tracked']:.1f}x)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
