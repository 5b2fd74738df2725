"""Which checkpoint to export, found and checked before TensorFlow is imported.

  resolve(workdir, checkpoint) -> (checkpoint prefix, Config): --checkpoint C names a prefix
      (C.index beside C's config.json); --workdir W takes W's latest checkpoint (the
      `checkpoint` state file TensorFlow writes). Pure Python: bad paths fail fast.
  restore(prefix, cfg) -> (DKD model, step): builds the model of cfg and restores it,
      requiring every model weight to come from the checkpoint, so a checkpoint of another
      model or preset (or one that lacks weights) fails with one line instead of exporting
      a partly random network.
  aux_head_in(prefix) -> the Trainer's auxiliary per-frame head of F (kernel, bias), or None.
"""
from __future__ import annotations

import os
import re
from typing import Optional, Tuple

from ..config import Config, load_config
from ..errors import UserError


def _latest(workdir: str) -> Optional[str]:
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
    """(checkpoint prefix, its config); UserError when either is missing."""
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
        prefix = _latest(folder)
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

    Restores the Trainer's layout (`model` = dkd_tf.trainer.variables_of(model), the flat list
    of every model variable) and then requires that *every* model weight was assigned: each
    is set to NaN first, so anything the checkpoint did not hold stays NaN and is reported,
    instead of exporting a partly random network (checkpoints written before the Trainer
    tracked that list hold only a few of the variables).
    """
    import dataclasses

    import numpy as np

    from ..errors import import_tensorflow

    tf = import_tensorflow()
    from ..models.dkd import DKD
    from ..trainer import variables_of

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
    from ..errors import import_tensorflow
    from ..models.per_frame_head import AUX_KEYS

    reader = import_tensorflow().train.load_checkpoint(prefix)
    keys = reader.get_variable_to_shape_map()
    if not all(k in keys for k in AUX_KEYS):
        return None
    return tuple(reader.get_tensor(k) for k in AUX_KEYS)
