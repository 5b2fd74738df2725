"""Scoring: PCK of DKD (P on frame 1, tracking after) against P on every frame, and the
ablation rows that say what the tracker adds.

`python -m dkd_tf.evaluate --workdir W [--split heldout|validation] [--json OUT]
[--ablation-workdir W2]` evaluates the latest checkpoint of W on the held-out videos
(default; synthetic, or `--dataset penn|jhmdb --data DIR`), or on the synthetic validation
videos (`--split validation`: the range to tune on, see dkd_tf.data.splits), and writes
eval.json (eval_validation.json) and its _pck.png into W (or where --json says).
Protocol: PCK@0.2 of the ground-truth box's larger side in frame pixels; Penn Action and the
synthetic set count visible joints only, JHMDB counts all joints.

Rows (blocks of eval.json with the same keys; `ROWS` in table order; the heatmaps come from
dkd_tf.prediction.predict_rows):
  dkd                      P on frame 1; then h_t = match(f_{t-1}, h_{t-1}, f_t): the tracker.
  dkd_no_adversarial       the same for the --ablation-workdir model.
  dkd_without_past         P on frame 1 (as dkd); then h_t = match(f_{t-1}, 0, f_t): the
                           tracker with the previous heatmaps zeroed before Phi and before
                           the heatmap prior (f_{t-1}, the previous frame's features, is
                           kept), i.e. what the tracker makes of the frames without its
                           pose state.
  encoder_every_frame      F's per-frame head on every frame, frame 1 included, no past and
                           no P: h_t = head(f_t) (dkd_tf.models.per_frame_head: k_0 + the
                           prior's bias once stage 2 has started, the stage-1 auxiliary head
                           before). Skipped with a one-line warning when the checkpoint has
                           no head that matches F (older configs).
  initializer_every_frame  P on every frame.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

import numpy as np

from .errors import run_cli
from .metrics import frames, jitter, pck, pck_curve, pck_videos
from .prediction import frame_keypoints, predict_rows, row_functions


def score(keypoints, records, count_all: bool = False) -> dict:
    """keypoints [N, T, K, 2] frame pixels vs the records' labels -> the JSON block."""
    gt = np.stack([r["joints"] for r in records]).astype(np.float64)
    vis = np.stack([r["visible"] for r in records]).astype(bool)
    if count_all:
        vis = np.ones_like(vis)
    box = np.stack([r["bbox"] for r in records]).astype(np.float64)
    T = gt.shape[1]
    res = pck_videos(keypoints, gt, box, vis)
    alphas, curve, auc = pck_curve(*map(frames, (keypoints, gt, box, vis)))
    per_frame = [pck(keypoints[:, t], gt[:, t], box[:, t], vis[:, t])["mean"] for t in range(T)]
    actions = {}
    for a in sorted({r.get("action", "") for r in records}):
        idx = [i for i, r in enumerate(records) if r.get("action", "") == a]
        actions[a] = pck_videos(keypoints[idx], gt[idx], box[idx], vis[idx])["mean"]
    return {"pck": res["mean"], "auc": auc, "pck_per_joint": [float(v) for v in res["per_joint"]],
            "pck_groups": res["group_mean"], "pck_per_frame": [float(v) for v in per_frame],
            "pck_curve": {"alphas": [float(a) for a in alphas], "values": [float(v) for v in curve]},
            "pck_per_action": actions, "jitter": jitter(keypoints, vis, box)["relative"],
            "counted": res["counted"]}


def evaluate_model(model, records, pipe_cfg, count_all=False, every_frame=True,
                   chunk: int = 16, head=None, without_past: bool = True) -> dict:
    """Runs the rows of the module docs over whole videos and scores each: "dkd" always,
    "dkd_without_past" (without_past), "encoder_every_frame" (head: a PerFrameHead, else
    skipped) and "initializer_every_frame" (every_frame). Videos go through in chunks of
    `chunk`, so only one chunk's float frames and heatmaps are in memory at a time (all 100
    default videos at once: ~2 GB)."""
    from .data.pipeline import evaluation_inputs, num_frames

    T = min(num_frames(r) for r in records)
    fns = row_functions(model, head)
    kps = {}
    for i in range(0, len(records), chunk):
        ins = evaluation_inputs(records[i:i + chunk], pipe_cfg)
        images = np.stack([d["image"][:T] for d in ins])
        crops = np.stack([d["crop"] for d in ins])
        heat = predict_rows(model, images, head, without_past, every_frame, fns)
        for name, h in heat.items():
            kps.setdefault(name, []).append(frame_keypoints(h, crops, pipe_cfg.input_size)[0])
        del ins, images, heat
    recs = [{**r, "joints": r["joints"][:T], "visible": r["visible"][:T], "bbox": r["bbox"][:T]}
            for r in records]
    out = {name: score(np.concatenate(kps[name]), recs, count_all)
           for name in ROWS if name in kps}
    out["frames_per_video"] = int(T)
    out["videos"] = len(records)
    return out


ROWS = ("dkd", "dkd_no_adversarial", "dkd_without_past", "encoder_every_frame",
        "initializer_every_frame")


def format_table(results: dict) -> str:
    """A plain-text table: rows = methods, columns = PCK@0.2, AUC, groups, drift."""
    from .joints import PCK_GROUPS

    rows = [("method", "PCK@0.2", "AUC", *PCK_GROUPS, "fr2-16", "fr17-32", "jitter")]
    for name in ROWS:
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
    for name in ROWS:
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


SPLITS = {"heldout": "test", "validation": "validation"}


def warn_skipped(results: dict, note: str, out=None) -> None:
    """Records and prints (one line on stderr) why the encoder_every_frame row is absent."""
    results.setdefault("skipped", {})["encoder_every_frame"] = note
    print(f"warning: encoder_every_frame row skipped: {note}", file=out or sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .data.sources import DATASETS, check_data_dir

    ap = argparse.ArgumentParser(prog="python -m dkd_tf.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default="runs/tiny")
    ap.add_argument("--json", default=None, help="where to write the results (default "
                                                 "W/eval.json, W/eval_validation.json)")
    ap.add_argument("--ablation-workdir", default=None,
                    help="work directory of a run trained without the adversarial term")
    ap.add_argument("--dataset", choices=DATASETS, default="synthetic")
    ap.add_argument("--data", default=None)
    ap.add_argument("--split", choices=tuple(SPLITS), default="heldout",
                    help="heldout (the reported figure) or validation (synthetic: the videos "
                         "to tune on)")
    ap.add_argument("--videos", type=int, default=None, help="videos to score (synthetic)")
    a = ap.parse_args(argv)
    if a.split == "validation" and a.dataset != "synthetic":
        from .errors import UserError

        raise UserError(f"--split validation: only the synthetic set has one (not {a.dataset})")
    check_data_dir(a.dataset, a.data)
    from .checkpoints import open_workdir_for_eval

    model, cfg, step, steps_run, (head, note) = open_workdir_for_eval(a.workdir, head=True)
    abl = open_workdir_for_eval(a.ablation_workdir) if a.ablation_workdir else None
    from .training_data import eval_records_and_pipeline

    recs, pipe = eval_records_and_pipeline(cfg, a.dataset, a.data, a.videos, SPLITS[a.split])
    res = evaluate_model(model, recs, pipe, count_all=(a.dataset == "jhmdb"), head=head)
    if head is None:
        warn_skipped(res, note)
    else:
        res["encoder_head"] = note
    if abl is not None:
        res["dkd_no_adversarial"] = evaluate_model(abl[0], recs, pipe, a.dataset == "jhmdb",
                                                   every_frame=False, without_past=False)["dkd"]
    from .flops import dkd_flops

    fl = dkd_flops(model)
    res["flops"] = {"initializer": fl["initializer"], "tracked": fl["tracked"],
                    "encoder": fl["encoder"], "match": fl["match"]}
    if head is not None:
        res["flops"]["encoder_head"] = fl["encoder"] + head.flops(*(cfg.model.heatmap_size,) * 2)
    res.update(preset=cfg.preset, checkpoint_step=step, dataset=a.dataset, steps_run=steps_run,
               split=a.split)
    name = "eval.json" if a.split == "heldout" else f"eval_{a.split}.json"
    out = a.json or os.path.join(a.workdir, name)
    from .io_utils import atomic_write_json

    atomic_write_json(out, res)
    plot_curves(res, os.path.splitext(out)[0] + "_pck.png")
    print(f"{a.split} {a.dataset} videos: {res['videos']} x {res['frames_per_video']} frames")
    print(format_table(res))
    print(f"FLOPs per frame: initializer {fl['initializer'] / 1e9:.3f} G, tracked "
          f"{fl['tracked'] / 1e9:.3f} G (ratio {fl['initializer'] / fl['tracked']:.1f}x)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
