"""Multi-worker training: each worker's input pipeline draws its own clips at the per-replica
batch size, and two worker processes on localhost (MultiWorkerMirroredStrategy, collectives
over gRPC) train in lockstep, end with identical weights, and only the chief writes into its
work directory."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--set", "model.input_size=64", "--set", "model.initializer_width=0.25",
        "--set", "model.deconv_filters=32", "--set", "model.feature_channels=8",
        "--set", "model.distillator_filters=16", "--set", "model.kernel_size=3",
        "--set", "train.stage1_batch=2", "--set", "train.stage2_batch=2",
        "--set", "train.clip_len=3", "--set", "train.minutes=0",
        "--set", "train.train_videos=4", "--set", "train.train_frames=6",
        "--stage1-steps", "2", "--stage2-steps", "1"]
TIMEOUT_S = 900  # generous: two TensorFlow processes tracing on a busy 2-core CPU


def free_ports(n: int):
    """n distinct free localhost ports (all bound at once, then released)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class _FakeStrategy:
    """distribute_datasets_from_function as a 2-worker MultiWorkerMirroredStrategy calls it
    on worker `index`: one input pipeline per worker, one replica each."""

    def __init__(self, index):
        self.index = index

    def distribute_datasets_from_function(self, fn):
        import tensorflow as tf

        return fn(tf.distribute.InputContext(num_input_pipelines=2,
                                             input_pipeline_id=self.index,
                                             num_replicas_in_sync=2))


def test_each_worker_draws_its_own_clips_at_the_per_replica_batch():
    from dkd_tf.data.pipeline import ClipPipeline, PipelineConfig
    from dkd_tf.data.synthetic import SyntheticVideos
    from dkd_tf.train import distribute

    recs = [SyntheticVideos(64, 6, 0).video(i) for i in range(3)]
    pipe = ClipPipeline(recs, PipelineConfig(input_size=64, clip_len=3))
    first = [next(iter(distribute(_FakeStrategy(i), pipe, 2, seed=5))) for i in (0, 1)]
    for img, target, weight in first:
        # the steps divide by batch x replicas: the per-replica batch is the configured one
        assert img.shape == (2, 3, 64, 64, 3) and target.shape == (2, 3, 16, 16, 13)
        assert weight.shape == (2, 3, 13)
    assert not np.array_equal(first[0][0].numpy(), first[1][0].numpy())  # sharded by seed
    again = next(iter(distribute(_FakeStrategy(1), pipe, 2, seed=5)))
    np.testing.assert_array_equal(again[0].numpy(), first[1][0].numpy())


def run_workers(tmp_path, tag, *extra):
    """Two `python -m dkd_tf.train --strategy multiworker` processes on localhost, each with
    its own TF_CONFIG and work directory ('{}' in extra: the worker's index) -> (exit codes,
    their logs)."""
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs, logs = [], []
    for i in range(2):
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONUNBUFFERED="1",
                   TF_CONFIG=json.dumps({"cluster": cluster,
                                         "task": {"type": "worker", "index": i}}))
        logs.append(open(tmp_path / f"{tag}{i}.log", "w"))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dkd_tf.train", "--strategy", "multiworker", "--no-eval",
             "--workdir", str(tmp_path / f"w{i}"), *TINY, *(x.format(i) for x in extra)],
            env=env, cwd=REPO, stdout=logs[-1], stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    return codes, [(tmp_path / f"{tag}{i}.log").read_text() for i in range(2)]


@pytest.mark.slow
def test_two_workers_train_in_lockstep(tmp_path):
    codes, logs = run_workers(tmp_path, "train", "--dump-weights",
                              str(tmp_path / "weights{}.npz"))
    assert codes == [0, 0], "\n".join(log[-3000:] for log in logs)

    a, b = (np.load(tmp_path / f"weights{i}.npz") for i in range(2))
    assert int(a["replicas"]) == int(b["replicas"]) == 2  # num_replicas_in_sync
    assert a.files == b.files and len(a.files) > 100
    for k in a.files:  # trainable weights via all-reduced gradients, BN statistics averaged
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)

    chief, other = tmp_path / "w0", tmp_path / "w1"
    assert (chief / "config.json").is_file() and (chief / "checkpoint").is_file()
    assert (chief / "ckpt-3.index").is_file() and (chief / "logs").is_dir()
    assert sorted(os.listdir(other)) == []  # its saves went to a temporary folder, removed

    # resuming needs one shared work directory: here only the chief finds a checkpoint, so
    # both workers stop with one clear line instead of training out of step
    codes, logs = run_workers(tmp_path, "resume")
    assert codes == [2, 2]
    for log in logs:
        assert "error:" in log and "same --workdir on a shared file system" in log
