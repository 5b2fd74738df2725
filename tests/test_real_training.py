"""Training and scoring on prepared real-layout data: the synthetic set written in the Penn
Action layout and a tiny JHMDB tree, each prepared to TFRecords, trained for 2 + 2 steps of a
tiny model, evaluated at the end of training and again by the evaluate CLI; bad data folders
fail with one line; an empty test split trains and skips evaluation."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import fixtures_datasets as fx
from dkd_tf import evaluate, train
from dkd_tf.data import prepare, synthetic
from dkd_tf.errors import run_cli

# a tiny DKD (64 px, 16 x 16 heatmaps) and 2 + 2 steps of 2 clips of 3 frames
TINY = ["--set", "model.input_size=64", "--set", "model.initializer_width=0.25",
        "--set", "model.deconv_filters=32", "--set", "model.feature_channels=8",
        "--set", "model.distillator_filters=16", "--set", "model.kernel_size=3",
        "--set", "train.stage1_batch=2", "--set", "train.stage2_batch=2",
        "--set", "train.clip_len=3", "--set", "train.minutes=0",
        "--stage1-steps", "2", "--stage2-steps", "2"]


def cli(capsys, main, *argv):
    rc = run_cli(main, list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def error_line(err: str) -> str:
    """The one 'error: ...' line a failing CLI prints (progress bars aside)."""
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    return errors[0]


def prepared(capsys, dataset, root, out, *extra):
    rc, _, err = cli(capsys, prepare.main, dataset, "--root", root, "--out", out, *extra,
                     "--no-progress")
    assert rc == 0, err
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def test_bad_data_folders(tmp_path, capsys):
    empty = tmp_path / "not_prepared"
    empty.mkdir()
    for main in (train.main, evaluate.main):
        for argv in (["--dataset", "penn"], ["--dataset", "jhmdb", "--data", str(empty)],
                     ["--dataset", "penn", "--data", str(tmp_path / "missing")]):
            rc, out, err = cli(capsys, main, *argv, "--workdir", str(tmp_path / "w"))
            assert rc == 2, (argv, err)
            line = error_line(err)
            assert ("--data" in line or "summary.json" in line or "does not exist" in line)
    assert not (tmp_path / "w").exists()  # nothing trained, nothing written


@pytest.mark.slow
def test_penn_layout_prepare_train_evaluate(tmp_path, capsys):
    src, data, w = str(tmp_path / "syn"), str(tmp_path / "prep"), str(tmp_path / "w")
    assert run_cli(synthetic.main, ["--out", src, "--videos", "4", "--frames", "8",
                                    "--size", "64", "--seed", "0"]) == 0
    summary = prepared(capsys, "penn", src, data)
    assert (summary["train"]["videos"], summary["test"]["videos"]) == (3, 1)
    from dkd_tf.data.tfrecords import read_videos

    test_actions = {r["action"] for r in read_videos(data, "test", decode_frames=False)}

    rc, out, err = cli(capsys, train.main, "--dataset", "penn", "--data", data,
                       "--workdir", w, *TINY)
    assert rc == 0, err
    with open(os.path.join(w, "eval.json")) as f:
        res = json.load(f)
    assert res["dataset"] == "penn" and res["checkpoint_step"] == 4 and res["videos"] == 1
    assert res["frames_per_video"] == 8
    for method in ("dkd", "initializer_every_frame"):
        assert set(res[method]["pck_per_action"]) == test_actions
        assert len(res[method]["pck_per_joint"]) == 13 and 0 <= res[method]["pck"] <= 1
    assert os.path.isfile(os.path.join(w, "eval_pck.png"))
    assert os.path.isfile(os.path.join(w, "ckpt-4.index"))

    again = str(tmp_path / "again.json")
    rc, out, err = cli(capsys, evaluate.main, "--workdir", w, "--dataset", "penn",
                       "--data", data, "--json", again)
    assert rc == 0, err
    with open(again) as f:
        res2 = json.load(f)
    assert res2["checkpoint_step"] == 4 and res2["videos"] == 1
    for method in ("dkd", "initializer_every_frame"):  # the same weights, the same scores
        assert res2[method]["pck_per_joint"] == pytest.approx(res[method]["pck_per_joint"],
                                                              abs=1e-9, nan_ok=True)
        assert res2[method]["pck_per_action"] == pytest.approx(res[method]["pck_per_action"])

    # an empty test split: training is unaffected, the final evaluation is skipped with a
    # note (exit 0, the earlier eval.json untouched); asking the evaluate CLI fails clearly
    src0, data0 = str(tmp_path / "syn0"), str(tmp_path / "prep0")
    assert run_cli(synthetic.main, ["--out", src0, "--videos", "4", "--frames", "8", "--size",
                                    "64", "--seed", "0", "--test-fraction", "0"]) == 0
    assert prepared(capsys, "penn", src0, data0)["test"]["videos"] == 0
    before = os.stat(os.path.join(w, "eval.json")).st_mtime_ns
    rc, out, err = cli(capsys, train.main, "--dataset", "penn", "--data", data0,
                       "--workdir", w, *TINY)
    assert rc == 0, err
    assert "no test videos; evaluation skipped" in err
    assert os.stat(os.path.join(w, "eval.json")).st_mtime_ns == before
    rc, out, err = cli(capsys, evaluate.main, "--workdir", w, "--dataset", "penn",
                       "--data", data0)
    assert rc == 2 and "no test videos" in error_line(err)


@pytest.mark.slow
def test_jhmdb_layout_prepare_train(tmp_path, capsys):
    root, data, w = str(tmp_path / "jhmdb"), str(tmp_path / "prep"), str(tmp_path / "w")
    fx.make_jhmdb_tree(root)
    summary = prepared(capsys, "jhmdb", root, data, "--split", "1")
    assert (summary["train"]["videos"], summary["test"]["videos"]) == (2, 1)
    rc, out, err = cli(capsys, train.main, "--dataset", "jhmdb", "--data", data,
                       "--workdir", w, *TINY)
    assert rc == 0, err
    with open(os.path.join(w, "config.json")) as f:
        assert json.load(f)["model"]["num_joints"] == 15  # set from the dataset
    with open(os.path.join(w, "eval.json")) as f:
        res = json.load(f)
    assert res["dataset"] == "jhmdb" and res["videos"] == 1 and res["frames_per_video"] == 3
    for method in ("dkd", "initializer_every_frame"):
        assert len(res[method]["pck_per_joint"]) == 15
        assert set(res[method]["pck_per_action"]) == {"catch"}
        assert res[method]["counted"] == 3 * 15  # JHMDB counts every joint


def test_a_training_checkpoint_restores_the_whole_model(tmp_path, tiny_model):
    """What evaluate reads is what training wrote: every weight, BatchNorm statistics
    included (Keras 3 sub-layers kept in lists were once left out of checkpoints)."""
    from dkd_tf.config import get_preset, with_overrides
    from dkd_tf.checkpoints import open_workdir_for_eval
    from dkd_tf.trainer import Trainer, tf

    cfg = with_overrides(get_preset("tiny"), model=tiny_model)
    w = str(tmp_path / "w")
    os.makedirs(w)
    with open(os.path.join(w, "config.json"), "w") as f:
        json.dump(cfg.to_dict(), f)
    trainer = Trainer(cfg, w)
    rng = np.random.default_rng(0)
    for v in trainer.model.weights:  # moving statistics away from their initial 0 and 1
        if not v.trainable:
            lo, hi = (0.5, 2.0) if "variance" in v.path else (-0.2, 0.2)
            v.assign(rng.uniform(lo, hi, v.shape).astype(np.float32))
    trainer.save()
    model = open_workdir_for_eval(w)[0]
    x = tf.constant(rng.normal(size=(1, 64, 64, 3)), tf.float32)
    for part in ("initializer", "encoder"):
        np.testing.assert_allclose(getattr(model, part)(x, training=False),
                                   getattr(trainer.model, part)(x, training=False), rtol=1e-5)
