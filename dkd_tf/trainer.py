"""The two-stage DKD training loop: explicit GradientTape steps under tf.function.

Stage 1 trains the pose initializer P per frame (and pre-trains the frame encoder F through
an auxiliary 1x1 heatmap head). Stage 2 unrolls clips of T frames through the recurrence
(P on frame 1, F + Phi + matching after), back-propagates through all of it, and adds the
temporally adversarial term: a BEGAN discriminator D judges heatmap changes; the generator
minimises L_G + mu * L(fake), D minimises L(real) - k L(fake) on detached predictions, and k
follows BEGAN's balance. Everything lives in one tf.train.Checkpoint in the work directory,
so rerunning resumes.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import time

import numpy as np

from .config import Config, config_from_dict, load_config
from .errors import UserError, import_tensorflow
from .losses import began_k_update, heatmap_mse, reconstruction_error

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's quiet import)

from .models.dkd import DKD  # noqa: E402
from .models.temporal_discriminator import TemporalDiscriminator  # noqa: E402


def make_strategy(kind: str = "auto"):
    """One device by default; MultiWorkerMirroredStrategy with --strategy multiworker or when
    TF_CONFIG is set."""
    if kind == "multiworker" or (kind == "auto" and os.environ.get("TF_CONFIG")):
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _check_workdir_config(workdir: str, cfg: Config) -> None:
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    old = load_config(path)
    if old.preset != cfg.preset or old.model != cfg.model:
        raise UserError(f"{path}: this work directory holds a '{old.preset}' model that differs "
                        f"from the requested '{cfg.preset}' one; use another --workdir")


class Trainer:
    """Models, optimisers, checkpoint and the compiled steps of one training run."""

    def __init__(self, cfg: Config, workdir: str, strategy=None, adversarial: bool = True):
        self.cfg, self.workdir = cfg, workdir
        self.strategy = strategy or tf.distribute.get_strategy()
        self.adversarial = adversarial
        t, m = cfg.train, cfg.model
        with self.strategy.scope():
            self.model = DKD(dataclasses.asdict(m)).build_all(1)
            self.model.freeze_initializer = not t.finetune_initializer
            self.aux_head = keras.layers.Conv2D(m.num_joints, 1, name="encoder_aux_head")
            self.aux_head.build((None, m.heatmap_size, m.heatmap_size, m.feature_channels))
            hs = m.heatmap_size
            self.disc = TemporalDiscriminator(m.num_joints, m.discriminator_filters,
                                              m.discriminator_code, hs)
            z = tf.zeros((1, m.input_size, m.input_size, 3))
            zh = tf.zeros((1, hs, hs, m.num_joints))
            self.disc(z, zh, z, zh)
            self.opt1 = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
                t.stage1_lr, max(1, t.stage1_steps), alpha=0.02))
            self.opt2 = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
                t.stage2_lr, max(1, t.stage2_steps), alpha=0.02))
            self.optd = keras.optimizers.Adam(t.stage2_lr * 0.5, beta_1=0.5)
            self.vars1 = (self.model.initializer.trainable_variables
                          + self.model.encoder.trainable_variables
                          + self.aux_head.trainable_variables)
            self.vars2 = (self.model.encoder.trainable_variables
                          + self.model.distillator.trainable_variables
                          + (self.model.prior.trainable_variables if self.model.prior else []))
            if t.finetune_initializer:
                self.vars2 = self.model.initializer.trainable_variables + self.vars2
            self.opt1.build(self.vars1)
            self.opt2.build(self.vars2)
            self.optd.build(self.disc.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.k = tf.Variable(0.0, trainable=False, name="began_k")
            self.elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed")
        self.ckpt = tf.train.Checkpoint(model=self.model, aux_head=self.aux_head,
                                        discriminator=self.disc, opt1=self.opt1, opt2=self.opt2,
                                        optd=self.optd, step=self.step, began_k=self.k,
                                        elapsed=self.elapsed)
        self.manager = tf.train.CheckpointManager(self.ckpt, workdir, max_to_keep=3)

    # ---- checkpoints -------------------------------------------------------------------
    def restore(self) -> int:
        path = self.manager.latest_checkpoint
        if not path:
            return 0
        try:
            self.ckpt.restore(path).assert_existing_objects_matched()
        except Exception as e:  # corrupt files or another model's variables
            raise UserError(f"{path}: cannot restore this checkpoint ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:160]})") from None
        return int(self.step.numpy())

    def save(self) -> str:
        return self.manager.save(checkpoint_number=int(self.step.numpy()))

    # ---- steps -------------------------------------------------------------------------
    def _reduce(self, per_replica):
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def build_steps(self, batch1: int, batch2: int):
        t, m = self.cfg.train, self.cfg.model
        fg = t.foreground_weight
        model, aux, disc = self.model, self.aux_head, self.disc
        gb1 = batch1 * self.strategy.num_replicas_in_sync
        gb2 = batch2 * self.strategy.num_replicas_in_sync

        def s1(images, targets, weights):
            with tf.GradientTape() as tape:
                h = model.initializer(images, training=True)
                lp = tf.reduce_sum(heatmap_mse(h, targets, weights, fg)) / gb1
                ha = aux(model.encoder(images, training=True))
                la = tf.reduce_sum(heatmap_mse(ha, targets, weights, fg)) / gb1
                total = lp + la
            grads = tape.gradient(total, self.vars1)
            self.opt1.apply_gradients(zip(grads, self.vars1))
            return lp, la

        def pairs(images, heat):
            """[B, T, ...] -> the T-1 consecutive pairs flattened to [B*(T-1), ...]."""
            T = images.shape[1]
            f = lambda x: tf.reshape(x, (-1, *x.shape[2:]))  # noqa: E731
            return f(images[:, :-1]), f(heat[:, :-1]), f(images[:, 1:]), f(heat[:, 1:]), T - 1

        def s2(clips, targets, weights):
            B = tf.shape(clips)[0]
            first = 0 if t.finetune_initializer else 1
            with tf.GradientTape() as tape:
                h = model(clips, training=True)
                lg = tf.reduce_sum(heatmap_mse(h[:, first:], targets[:, first:],
                                               weights[:, first:], fg)) / gb2
                loss = lg
                err_fake_g = tf.constant(0.0)
                if self.adversarial:
                    it, ht, it1, ht1, P = pairs(clips, h)
                    rec = disc(it, ht, it1, ht1, training=True)
                    per = tf.reshape(reconstruction_error(rec, ht1 - ht), (B, P))
                    err_fake_g = tf.reduce_sum(tf.reduce_mean(per, 1)) / gb2
                    loss = lg + t.mu * err_fake_g
            grads = tape.gradient(loss, self.vars2)
            self.opt2.apply_gradients(zip(grads, self.vars2))
            if not self.adversarial:
                return lg, err_fake_g, tf.constant(0.0), tf.constant(0.0)
            hd = tf.stop_gradient(h)
            with tf.GradientTape() as dtape:
                it, ht, it1, ht1, P = pairs(clips, hd)
                _, gt_t, _, gt_t1, _ = pairs(clips, targets)
                err_fake = tf.reshape(reconstruction_error(
                    disc(it, ht, it1, ht1, training=True), ht1 - ht), (B, P))
                err_real = tf.reshape(reconstruction_error(
                    disc(it, gt_t, it1, gt_t1, training=True), gt_t1 - gt_t), (B, P))
                ef = tf.reduce_sum(tf.reduce_mean(err_fake, 1)) / gb2
                er = tf.reduce_sum(tf.reduce_mean(err_real, 1)) / gb2
                ld = er - self.k * ef
            dgrads = dtape.gradient(ld, disc.trainable_variables)
            self.optd.apply_gradients(zip(dgrads, disc.trainable_variables))
            return lg, err_fake_g, er, ef

        @tf.function
        def step1(batch):
            out = self.strategy.run(s1, args=batch)
            return [self._reduce(o) for o in out]

        @tf.function
        def step2(batch):
            lg, efg, er, ef = [self._reduce(o) for o in self.strategy.run(s2, args=batch)]
            if self.adversarial:
                new_k, balance, conv = began_k_update(self.k, er, ef, t.began_gamma, t.began_k_lr)
                self.k.assign(new_k)
            else:
                balance, conv = tf.constant(0.0), tf.constant(0.0)
            return lg, efg, er, ef, balance, conv

        return step1, step2


def open_workdir_for_eval(workdir: str):
    """(model, config, step) restored from the latest checkpoint of a work directory."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise UserError(f"{workdir}: no config.json, not a dkd_tf work directory")
    cfg = load_config(path)
    ckpt_path = tf.train.latest_checkpoint(workdir)
    if not ckpt_path:
        raise UserError(f"{workdir}: no checkpoint found (train first)")
    model = DKD(dataclasses.asdict(cfg.model)).build_all(1)
    try:
        tf.train.Checkpoint(model=model).restore(ckpt_path).expect_partial()
        # a restore is lazy: touch the variables so a corrupt file fails here
        _ = [v.numpy() for v in model.weights[:1]]
    except Exception as e:
        raise UserError(f"{ckpt_path}: cannot restore ({type(e).__name__})") from None
    reader = tf.train.load_checkpoint(ckpt_path)
    step = int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
    return model, cfg, step
