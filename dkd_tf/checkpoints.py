"""Checkpoints of a work directory: found, checked and restored in one place.

Training (dkd_tf.trainer), evaluation (dkd_tf.evaluate) and the export (export/*.py,
dkd_tf.edge) all import this module, and it imports none of them, so checkpoint handling
makes no import circle between the trainer and the export.

  variables_of(layer)       the trackable the Trainer saves each network under
  latest(workdir)           the latest checkpoint prefix named by W/checkpoint (pure Python)
  resolve(workdir, ckpt)    -> (checkpoint prefix, Config), checked before TensorFlow is
                            imported, so bad paths fail fast
  restore(prefix, cfg)      -> (DKD model, step), requiring every model weight to come from
                            the checkpoint
  aux_head_in(prefix)       the Trainer's auxiliary per-frame head of F, or None
  steps_run_in(prefix)      optimiser steps taken per stage
  head_in(model, prefix)    F's per-frame head that matches this checkpoint (or None, note)
  open_workdir_for_eval(W)  (model, config, step, steps_run[, (head, note)]) of W's latest

Only the pure-Python parts run at import: TensorFlow and the models are imported by the
functions that need them.
"""
from __future__ import annotations

import os
import re
from typing import Optional, Tuple

from .config import Config, load_config
from .errors import UserError, import_tensorflow


def variables_of(layer):
    """A tf.Module holding every variable of a Keras 3 layer, in its (deterministic) order.

    tf.train.Checkpoint does not reach the variables of Keras 3 sub-layers kept in lists and
    nested Sequentials (measured: only 10 of the DKD's variables were saved, the BatchNorm
    moving statistics among the missing), so checkpoints track this flat list instead.
    """
    holder = import_tensorflow().Module()
    holder.variables_list = list(layer.weights)
    return holder


def latest(workdir: str) -> Optional[str]:
    """The prefix that W/checkpoint (the state file TensorFlow writes) names as the latest,
    made absolute against W; None when there is no readable state file."""
    state = os.path.join(workdir, "checkpoint")
    if not os.path.isfile(state):
        return None
    try:
        with open(state) as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', text, re.M)
    if not m:
        return None
    path = m.group(1)
    return path if os.path.isabs(path) else os.path.join(workdir, path)


def resolve(workdir: Optional[str], checkpoint: Optional[str]) -> Tuple[str, Config]:
    """(checkpoint prefix, its config); UserError when either is missing.

    --checkpoint C names a prefix (C.index beside C's config.json); --workdir W takes W's
    latest checkpoint."""
    if checkpoint:
        prefix = checkpoint[:-len(".index")] if checkpoint.endswith(".index") else checkpoint
        if not os.path.isfile(prefix + ".index"):
            raise UserError(f"{checkpoint}: no checkpoint found (expected {prefix}.index)")
        folder = os.path.dirname(os.path.abspath(prefix))
    else:
        folder = workdir
        if not os.path.isdir(folder):
            raise UserError(f"{folder}: no such work directory (train first: "
                            f"python -m dkd_tf.train --workdir {folder})")
        prefix = latest(folder)
        if prefix is None or not os.path.isfile(prefix + ".index"):
            raise UserError(f"{folder}: no checkpoint found (train first, or pass "
                            f"--checkpoint)")
    config = os.path.join(folder, "config.json")
    if not os.path.isfile(config):
        raise UserError(f"{folder}: no config.json beside the checkpoint, not a dkd_tf work "
                        f"directory")
    return prefix, load_config(config)


def restore(prefix: str, cfg: Config):
    """-> (built DKD with the checkpoint's weights, training step or None).

    Restores the Trainer's layout (`model` = variables_of(model), the flat list of every
    model variable) and then requires that *every* model weight was assigned: each is set to
    NaN first, so anything the checkpoint did not hold stays NaN and is reported, instead of
    exporting or scoring a partly random network (checkpoints written before the Trainer
    tracked that list hold only a few of the variables).
    """
    import dataclasses

    import numpy as np

    tf = import_tensorflow()
    from .models.dkd import DKD

    model = DKD(dataclasses.asdict(cfg.model)).build_all(1)
    try:
        reader = tf.train.load_checkpoint(prefix)
        keys = reader.get_variable_to_shape_map()
    except Exception as e:  # unreadable or truncated files
        raise UserError(f"{prefix}: cannot read this checkpoint ({type(e).__name__})") from None
    if not any(k.startswith("model/") for k in keys):
        raise UserError(f"{prefix}: holds no DKD model")
    for w in model.weights:
        w.assign(np.full(w.shape, np.nan, w.dtype))
    try:
        tf.train.Checkpoint(model=variables_of(model)).restore(prefix).expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise UserError(f"{prefix}: does not hold a '{cfg.preset}' model as config.json "
                        f"describes it (another preset or model settings?): {first}") from None
    missing = [w.path for w in model.weights if np.isnan(w.numpy()).any()]
    if missing:
        raise UserError(f"{prefix}: the checkpoint lacks {len(missing)} of "
                        f"{len(model.weights)} model weights (e.g. {missing[0]}): a checkpoint "
                        f"of another model, or one written before the Trainer saved every "
                        f"variable (retrain or resave it)")
    step = None
    if "step/.ATTRIBUTES/VARIABLE_VALUE" in keys:
        step = int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
    return model, step


def aux_head_in(prefix: str):
    """(kernel [1, 1, C, K], bias [K]) of the Trainer's stage-1 auxiliary head of F saved in
    the checkpoint, or None when it holds none (dkd_tf.models.per_frame_head)."""
    from .models.per_frame_head import AUX_KEYS

    reader = import_tensorflow().train.load_checkpoint(prefix)
    keys = reader.get_variable_to_shape_map()
    if not all(k in keys for k in AUX_KEYS):
        return None
    return tuple(reader.get_tensor(k) for k in AUX_KEYS)


def steps_run_in(prefix: str) -> dict:
    """Trainer.steps_run as saved in a checkpoint: {"stage1": n1, "stage2": n2} from the
    optimisers' iteration counters ({} when the file holds none)."""
    reader = import_tensorflow().train.load_checkpoint(prefix)
    out = {}
    for name in reader.get_variable_to_shape_map():
        opt, _, rest = name.partition("/")
        if opt in ("opt1", "opt2") and rest.split("/")[0].lstrip("_") == "iterations":
            out["stage" + opt[-1]] = int(reader.get_tensor(name))
    return dict(sorted(out.items()))


def head_in(model, prefix: str, run: Optional[dict] = None):
    """(PerFrameHead or None, note): F's per-frame head that matches the model restored from
    prefix (dkd_tf.models.per_frame_head.resolve_head); run: steps_run_in(prefix) when the
    caller has it already."""
    from .models.per_frame_head import resolve_head

    run = steps_run_in(prefix) if run is None else run
    return resolve_head(model, aux_head_in(prefix), run.get("stage2"))


def open_workdir_for_eval(workdir: str, head: bool = False):
    """(model, config, step, steps_run) restored from the latest checkpoint of a work
    directory (steps_run: steps_run_in of that same checkpoint); with head=True a fifth
    item, head_in's (PerFrameHead or None, note) for that same checkpoint.

    Uses the checked `restore`: every weight must come from the checkpoint (a file that lacks
    some fails with one line instead of scoring a partly random network)."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise UserError(f"{workdir}: no config.json, not a dkd_tf work directory")
    cfg = load_config(path)
    ckpt_path = import_tensorflow().train.latest_checkpoint(workdir)
    if not ckpt_path:
        raise UserError(f"{workdir}: no checkpoint found (train first)")
    model, step = restore(ckpt_path, cfg)
    run = steps_run_in(ckpt_path)
    if not head:
        return model, cfg, int(step or 0), run
    return model, cfg, int(step or 0), run, head_in(model, ckpt_path, run)
