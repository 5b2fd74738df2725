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

from .checkpoints import aux_head_in, variables_of
from .config import Config, load_config
from .errors import UserError, import_tensorflow
from .losses import began_k_update, heatmap_mse, reconstruction_error

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's quiet import)

from .models.dkd import DKD  # noqa: E402
from .models.dynamic_conv import correlation_scale  # noqa: E402
from .models.temporal_discriminator import TemporalDiscriminator  # noqa: E402


def make_strategy(kind: str = "auto"):
    """One device by default; MultiWorkerMirroredStrategy with --strategy multiworker or when
    TF_CONFIG is set."""
    if kind == "multiworker" or (kind == "auto" and os.environ.get("TF_CONFIG")):
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


# model fields that stage 1 does not train (it trains P, F and F's auxiliary head)
STAGE2_FIELDS = ("kernel_size", "distillator_filters", "distillator_pools",
                 "distillator_pool_first", "matching", "heatmap_prior", "normalize_heatmaps",
                 "static_kernel", "discriminator_filters", "discriminator_code")


def same_stage1_networks(a, b) -> bool:
    """Whether two ModelConfigs have the same P and F (they differ in STAGE2_FIELDS only)."""
    keep = {f: getattr(a, f) for f in STAGE2_FIELDS}
    return dataclasses.replace(b, **keep) == a


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
            self.model.freeze_encoder_statistics = t.freeze_encoder_statistics
            self.model.dynamic_conv.per_sample_conv = True  # faster backward, same numbers
            self.aux_head = keras.layers.Conv2D(m.num_joints, 1, name="encoder_aux_head")
            self.aux_head.build((None, m.heatmap_size, m.heatmap_size, m.feature_channels))
            hs = m.heatmap_size
            self.disc = TemporalDiscriminator(m.num_joints, m.discriminator_filters,
                                              m.discriminator_code, hs)
            z = tf.zeros((1, m.input_size, m.input_size, 3))
            zh = tf.zeros((1, hs, hs, m.num_joints))
            self.disc(z, zh, z, zh)
            # learning rates are set every step from the stage's progress (`cosine_lr`)
            self.opt1 = keras.optimizers.Adam(t.stage1_lr)
            self.opt2 = keras.optimizers.Adam(t.stage2_lr)
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
            self.stage2_start = tf.Variable(-1.0, dtype=tf.float64, trainable=False,
                                            name="stage2_start")
        self.ckpt = tf.train.Checkpoint(model=variables_of(self.model),
                                        aux_head=variables_of(self.aux_head),
                                        discriminator=variables_of(self.disc),
                                        opt1=self.opt1, opt2=self.opt2,
                                        optd=self.optd, step=self.step, began_k=self.k,
                                        elapsed=self.elapsed, stage2_start=self.stage2_start)
        # Multi-worker: every worker saves (saving reads distributed variables), but only the
        # chief into workdir; the others into a temporary folder removed after each save.
        self.is_chief = self.strategy.extended.should_checkpoint
        self.multiworker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self._agree_fn = self._stats_fn = None
        task = getattr(getattr(self.strategy, "cluster_resolver", None), "task_id", 0)
        self.save_dir = workdir if self.is_chief else os.path.join(workdir, f".worker-{task}-tmp")
        self.manager = tf.train.CheckpointManager(self.ckpt, self.save_dir, max_to_keep=3)

    def start_stage2(self) -> None:
        """Once, at the first stage-2 step (static_kernel models): the tracker starts as the
        encoder's per-frame detector of stage 1 (k_0 = the auxiliary 1x1 head at the centre
        tap, the distilled part and the heatmap prior's kernel zero, the prior's bias = the
        head's bias), so stage 2 begins at F's per-frame accuracy instead of from random
        kernels. Measured (runs/t3 stage-1 snapshot, 40 held-out videos): F + head per frame
        PCK@0.2 0.879, P 0.899, while a randomly initialised tracker reached 0.650 in stage 2."""
        m = self.model
        if not m.cfg.static_kernel:
            return
        kernel, bias = (v.numpy() for v in self.aux_head.weights)
        C, K = m.cfg.feature_channels, m.cfg.num_joints
        m.distillator.init_from_template(kernel.reshape(C, K),
                                         correlation_scale(m.cfg.kernel_size, C))
        if m.prior is not None:
            pk, pb = m.prior.weights
            pk.assign(tf.zeros_like(pk))
            pb.assign(bias.reshape(pb.shape))

    # ---- checkpoints -------------------------------------------------------------------
    def restore(self) -> int:
        path = tf.train.latest_checkpoint(self.workdir)  # the chief's, on every worker
        if not path:
            return 0
        try:
            self.ckpt.restore(path).assert_existing_objects_matched()
        except Exception as e:  # corrupt files or another model's variables
            raise UserError(f"{path}: cannot restore this checkpoint ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:160]})") from None
        return int(self.step.numpy())

    def steps_run(self) -> dict:
        """Optimiser steps actually taken per stage. `step` (and the checkpoint number) is
        the position in the planned schedule: a time budget that ends a stage early moves
        it to the stage's end, so after a budget stop it reads the planned total."""
        return {"stage1": int(self.opt1.iterations.numpy()),
                "stage2": int(self.opt2.iterations.numpy())}

    def save(self) -> str:
        self._average_statistics()
        path = self.manager.save(checkpoint_number=int(self.step.numpy()))
        if not self.is_chief:
            import shutil

            shutil.rmtree(self.save_dir, ignore_errors=True)
        return path

    def _average_statistics(self) -> None:
        """Multi-worker: Keras 3 keeps BatchNorm moving statistics per replica (not
        aggregated); before each save they are set to their mean over the replicas, so every
        worker holds the same model and the chief's checkpoint reflects all workers' data
        (the update is linear: the mean of the replicas' moving averages is the moving
        average of the mean batch statistics). No-op with a single-process strategy."""
        if not self.multiworker:
            return
        if self._stats_fn is None:
            stats = [v for v in self.model.weights + self.aux_head.weights + self.disc.weights
                     if not v.trainable]

            def average():
                for v in stats:
                    local = self.strategy.run(lambda v=v: tf.identity(v.value))
                    v.assign(self.strategy.reduce(tf.distribute.ReduceOp.MEAN, local, axis=None))

            self._stats_fn = tf.function(average)
        self._stats_fn()

    def agree(self, values):
        """Floats measured on this worker (wall times) -> their mean over all workers, the
        same on every worker. Decisions taken from wall time (time budget, learning-rate
        progress, timed saves) must agree: a worker that changed stage alone would hang the
        next collective. One small all-reduce; no-op with a single-process strategy."""
        if not self.multiworker:
            return [float(v) for v in values]
        if self._agree_fn is None:
            self._agree_fn = tf.function(lambda x: self.strategy.reduce(
                tf.distribute.ReduceOp.MEAN, self.strategy.run(tf.identity, args=(x,)), axis=None))
        return [float(v) for v in self._agree_fn(tf.constant(values, tf.float32)).numpy()]

    def snapshot_stage1(self) -> str:
        """Keeps the end-of-stage-1 checkpoint in <workdir>/stage1/ (the manager rotates the
        others away), so ablations can start stage 2 from the same P (--init-from)."""
        import shutil

        src = self.manager.latest_checkpoint
        dst_dir = os.path.join(self.workdir, "stage1")
        tmp = dst_dir + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for name in os.listdir(self.workdir):
            if name.startswith(os.path.basename(src) + "."):
                shutil.copy2(os.path.join(self.workdir, name), tmp)
        shutil.rmtree(dst_dir, ignore_errors=True)
        os.replace(tmp, dst_dir)
        return os.path.join(dst_dir, os.path.basename(src))

    def init_from(self, other_workdir: str) -> int:
        """Starts this run from another run's stage-1 snapshot: the same model config, or
        one that differs only in parts stage 1 does not train (STAGE2_FIELDS: Phi, the
        matching, the prior, D), whose P, F and auxiliary head are taken."""
        other = load_config(os.path.join(other_workdir, "config.json"))
        same = other.model == self.cfg.model
        if not same and not same_stage1_networks(other.model, self.cfg.model):
            raise UserError(f"{other_workdir}: --init-from needs a run whose P and F have the "
                            f"same config (only {', '.join(STAGE2_FIELDS)} may differ)")
        import glob

        index = sorted(glob.glob(os.path.join(other_workdir, "stage1", "ckpt-*.index")))
        path = index[-1][:-len(".index")] if index else None
        if not path:
            raise UserError(f"{other_workdir}/stage1: no stage-1 snapshot to start from")
        try:
            if same:
                self.ckpt.restore(path).assert_existing_objects_matched()
            else:
                self._restore_stage1_networks(path)
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"{path}: cannot restore ({type(e).__name__})") from None
        self.k.assign(0.0)
        self.save()
        return int(self.step.numpy())

    def _restore_stage1_networks(self, path: str) -> None:
        """P, F, the auxiliary head and the counters from a stage-1 checkpoint of a model
        whose stage-2 parts differ. The checkpoint holds the model's weights as one flat
        list (variables_of) in which P's and F's come first, so their positions agree."""
        reader = tf.train.load_checkpoint(path)
        m = self.model
        pf = m.initializer.weights + m.encoder.weights
        if [id(v) for v in m.weights[:len(pf)]] != [id(v) for v in pf]:
            raise UserError(f"{path}: P and F are not the first weights of this model")
        values = [reader.get_tensor(f"model/variables_list/{i}/.ATTRIBUTES/VARIABLE_VALUE")
                  for i in range(len(pf))]
        aux = aux_head_in(path)
        if aux is None:
            raise UserError(f"{path}: holds no auxiliary head of F")
        for owner, weights, vals in (("model", pf, values),
                                     ("aux_head", self.aux_head.weights, aux)):
            for i, (v, value) in enumerate(zip(weights, vals, strict=True)):
                if tuple(value.shape) != tuple(v.shape):
                    raise UserError(f"{path}: {owner} weight {i} has shape {value.shape}, "
                                    f"this model's {tuple(v.shape)}")
                v.assign(value)
        for var, name in ((self.step, "step"), (self.elapsed, "elapsed"),
                          (self.opt1.iterations, "opt1/_iterations")):
            var.assign(reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))

    # ---- steps -------------------------------------------------------------------------
    def _reduce(self, per_replica):
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def build_steps(self, batch1: int, batch2: int):
        t = self.cfg.train
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

        burn, T = t.burn_in, t.clip_len

        def s2(clips, targets, weights, warm=False):
            B = tf.shape(clips)[0]
            first = 0 if t.finetune_initializer else 1
            state = None
            if burn:
                if warm:
                    # warm-started clip: track `burn` frames forward only (no tape: no
                    # backward cost) and start the trained segment from the tracker's own,
                    # detached state, so it learns to hold on from states it reaches after
                    # more frames than one clip (truncated back-propagation through time)
                    f, h = model.init_step(clips[:, 0], training=True)
                    for i in range(1, burn + 1):
                        f, h = model.track_step(f, h, clips[:, i], training=True)
                    state = (tf.stop_gradient(f), tf.stop_gradient(h))
                    first = 1
                    seg = slice(burn, burn + T)
                else:
                    seg = slice(0, T)
                clips, targets, weights = clips[:, seg], targets[:, seg], weights[:, seg]
            with tf.GradientTape() as tape:
                h = (model(clips, training=True) if state is None
                     else model.unroll(clips, *state, training=True))
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
        def step2(batch, warm=False):
            """warm (a Python bool: one trace each) starts the clip after a burn-in."""
            lg, efg, er, ef = [self._reduce(o) for o in
                               self.strategy.run(s2, args=batch, kwargs={"warm": warm})]
            if self.adversarial:
                new_k, balance, conv = began_k_update(self.k, er, ef, t.began_gamma, t.began_k_lr)
                self.k.assign(new_k)
            else:
                balance, conv = tf.constant(0.0), tf.constant(0.0)
            return lg, efg, er, ef, balance, conv

        return step1, step2


def cosine_lr(base: float, progress: float, alpha: float = 0.02) -> float:
    """Cosine decay from base to alpha * base over progress 0..1.

    progress is the larger of the stage's step fraction and its time-budget fraction, so a
    run cut short by --minutes still ends its schedule at a low learning rate."""
    p = min(max(progress, 0.0), 1.0)
    return base * (alpha + (1 - alpha) * 0.5 * (1 + math.cos(math.pi * p)))
