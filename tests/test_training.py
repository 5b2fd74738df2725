"""Training: the compiled steps (dkd_tf/trainer.py), the train CLI (resume, bad input) and the
evaluate CLI. One tiny work directory (64 px, 3 + 2 steps) is trained once per module and
copied by the tests that change it.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dkd_tf.errors import import_tensorflow, run_cli

tf = import_tensorflow()

import dkd_tf.trainer as trainer_mod  # noqa: E402
from dkd_tf.checkpoints import steps_run_in  # noqa: E402
from dkd_tf.config import load_config, tiny, with_overrides  # noqa: E402
from dkd_tf.evaluate import main as evaluate_main  # noqa: E402
from dkd_tf.losses import began_k_update  # noqa: E402
from dkd_tf.models.per_frame_head import static_kernel_head  # noqa: E402
from dkd_tf.train import main as train_main  # noqa: E402
from dkd_tf.trainer import Trainer  # noqa: E402

TRAIN = {"train_videos": 4, "train_frames": 8, "eval_videos": 2, "validation_videos": 2,
         "eval_frames": 6,
         "stage1_batch": 4, "stage2_batch": 2, "clip_len": 3, "minutes": 0}
EVAL_FRAMES = TRAIN["eval_frames"]


def _sets(tiny_model, extra_train=None):
    args = []
    for k, v in tiny_model.items():
        args += ["--set", f"model.{k}={v}"]
    for k, v in {**TRAIN, **(extra_train or {})}.items():
        args += ["--set", f"train.{k}={v}"]
    return args


def _train_args(workdir, tiny_model, s1=3, s2=2, *extra):
    return ["--workdir", str(workdir), *_sets(tiny_model), "--stage1-steps", str(s1),
            "--stage2-steps", str(s2), *extra]


def _run(main, argv):
    """run_cli(main, argv) -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run_cli(main, argv)
    return rc, out.getvalue(), err.getvalue()


def _checkpoint_files(workdir):
    """{name: sha256} of the checkpoint files (ckpt-N.* and the 'checkpoint' state file)."""
    names = [n for n in os.listdir(workdir) if n.startswith("ckpt-") or n == "checkpoint"]
    return {n: hashlib.sha256(open(os.path.join(workdir, n), "rb").read()).hexdigest()
            for n in sorted(names)}


def _error_lines(err):
    return [ln for ln in err.splitlines() if ln.startswith("error:")]


def _assert_single_line_error(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model):
    """A tiny work directory trained 3 + 2 steps and evaluated, by the CLI, once."""
    workdir = tmp_path_factory.mktemp("trained") / "run"
    t0 = time.perf_counter()
    rc, out, err = _run(train_main, _train_args(workdir, tiny_model))
    return {"workdir": str(workdir), "rc": rc, "out": out, "err": err,
            "seconds": time.perf_counter() - t0}


@pytest.fixture
def copy_of_trained(trained, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(trained["workdir"], dst)
    return str(dst)


# ---- the compiled steps ---------------------------------------------------------------------
def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    """Per variable: did it change?"""
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


@pytest.fixture(scope="module")
def trainer(tmp_path_factory, tiny_model):
    cfg = with_overrides(tiny(), model=tiny_model,
                         train={**TRAIN, "stage1_steps": 10, "stage2_steps": 10,
                                "began_k_lr": 0.05})
    tr = Trainer(cfg, str(tmp_path_factory.mktemp("trainer")), adversarial=True)
    return tr


def _batch2(seed):
    r = np.random.default_rng(seed)
    clips = r.standard_normal((2, 3, 64, 64, 3)).astype(np.float32)
    targets = r.random((2, 3, 16, 16, 13)).astype(np.float32)
    weights = np.ones((2, 3, 13), np.float32)
    return tf.constant(clips), tf.constant(targets), tf.constant(weights)


def _batch1(seed):
    r = np.random.default_rng(seed)
    return (tf.constant(r.standard_normal((4, 64, 64, 3)).astype(np.float32)),
            tf.constant(r.random((4, 16, 16, 13)).astype(np.float32)),
            tf.constant(np.ones((4, 13), np.float32)))


def test_stage2_step_trains_tracker_and_discriminator_not_p(trainer):
    tr = trainer
    m = tr.model
    assert m.freeze_initializer  # finetune_initializer is off by default
    step1, step2 = tr.build_steps(4, 2)
    groups = {"P": m.initializer.weights, "encoder": m.encoder.trainable_variables,
              "distillator": m.distillator.trainable_variables,
              "prior": m.prior.trainable_variables, "disc": tr.disc.trainable_variables,
              "aux": tr.aux_head.trainable_variables,
              "encoder_statistics": m.encoder.non_trainable_variables}
    assert m.freeze_encoder_statistics and groups["encoder_statistics"]
    before = {k: _snapshot(v) for k, v in groups.items()}
    tr.k.assign(0.5)
    lg, efg, er, ef, balance, conv = [float(x) for x in step2(_batch2(0))]
    changed = {k: _changed(before[k], v) for k, v in groups.items()}
    assert not any(changed["P"]), "P (frozen) must not change in stage 2, BN statistics included"
    assert not any(changed["aux"])
    assert not any(changed["encoder_statistics"]), "F's BN statistics are frozen in stage 2"
    for k in ("encoder", "distillator", "prior", "disc"):
        assert all(changed[k]), (k, changed[k])
    assert all(np.isfinite([lg, efg, er, ef])) and lg > 0 and er > 0 and ef > 0
    # BEGAN: k <- clip(k + k_lr * (gamma * L(real) - L(fake)), 0, 1), from the returned losses
    t = tr.cfg.train
    assert balance == pytest.approx(t.began_gamma * er - ef, rel=1e-5, abs=1e-7)
    assert conv == pytest.approx(er + abs(balance), rel=1e-5)
    want_k = min(1.0, max(0.0, 0.5 + t.began_k_lr * balance))
    assert float(tr.k) == pytest.approx(want_k, abs=1e-6)
    assert 0.0 <= float(tr.k) <= 1.0 and float(tr.k) != 0.5


def test_stage1_step_trains_p_and_encoder_not_distillator(trainer):
    tr = trainer
    m = tr.model
    step1, _ = tr.build_steps(4, 2)
    groups = {"P": m.initializer.trainable_variables, "encoder": m.encoder.trainable_variables,
              "aux": tr.aux_head.trainable_variables,
              "distillator": m.distillator.weights, "prior": m.prior.weights,
              "disc": tr.disc.weights}
    before = {k: _snapshot(v) for k, v in groups.items()}
    k_before = float(tr.k)
    lp, la = [float(x) for x in step1(_batch1(1))]
    assert np.isfinite(lp) and np.isfinite(la) and lp > 0 and la > 0
    changed = {k: _changed(before[k], v) for k, v in groups.items()}
    for k in ("P", "encoder", "aux"):
        assert all(changed[k]), (k, changed[k])
    for k in ("distillator", "prior", "disc"):
        assert not any(changed[k]), k
    assert float(tr.k) == k_before


def test_stage2_without_adversarial_leaves_discriminator_alone(trainer):
    tr = trainer
    tr.adversarial = False  # what Trainer(..., adversarial=False) stores; steps trace it
    try:
        _, step2 = tr.build_steps(4, 2)
        disc_before = _snapshot(tr.disc.weights)
        enc_before = _snapshot(tr.model.encoder.trainable_variables)
        tr.k.assign(0.25)
        lg, efg, er, ef, balance, conv = [float(x) for x in step2(_batch2(2))]
    finally:
        tr.adversarial = True
    assert not any(_changed(disc_before, tr.disc.weights))
    assert all(_changed(enc_before, tr.model.encoder.trainable_variables))
    assert np.isfinite(lg) and lg > 0
    assert (efg, er, ef, balance, conv) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert float(tr.k) == 0.25


@pytest.mark.parametrize("matching", ["full", "depthwise"])
def test_start_stage2_makes_the_tracker_the_encoders_per_frame_head(tmp_path, tiny_model,
                                                                   matching):
    """Trainer.start_stage2: DKD.match(f_t, h_t, F(I)) = aux_head(F(I)) exactly (k_0 = the
    head at the centre tap, distilled part and prior kernel zero, prior bias = head bias)."""
    cfg = with_overrides(tiny(), model={**tiny_model, "matching": matching}, train=TRAIN)
    tr = Trainer(cfg, str(tmp_path / "w"))
    m = tr.model
    r = np.random.default_rng(2)
    for v in tr.aux_head.weights:  # a head with a non-zero bias, as after stage 1
        v.assign(r.standard_normal(v.shape).astype(np.float32))
    img0, img1 = (tf.constant(r.standard_normal((2, 64, 64, 3)).astype(np.float32))
                  for _ in range(2))
    f0, h0 = m.init_step(img0, training=False)
    f1 = m.encoder(img1, training=False)
    before = m.match(f0, h0, f1, training=False).numpy()
    want = tr.aux_head(f1).numpy()
    assert np.abs(before - want).max() > 0.1
    tr.start_stage2()
    got = m.match(f0, h0, f1, training=False).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    # ... and the encoder_every_frame row's head (k_0 + prior bias as one conv) is that head
    np.testing.assert_allclose(static_kernel_head(m)(f1).numpy(), want, atol=1e-4)


def test_ablation_rows_run_what_they_say(tmp_path, tiny_model):
    """prediction.predict_rows on a tiny tracker whose Phi and prior are not zero: dkd = the
    Keras unroll DKD.call; dkd_without_past = P on frame 1, then DKD.match(f_{t-1}, zeros,
    f_t); encoder_every_frame = conv(f_t, k_0 * scale) + prior bias (NumPy); and
    resolve_head's choice of head at each point of training."""
    from dkd_tf.prediction import predict_rows
    from dkd_tf.models.dynamic_conv import correlation_scale
    from dkd_tf.models.per_frame_head import resolve_head

    cfg = with_overrides(tiny(), model=tiny_model, train=TRAIN)
    tr = Trainer(cfg, str(tmp_path / "w"))
    m = tr.model
    r = np.random.default_rng(5)
    aux = [r.standard_normal(v.shape).astype(np.float32) for v in tr.aux_head.weights]
    head, note = resolve_head(m, aux, 0)  # stage 1: k_0 still zero -> the auxiliary head
    assert head.source == "aux_head" and head.kernel_size == 1
    assert resolve_head(m, None, 0)[0] is None
    for v, a in zip(tr.aux_head.weights, aux):
        v.assign(a)
    tr.start_stage2()
    for v in m.distillator.to_kernel.weights + m.prior.weights[:1]:  # Phi and prior != 0
        v.assign(0.3 * r.standard_normal(v.shape).astype(np.float32))
    head, note = resolve_head(m, aux, 7)
    assert head.source == "static_kernel" and head.kernel_size == cfg.model.kernel_size
    clip = r.standard_normal((2, 4, 64, 64, 3)).astype(np.float32)
    rows = predict_rows(m, clip, head, every_frame=True, batch=3)
    assert set(rows) == {"dkd", "dkd_without_past", "encoder_every_frame",
                         "initializer_every_frame"}
    np.testing.assert_allclose(rows["dkd"], m(clip, training=False).numpy(), atol=1e-4)
    f = [m.encoder(clip[:, t], training=False) for t in range(4)]
    p0 = m.initializer(clip[:, 0], training=False).numpy()
    np.testing.assert_allclose(rows["dkd_without_past"][:, 0], p0, atol=1e-5)
    for t in range(1, 4):
        want = m.match(f[t - 1], tf.zeros_like(rows["dkd"][:, t]), f[t], training=False)
        np.testing.assert_allclose(rows["dkd_without_past"][:, t], want.numpy(), atol=1e-4)
        assert np.abs(rows["dkd_without_past"][:, t] - rows["dkd"][:, t]).max() > 1e-2
    S, C = cfg.model.kernel_size, cfg.model.feature_channels
    k = m.distillator.static[0].numpy() * correlation_scale(S, C)  # [S, S, C, K]
    fp = np.pad(f[2].numpy(), [(0, 0), (S // 2,) * 2, (S // 2,) * 2, (0, 0)])
    n = f[2].shape[1]
    want = sum(np.einsum("bhwc,ck->bhwk", fp[:, u:u + n, v:v + n], k[u, v])
               for u in range(S) for v in range(S)) + m.prior.weights[1].numpy()
    np.testing.assert_allclose(rows["encoder_every_frame"][:, 2], want, atol=1e-4)
    for t in range(4):
        np.testing.assert_allclose(rows["initializer_every_frame"][:, t],
                                   m.initializer(clip[:, t], training=False).numpy(), atol=1e-5)
    # a model without k_0 (older configs) whose F trained on in stage 2: no head matches F
    old = Trainer(with_overrides(cfg, model={"static_kernel": False}), str(tmp_path / "o"))
    assert resolve_head(old.model, aux, 0)[0].source == "aux_head"
    none, why = resolve_head(old.model, aux, 3)
    assert none is None and "no per-frame head" in why


def test_warm_started_stage2_step_trains_from_the_burned_in_state(tmp_path, tiny_model):
    """burn_in = 2: a warm step tracks frames 0..2 without gradients and trains frames 2..4
    from that state; its L_G is the loss of DKD.unroll from the burned-in state (recomputed
    here with the same weights before the step), the burn-in frames' targets do not enter
    it, and a cold step trains on frames 0..2 as a plain clip."""
    from dkd_tf.losses import heatmap_mse

    cfg = with_overrides(tiny(), model=tiny_model,
                         train={**TRAIN, "burn_in": 2, "stage1_steps": 1, "stage2_steps": 2})
    tr = Trainer(cfg, str(tmp_path / "w"), adversarial=False)
    m, B = tr.model, 2
    r = np.random.default_rng(5)
    clips = tf.constant(r.standard_normal((B, 5, 64, 64, 3)).astype(np.float32))
    targets = r.random((B, 5, 16, 16, 13)).astype(np.float32)
    weights = tf.constant(np.ones((B, 5, 13), np.float32))
    f, h = m.init_step(clips[:, 0], training=True)
    for i in (1, 2):
        f, h = m.track_step(f, h, clips[:, i], training=True)
    want = m.unroll(clips[:, 2:], f, h, training=True)
    fg = cfg.train.foreground_weight
    want_lg = float(tf.reduce_sum(heatmap_mse(want[:, 1:], targets[:, 3:], weights[:, 3:], fg)) / B)
    _, step2 = tr.build_steps(4, B)
    other = targets.copy()
    other[:, :3] = 0.0  # burn-in frames and the segment's first (detached) frame
    before = _snapshot(m.encoder.trainable_variables)
    lg_warm = float(step2((clips, tf.constant(other), weights), True)[0])
    assert lg_warm == pytest.approx(want_lg, rel=1e-4)
    assert all(_changed(before, m.encoder.trainable_variables))
    # the step changed the weights: recompute the cold expectation with the new ones
    cold = m(clips[:, :3], training=True)
    want_cold = float(tf.reduce_sum(heatmap_mse(cold[:, 1:], targets[:, 1:3], weights[:, 1:3],
                                                fg)) / B)
    lg_cold = float(step2((clips, tf.constant(targets), weights), False)[0])
    assert lg_cold == pytest.approx(want_cold, rel=1e-4)
    assert lg_cold != pytest.approx(lg_warm, rel=1e-3)


def test_began_k_is_clipped_to_unit_interval():
    k, bal, conv = began_k_update(tf.constant(0.99), 1.0, 0.1, gamma=0.5, k_lr=1.0)
    assert float(k) == 1.0
    assert float(bal) == pytest.approx(0.4) and float(conv) == pytest.approx(1.4)
    k, bal, _ = began_k_update(tf.constant(0.01), 0.1, 1.0, gamma=0.5, k_lr=1.0)
    assert float(k) == 0.0 and float(bal) == pytest.approx(-0.95)
    k, _, _ = began_k_update(tf.constant(0.5), 0.2, 0.05, gamma=0.5, k_lr=0.1)
    assert float(k) == pytest.approx(0.5 + 0.1 * (0.1 - 0.05))


# ---- the train CLI ---------------------------------------------------------------------------
def test_cli_smoke(trained, tiny_model):
    assert trained["rc"] == 0, trained["err"][-2000:]
    w = trained["workdir"]
    cfg = load_config(os.path.join(w, "config.json"))
    assert cfg.preset == "tiny"
    assert {k: getattr(cfg.model, k) for k in tiny_model} == tiny_model
    assert (cfg.train.stage1_steps, cfg.train.stage2_steps, cfg.train.clip_len) == (3, 2, 3)
    files = os.listdir(w)
    assert {"ckpt-3.index", "ckpt-5.index"} <= set(files)
    assert tf.train.latest_checkpoint(w).endswith("ckpt-5")
    step = tf.train.load_checkpoint(os.path.join(w, "ckpt-5")).get_tensor(
        "step/.ATTRIBUTES/VARIABLE_VALUE")
    assert int(step) == 5
    events = [os.path.join(w, "logs", n) for n in os.listdir(os.path.join(w, "logs"))
              if n.startswith("events.out.tfevents")]
    assert events
    tags = set()
    for path in events:
        for e in tf.compat.v1.train.summary_iterator(path):
            tags |= {v.tag for v in e.summary.value}
    assert {"stage2/L_G", "stage2/began_k", "eval/pck_dkd", "eval/pck_dkd_without_past",
            "eval/pck_encoder_every_frame", "eval/pck_initializer_every_frame",
            "validation/pck_dkd", "validation/jitter_encoder_every_frame"} <= tags
    with open(os.path.join(w, "eval_validation.json")) as f:
        val = json.load(f)
    with open(os.path.join(w, "eval.json")) as f:
        res = json.load(f)
    assert (val["split"], res["split"]) == ("validation", "heldout")
    assert val["dkd"]["pck_per_joint"] != res["dkd"]["pck_per_joint"]  # other videos
    assert res["encoder_head"].startswith("static kernel")  # stage 2 ran
    for name in ("dkd", "dkd_without_past", "encoder_every_frame", "initializer_every_frame"):
        assert len(res[name]["pck_per_frame"]) == EVAL_FRAMES
        assert len(res[name]["pck_per_joint"]) == 13
        assert 0.0 <= res[name]["pck"] <= 1.0
    fl = res["flops"]
    assert isinstance(fl["initializer"], int) and isinstance(fl["tracked"], int)
    assert 0 < fl["tracked"] < fl["initializer"]
    assert res["checkpoint_step"] == 5 and res["preset"] == "tiny"
    assert res["steps_run"] == {"stage1": 3, "stage2": 2}
    with open(os.path.join(w, "eval_pck.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "FLOPs per frame" in trained["out"]
    assert not _error_lines(trained["err"])


def test_time_budget_ends_each_stage_and_the_run(tmp_path, tiny_model):
    """A budget far below one step's time: stage 1 hands over after its first step (it gets
    45% of the budget), stage 2 stops after its first; the schedule position (checkpoint
    number) jumps to the planned end, the steps taken are reported, and rerunning the same
    command does not train further."""
    w = tmp_path / "run"
    argv = _train_args(w, tiny_model, 3, 2, "--set", "train.minutes=1e-5")
    rc, out, err = _run(train_main, argv)
    assert rc == 0, err
    log = out + err  # (the progress bar's messages)
    assert "stage 1 time budget used at step 1" in log and "used at step 4; stopping" in log
    with open(w / "eval.json") as f:
        res = json.load(f)
    assert res["checkpoint_step"] == 5 and res["steps_run"] == {"stage1": 1, "stage2": 1}
    assert "trained 1 + 1 steps" in out
    rc, out, err = _run(train_main, argv + ["--no-eval"])
    assert rc == 0 and "resuming from step 5" in err
    assert steps_run_in(tf.train.latest_checkpoint(str(w))) == {"stage1": 1, "stage2": 1}


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["mobile", "r50"])
def test_big_preset_networks_train_a_few_steps(tmp_path, preset):
    """The mobile and r50 presets' networks (backbones, matching, skips, heatmap prior, loss
    weights: everything but the sizes) at test shapes: 2 + 2 steps of the CLI, checkpoint
    and evaluation. Only sizes are overridden; the preset name stays."""
    from dkd_tf.config import get_preset

    sizes = {"input_size": 64, "initializer_width": 0.125, "deconv_filters": 16,
             "encoder_width": 0.25, "feature_channels": 8, "kernel_size": 3,
             "distillator_filters": 8, "distillator_pools": 2}
    w = tmp_path / preset
    argv = ["--preset", preset, "--workdir", str(w), "--stage1-steps", "2", "--stage2-steps",
            "2", *_sets(sizes)]
    rc, out, err = _run(train_main, argv)
    assert rc == 0, err[-2000:]
    want = get_preset(preset).model
    cfg = load_config(str(w / "config.json"))
    assert cfg.preset == preset
    for k in ("initializer_backbone", "encoder_backbone", "encoder_stages", "matching",
              "initializer_skips", "heatmap_prior", "static_kernel"):
        assert getattr(cfg.model, k) == getattr(want, k), k
    assert steps_run_in(tf.train.latest_checkpoint(str(w))) == {"stage1": 2, "stage2": 2}
    with open(w / "eval.json") as f:
        res = json.load(f)
    assert res["preset"] == preset and res["steps_run"] == {"stage1": 2, "stage2": 2}
    assert 0.0 <= res["dkd"]["pck"] <= 1.0 and len(res["dkd"]["pck_per_frame"]) == EVAL_FRAMES
    # (at these sizes the tracker need not be cheaper: the ratios at the presets' own sizes
    # are test_models' FLOPs tests)
    assert res["flops"]["tracked"] > 0 and res["flops"]["initializer"] > 0


def test_cli_resumes_from_latest_checkpoint(copy_of_trained, tiny_model):
    w = copy_of_trained
    rc, _, err = _run(train_main, _train_args(w, tiny_model, 3, 4, "--no-eval"))
    assert rc == 0, err[-2000:]
    assert "resuming from step 5" in err
    assert tf.train.latest_checkpoint(w).endswith("ckpt-7")
    reader = tf.train.load_checkpoint(os.path.join(w, "ckpt-7"))
    assert int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == 7


@pytest.mark.slow
def test_cli_resumes_after_sigkill(tmp_path, tiny_model):
    w = tmp_path / "run"
    args = _train_args(w, tiny_model, 3, 200, "--no-eval") + [
        "--set", "train.checkpoint_every=1"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = open(tmp_path / "killed.stderr", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "dkd_tf.train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    state = w / "checkpoint"
    try:
        deadline = time.time() + 240
        while not state.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert state.exists(), "no checkpoint written before the deadline"
        time.sleep(0.5)  # let it get into the middle of something
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        log.seek(0)
        perr = log.read()
        log.close()
    assert proc.returncode == -signal.SIGKILL, perr[-2000:]
    saved = int(tf.train.latest_checkpoint(str(w)).rsplit("-", 1)[1])
    assert saved > 0
    # rerun with a horizon one step past what was saved: resumes there, trains that one step
    s1, s2 = (saved + 1, 0) if saved < 3 else (3, saved + 1 - 3)
    rc, _, err = _run(train_main, _train_args(w, tiny_model, s1, s2, "--no-eval"))
    assert rc == 0, err[-2000:]
    assert f"resuming from step {saved}" in err
    assert tf.train.latest_checkpoint(str(w)).endswith(f"ckpt-{saved + 1}")


def test_init_from_takes_p_and_f_when_only_stage2_parts_differ(trained, tmp_path, tiny_model):
    """--init-from a run whose Phi / prior differ (STAGE2_FIELDS): P, F and the auxiliary
    head are the snapshot's exactly, the counters continue at stage 2, Phi is this model's."""
    src = trained["workdir"]
    other = {**tiny_model, "heatmap_prior": 3, "distillator_filters": 8}
    cfg = with_overrides(tiny(), model=other, train={**TRAIN, "stage1_steps": 3,
                                                     "stage2_steps": 2})
    tr = Trainer(cfg, str(tmp_path / "run"))
    assert tr.init_from(src) == 3
    index = [n for n in os.listdir(os.path.join(src, "stage1")) if n.endswith(".index")]
    reader = tf.train.load_checkpoint(os.path.join(src, "stage1", index[0][:-len(".index")]))
    key = "{}/variables_list/{}/.ATTRIBUTES/VARIABLE_VALUE"
    pf = tr.model.initializer.weights + tr.model.encoder.weights
    for i, v in enumerate(pf):
        np.testing.assert_array_equal(v.numpy(), reader.get_tensor(key.format("model", i)))
    for i, v in enumerate(tr.aux_head.weights):
        np.testing.assert_array_equal(v.numpy(), reader.get_tensor(key.format("aux_head", i)))
    assert tr.steps_run()["stage1"] == 3 and tr.model.prior.kernel.shape[0] == 3
    # a change to F is not a stage-2 part: one line, exit 2
    rc, _, err = _run(train_main, _train_args(tmp_path / "run2", {**tiny_model,
                                                                  "encoder_width": 0.5},
                                              3, 2, "--init-from", src, "--no-eval"))
    assert rc == 2
    assert "only kernel_size" in _assert_single_line_error(err)


# ---- bad input: one line, exit 2, checkpoints untouched -------------------------------------
def test_unknown_preset(copy_of_trained, tiny_model):
    before = _checkpoint_files(copy_of_trained)
    rc, _, err = _run(train_main, ["--preset", "huge", "--workdir", copy_of_trained])
    assert rc == 2
    line = _assert_single_line_error(err)
    assert "unknown preset 'huge'" in line
    assert _checkpoint_files(copy_of_trained) == before


def test_workdir_of_another_preset(copy_of_trained):
    w = copy_of_trained
    before = _checkpoint_files(w)
    cfg_before = open(os.path.join(w, "config.json")).read()
    rc, _, err = _run(train_main, ["--preset", "mobile", "--workdir", w, "--no-eval"])
    assert rc == 2
    line = _assert_single_line_error(err)
    assert "config.json" in line and "'tiny'" in line and "'mobile'" in line
    assert _checkpoint_files(w) == before
    assert open(os.path.join(w, "config.json")).read() == cfg_before


def test_corrupt_checkpoint(copy_of_trained, tiny_model):
    w = copy_of_trained
    data = [n for n in os.listdir(w) if n.startswith("ckpt-5.data-")]
    assert len(data) == 1
    path = os.path.join(w, data[0])
    size = os.path.getsize(path)
    with open(path, "wb") as f:  # same length, garbage bytes: only the checksums can tell
        f.write(np.random.default_rng(0).integers(0, 256, size, np.uint8).tobytes())
    before = _checkpoint_files(w)
    rc, _, err = _run(train_main, _train_args(w, tiny_model, 3, 4, "--no-eval"))
    assert rc == 2
    line = _assert_single_line_error(err)
    assert "ckpt-5" in line and "cannot restore" in line
    assert _checkpoint_files(w) == before
    # the evaluate CLI says the same in one line
    rc, _, err = _run(evaluate_main, ["--workdir", w, "--videos", "2"])
    assert rc == 2
    assert "ckpt-5" in _assert_single_line_error(err)
    assert _checkpoint_files(w) == before


def test_nan_loss_names_the_step(copy_of_trained, tiny_model, monkeypatch):
    w = copy_of_trained
    real = trainer_mod.heatmap_mse
    monkeypatch.setattr(trainer_mod, "heatmap_mse",
                        lambda *a, **k: real(*a, **k) * float("nan"))
    before = _checkpoint_files(w)
    rc, _, err = _run(train_main, _train_args(w, tiny_model, 3, 4, "--no-eval"))
    assert rc == 2
    errors = _error_lines(err)
    assert len(errors) == 1, err
    assert "loss became nan at step 6" in errors[0]
    assert "resuming from step 5" in err
    assert _checkpoint_files(w) == before


# ---- the evaluate CLI -----------------------------------------------------------------------
def test_evaluate_cli_schema(copy_of_trained):
    w = copy_of_trained
    os.remove(os.path.join(w, "eval.json"))
    os.remove(os.path.join(w, "eval_pck.png"))
    rc, out, err = _run(evaluate_main, ["--workdir", w, "--videos", "2"])
    assert rc == 0, err[-2000:]
    with open(os.path.join(w, "eval.json")) as f:
        res = json.load(f)
    assert {"dkd", "initializer_every_frame", "flops", "preset", "checkpoint_step"} <= set(res)
    for name in ("dkd", "dkd_without_past", "encoder_every_frame", "initializer_every_frame"):
        r = res[name]
        assert set(r) == set(res["dkd"])
        if name == "encoder_every_frame":
            continue  # F's head, not P, on frame 1
        assert {"pck", "auc", "pck_per_joint", "pck_per_frame"} <= set(r)
        assert len(r["pck_per_joint"]) == 13
        assert len(r["pck_per_frame"]) == EVAL_FRAMES
        assert 0.0 <= r["pck"] <= 1.0 and 0.0 <= r["auc"] <= 1.0
        assert r["pck_per_frame"][0] == pytest.approx(
            res["initializer_every_frame"]["pck_per_frame"][0])  # frame 1 is P in both
    assert set(res["flops"]) >= {"initializer", "tracked"}
    assert all(isinstance(res["flops"][k], int) for k in ("initializer", "tracked"))
    assert 0 < res["flops"]["tracked"] < res["flops"]["initializer"]
    assert res["preset"] == "tiny" and res["checkpoint_step"] == 5
    assert res["steps_run"] == {"stage1": 3, "stage2": 2}
    assert res["videos"] == 2 and res["frames_per_video"] == EVAL_FRAMES
    assert os.path.getsize(os.path.join(w, "eval_pck.png")) > 1000
    assert "initializer_every_frame" in out and "encoder_every_frame" in out
    assert res["flops"]["encoder"] < res["flops"]["encoder_head"] < res["flops"]["tracked"]
    rc, out, err = _run(evaluate_main, ["--workdir", w, "--videos", "2", "--split",
                                        "validation"])
    assert rc == 0, err[-2000:]
    with open(os.path.join(w, "eval_validation.json")) as f:
        val = json.load(f)
    assert val["split"] == "validation" and val["dkd"]["pck_per_joint"] != \
        res["dkd"]["pck_per_joint"]
    assert os.path.getsize(os.path.join(w, "eval_validation_pck.png")) > 1000


def test_evaluate_skips_the_encoder_row_when_no_head_matches_f(tmp_path, tiny_model):
    """A model without k_0 (an older config) whose stage 2 has run: the row is skipped with
    one warning line; every other row is scored."""
    cfg = with_overrides(tiny(), model={**tiny_model, "static_kernel": False}, train=TRAIN)
    w = str(tmp_path / "old")
    tr = Trainer(cfg, w)
    tr.opt2.iterations.assign(2)  # as after two stage-2 steps
    tr.save()
    with open(os.path.join(w, "config.json"), "w") as f:
        f.write(cfg.to_json())
    rc, out, err = _run(evaluate_main, ["--workdir", w, "--videos", "2"])
    assert rc == 0, err[-2000:]
    warn = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "encoder_every_frame" in warn[0], err
    with open(os.path.join(w, "eval.json")) as f:
        res = json.load(f)
    assert "encoder_every_frame" not in res and "no per-frame head" in \
        res["skipped"]["encoder_every_frame"]
    assert {"dkd", "dkd_without_past", "initializer_every_frame"} <= set(res)
    rc, _, err = _run(evaluate_main, ["--workdir", w, "--split", "validation", "--dataset",
                                      "penn", "--data", str(tmp_path)])
    assert rc == 2 and "--split validation" in _assert_single_line_error(err)


def test_evaluate_cli_missing_workdir(tmp_path):
    rc, _, err = _run(evaluate_main, ["--workdir", str(tmp_path / "nowhere")])
    assert rc == 2
    assert "nowhere" in _assert_single_line_error(err)
