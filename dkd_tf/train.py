"""`python -m dkd_tf.train`: train DKD (stage 1: P per frame; stage 2: adversarial tracking).

With no arguments it trains the `tiny` preset on the built-in synthetic videos within about
20 minutes on a 2-core CPU, then scores the synthetic validation videos (the figure to tune
on) and the held-out videos (the reported figure). The work directory (default
runs/<preset>) holds config.json, checkpoints ckpt-N.*, TensorBoard logs (logs/), eval.json
and eval_pck.png (held-out), eval_validation.json and eval_validation_pck.png; rerunning the
same command resumes from the latest checkpoint.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Optional, Sequence

from .config import get_preset, with_overrides
from .data.sources import DATASETS, check_data_dir, has_videos
from .errors import UserError, run_cli
from .io_utils import atomic_write_json, ensure_writable_dir


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m dkd_tf.train", description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="tiny", help="tiny | mobile | r50")
    ap.add_argument("--workdir", default=None, help="default runs/<preset>")
    ap.add_argument("--dataset", choices=DATASETS, default="synthetic")
    ap.add_argument("--data", default=None, help="prepared TFRecords (penn / jhmdb)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="wall-time budget for both stages (0 = steps only)")
    ap.add_argument("--stage1-steps", type=int, default=None)
    ap.add_argument("--stage2-steps", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None, help="stage-2 clips per batch")
    ap.add_argument("--no-adversarial", action="store_true", help="ablation: L_G only")
    ap.add_argument("--finetune-initializer", action="store_true",
                    help="train P in stage 2 too (default: frozen)")
    ap.add_argument("--matching", choices=("full", "depthwise"), default=None)
    ap.add_argument("--init-from", default=None, metavar="WORKDIR",
                    help="start stage 2 from another run's stage-1 snapshot (ablations; its P "
                         "and F config must match, Phi / matching / prior / D may differ)")
    ap.add_argument("--strategy", choices=("auto", "default", "multiworker"), default="auto")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-eval", action="store_true", help="skip the final evaluation")
    ap.add_argument("--eval-videos", type=int, default=None)
    # tests: np.savez of every model and discriminator weight (in order) after training
    ap.add_argument("--dump-weights", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override any config field, e.g. --set model.input_size=64 "
                         "--set train.train_videos=8 (repeatable)")
    return ap.parse_args(argv)


def _parse_sets(items):
    """['model.input_size=64', ...] -> ({'input_size': 64}, {...}) with JSON-typed values."""
    import json

    out = {"model": {}, "train": {}}
    for item in items:
        key, sep, raw = item.partition("=")
        section, _, name = key.partition(".")
        if not sep or section not in out or not name:
            raise UserError(f"--set {item!r}: expected model.KEY=VALUE or train.KEY=VALUE")
        try:
            val = json.loads(raw)
        except ValueError:
            val = raw
        out[section][name] = tuple(val) if isinstance(val, list) else val
    return out["model"], out["train"]


def resolve_config(a):
    cfg = get_preset(a.preset)
    train = {}
    for key, val in (("minutes", a.minutes), ("stage1_steps", a.stage1_steps),
                     ("stage2_steps", a.stage2_steps), ("stage2_batch", a.batch),
                     ("seed", a.seed), ("eval_videos", a.eval_videos)):
        if val is not None:
            if isinstance(val, (int, float)) and val < 0:
                raise UserError(f"--{key.replace('_', '-')} must not be negative (got {val})")
            train[key] = val
    if a.no_adversarial:
        train["adversarial"] = False
    if a.finetune_initializer:
        train["finetune_initializer"] = True
    model = {"matching": a.matching} if a.matching else {}
    set_model, set_train = _parse_sets(a.set)
    model.update(set_model)
    train.update(set_train)
    try:
        return with_overrides(cfg, model=model, train=train)
    except TypeError as e:  # an unknown field name
        raise UserError(f"--set: {e}") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parse_args(argv)
    cfg = resolve_config(a)
    check_data_dir(a.dataset, a.data)
    workdir = ensure_writable_dir(a.workdir or os.path.join("runs", cfg.preset))
    if a.dataset == "penn" or a.dataset == "synthetic":
        nj = 13
    else:
        nj = 15
    if nj != cfg.model.num_joints:
        cfg = with_overrides(cfg, model={"num_joints": nj})

    from .trainer import Trainer, _check_workdir_config, make_strategy

    _check_workdir_config(workdir, cfg)
    strategy = make_strategy(a.strategy)
    cfg_path = os.path.join(workdir, "config.json")
    if not os.path.exists(cfg_path) and strategy.extended.should_checkpoint:
        atomic_write_json(cfg_path, cfg.to_dict())
    t = cfg.train
    # the same initial weights for the same seed (every worker too: replicas must start
    # equal); the data order is seeded separately (pipeline seeds), so a rerun reproduces
    # a run up to floating-point reduction order
    import keras

    keras.utils.set_random_seed(t.seed)
    trainer = Trainer(cfg, workdir, strategy, adversarial=t.adversarial)
    start = trainer.restore()
    if not start and a.init_from:
        start = trainer.init_from(a.init_from)
        print(f"starting from the stage-1 snapshot of {a.init_from} (step {start})",
              file=sys.stderr)
    elif start:
        print(f"resuming from step {start} ({trainer.elapsed.numpy() / 60:.1f} min trained)",
              file=sys.stderr)
    if trainer.agree([start]) != [float(start)]:  # multi-worker: all must resume alike
        raise UserError(f"{workdir}: the workers restored different steps (this one {start}); "
                        "give every worker the same --workdir on a shared file system")
    total = t.stage1_steps + t.stage2_steps
    if start < total:
        run_training(trainer, cfg, a, start)
    if a.dump_weights:
        import numpy as np

        np.savez(a.dump_weights, replicas=strategy.num_replicas_in_sync,
                 **{f"w{i:04d}": v.numpy() for i, v in
                    enumerate(trainer.model.weights + trainer.disc.weights)})
    try:
        if a.no_eval or not trainer.is_chief:  # the chief alone evaluates
            return 0
        if not has_videos(a.dataset, a.data, "test"):
            print(f"note: {a.data} holds no test videos; evaluation skipped (checkpoints are "
                  f"in {workdir})", file=sys.stderr)
            return 0
        return final_evaluation(trainer, cfg, a, workdir)
    finally:
        trainer.agree([0.0])  # multi-worker: all leave together (a barrier; no-op otherwise)


def run_training(trainer, cfg, a, start):
    from .progress import progress_bar
    from .trainer import cosine_lr, tf
    from .training_data import train_pipelines

    t = cfg.train
    pipe1, pipe2 = train_pipelines(cfg, a.dataset, a.data)
    strategy = trainer.strategy
    ds1 = distribute(strategy, pipe1, t.stage1_batch, t.seed * 1000 + start, squeeze_time=True)
    ds2 = distribute(strategy, pipe2, t.stage2_batch, t.seed * 1000 + start + 1)
    step1, step2 = trainer.build_steps(t.stage1_batch, t.stage2_batch)
    writer = (tf.summary.create_file_writer(os.path.join(trainer.workdir, "logs"))
              if trainer.is_chief else tf.summary.create_noop_writer())
    budget = t.minutes * 60.0 if t.minutes else float("inf")
    # stage 1 gets 45% of the time budget, stage 2 the rest (stage 2 learns more slowly)
    stage_budget = {1: budget * 0.45, 2: budget}
    total = t.stage1_steps + t.stage2_steps
    step = start
    bar = progress_bar(total=total, initial=start, desc="train", unit="step")
    it1, it2 = iter(ds1), iter(ds2)
    last_save = time.perf_counter()
    el, = trainer.agree([trainer.elapsed.numpy()])  # the same on every worker
    try:
        while step < total:
            stage = 1 if step < t.stage1_steps else 2
            t0 = time.perf_counter()
            if stage == 1:
                progress = max(step / max(1, t.stage1_steps), el / stage_budget[1])
                trainer.opt1.learning_rate = cosine_lr(t.stage1_lr, progress)
            else:
                if trainer.stage2_start.numpy() < 0:
                    trainer.stage2_start.assign(el)
                    trainer.start_stage2()
                s2_el = el - float(trainer.stage2_start.numpy())
                progress = max((step - t.stage1_steps) / max(1, t.stage2_steps),
                               s2_el / max(1e-9, stage_budget[2] - float(trainer.stage2_start.numpy())))
                warmup = min(1.0, (step - t.stage1_steps + 1) / max(1, t.stage2_warmup))
                trainer.opt2.learning_rate = cosine_lr(t.stage2_lr, progress) * warmup
            if stage == 1:
                lp, la = step1(next(it1))
                vals = {"stage1/heatmap_loss": lp, "stage1/encoder_aux_loss": la}
                main_loss = lp
            else:
                # warm-started clips on a fixed low-discrepancy pattern of steps: the same
                # on every worker (they must run the same trace) and after a resume
                warm = bool(t.burn_in) and (step * 0.6180339887) % 1.0 < t.warm_fraction
                lg, efg, er, ef, bal, conv = step2(next(it2), warm)
                vals = {"stage2/L_G": lg, "stage2/adv_fake_G": efg, "stage2/D_real": er,
                        "stage2/D_fake": ef, "stage2/began_k": trainer.k,
                        "stage2/began_balance": bal, "stage2/began_convergence": conv}
                main_loss = lg
            loss_value = float(main_loss)
            if not (loss_value == loss_value) or loss_value in (float("inf"), float("-inf")):
                raise UserError(f"{trainer.workdir}: training loss became {loss_value} at step "
                                f"{step + 1}; stopped (checkpoints up to step "
                                f"{trainer.manager.latest_checkpoint or 'none'} kept)")
            step += 1
            trainer.step.assign(step)
            trainer.elapsed.assign_add(time.perf_counter() - t0)
            bar.update(1)
            if step % t.log_every == 0 or step == total:
                opt = trainer.opt1 if stage == 1 else trainer.opt2
                with writer.as_default(step=step):
                    for k, v in vals.items():
                        tf.summary.scalar(k, v)
                    tf.summary.scalar(f"stage{stage}/learning_rate", opt.learning_rate)
                    tf.summary.scalar("elapsed_minutes", trainer.elapsed / 60.0)
                bar.set_postfix(stage=stage, loss=f"{loss_value:.4f}",
                                k=f"{float(trainer.k.numpy()):.3f}" if stage == 2 else "-")
            el, since_save = trainer.agree([trainer.elapsed.numpy(),
                                            time.perf_counter() - last_save])
            if stage == 1 and el > stage_budget[1] and step < t.stage1_steps:
                bar.write(f"stage 1 time budget used at step {step}; moving to stage 2")
                bar.update(t.stage1_steps - step)
                step = t.stage1_steps
                trainer.step.assign(step)
            if stage == 2 and el > stage_budget[2] and step < total:
                bar.write(f"time budget ({t.minutes} min) used at step {step}; stopping")
                bar.update(total - step)
                step = total
                trainer.step.assign(step)
            if (step % t.checkpoint_every == 0 or step in (t.stage1_steps, total)
                    or since_save > 120):
                trainer.save()
                last_save = time.perf_counter()
                if step == t.stage1_steps and trainer.is_chief:
                    trainer.snapshot_stage1()
    finally:
        bar.close()
        writer.flush()
    trainer.save()


def distribute(strategy, pipe, batch: int, seed: int, squeeze_time: bool = False):
    """The pipeline's batches as a distributed dataset: `batch` clips per replica (the
    steps divide losses by batch x replicas). Each input pipeline (one per worker) draws
    its own clips (seed offset by its id), so workers never train on the same clips."""
    return strategy.distribute_datasets_from_function(
        lambda ctx: pipe.dataset(batch, seed=seed + 100_003 * ctx.input_pipeline_id,
                                 squeeze_time=squeeze_time))


def final_evaluation(trainer, cfg, a, workdir) -> int:
    """Scores the trained model: on the synthetic validation videos first (the figure to tune
    on: eval_validation.json, TensorBoard validation/*; train.validation_videos, 0 = skip),
    then on the held-out videos (the reported figure: eval.json, eval_pck.png, eval/*)."""
    from .evaluate import evaluate_model, format_table, plot_curves, warn_skipped
    from .flops import dkd_flops
    from .models.per_frame_head import resolve_head
    from .training_data import eval_records_and_pipeline
    from .trainer import tf

    aux = tuple(v.numpy() for v in trainer.aux_head.weights)
    head, note = resolve_head(trainer.model, aux, trainer.steps_run()["stage2"])
    fl = dkd_flops(trainer.model)
    step = int(trainer.step.numpy())
    meta = dict(preset=cfg.preset, checkpoint_step=step, dataset=a.dataset,
                train_minutes=float(trainer.elapsed.numpy()) / 60.0,
                steps_run=trainer.steps_run())
    splits = [("heldout", "test", "eval", "eval")]
    if a.dataset == "synthetic" and cfg.train.validation_videos:
        splits.insert(0, ("validation", "validation", "eval_validation", "validation"))
    for split, name, stem, tag in splits:
        videos = cfg.train.validation_videos if split == "validation" else None
        recs, pipe = eval_records_and_pipeline(cfg, a.dataset, a.data, videos, name)
        t0 = time.perf_counter()
        res = evaluate_model(trainer.model, recs, pipe, count_all=(a.dataset == "jhmdb"),
                             head=head)
        if head is None:
            warn_skipped(res, note)
        else:
            res["encoder_head"] = note
        res["flops"] = {"initializer": fl["initializer"], "tracked": fl["tracked"],
                        "encoder": fl["encoder"], "match": fl["match"]}
        if head is not None:
            res["flops"]["encoder_head"] = fl["encoder"] + head.flops(
                *(cfg.model.heatmap_size,) * 2)
        res.update(meta, split=split)
        atomic_write_json(os.path.join(workdir, f"{stem}.json"), res)
        plot_curves(res, os.path.join(workdir, f"{stem}_pck.png"))
        with tf.summary.create_file_writer(os.path.join(workdir, "logs")).as_default(step=step):
            for row in ("dkd", "dkd_without_past", "encoder_every_frame",
                        "initializer_every_frame"):
                if row in res:
                    tf.summary.scalar(f"{tag}/pck_{row}", res[row]["pck"])
                    tf.summary.scalar(f"{tag}/jitter_{row}", res[row]["jitter"])
        if split == "validation":
            print(f"validation videos (to tune on): {res['videos']} x "
                  f"{res['frames_per_video']} frames ({time.perf_counter() - t0:.0f} s)")
            print(format_table(res))
            continue
        run = res["steps_run"]
        print(f"trained {run['stage1']} + {run['stage2']} steps (stages 1 + 2) in "
              f"{res['train_minutes']:.1f} min")
        print(f"held-out {a.dataset} videos: {res['videos']} x {res['frames_per_video']} "
              f"frames (evaluated in {time.perf_counter() - t0:.0f} s)")
        print(format_table(res))
    print(f"FLOPs per frame: initializer {fl['initializer'] / 1e9:.3f} G, tracked "
          f"{fl['tracked'] / 1e9:.3f} G ({fl['initializer'] / fl['tracked']:.1f}x fewer)")
    print(f"results: {os.path.join(workdir, 'eval.json')}, {os.path.join(workdir, 'eval_pck.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
