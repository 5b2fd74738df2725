"""The benchmark: FLOPs counted from the flatbuffer (hand-checked op rules), the report's
JSON schema, the policy scoring and the streaming-memory probe."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dkd_tf import bench
from dkd_tf.benchmark import accuracy, memory, timing
from dkd_tf.benchmark import tflite_analysis as tfa
from dkd_tf.heldout import heldout_videos
from fixtures_edge import edge_assets, edge_export  # noqa: F401


def test_op_flops_by_hand():
    # 3x3 conv 4 -> 8 on an 8x8 output with bias: 2 * 64 * 8 * (3 * 3 * 4) + 64 * 8
    conv = {"op": "CONV_2D", "inputs": [[1, 8, 8, 4], [8, 3, 3, 4], [8]],
            "outputs": [[1, 8, 8, 8]], "bias": True}
    assert tfa.op_flops(conv) == 36864 + 512
    dw = {"op": "DEPTHWISE_CONV_2D", "inputs": [[1, 8, 8, 8], [1, 5, 5, 8]],
          "outputs": [[1, 8, 8, 8]], "bias": False}
    assert tfa.op_flops(dw) == 2 * 512 * 25
    # transposed conv 4x4 s2, 16 -> 8 channels, 4x4 -> 8x8: every input pixel scatters a
    # 4 x 4 x 8 patch: 2 * (4 * 4 * 16) * (4 * 4 * 8)
    tc = {"op": "TRANSPOSE_CONV", "inputs": [[4], [8, 4, 4, 16], [1, 4, 4, 16]],
          "outputs": [[1, 8, 8, 8]], "bias": False}
    assert tfa.op_flops(tc) == 2 * 256 * 128
    bmm = {"op": "BATCH_MATMUL", "inputs": [[1, 256, 72], [1, 72, 13]],
           "outputs": [[1, 256, 13]], "adj_x": False}
    assert tfa.op_flops(bmm) == 2 * 256 * 13 * 72
    fc = {"op": "FULLY_CONNECTED", "inputs": [[1, 10], [5, 10], [5]], "outputs": [[1, 5]],
          "bias": True}
    assert tfa.op_flops(fc) == 2 * 5 * 10 + 5
    assert tfa.op_flops({"op": "MAX_POOL_2D", "inputs": [[1, 8, 8, 4]],
                           "outputs": [[1, 4, 4, 4]], "window": 4}) == 64 * 4
    assert tfa.op_flops({"op": "ADD", "inputs": [[1, 4], [1, 4]], "outputs": [[1, 4]]}) == 4
    assert tfa.op_flops({"op": "RESHAPE", "inputs": [[1, 4]], "outputs": [[4]]}) == 0


def test_flatbuffer_count_agrees_with_the_keras_model(edge_export):
    """The flatbuffer's MAC ops against the layers' own shapes, and the correlation's
    shape read back from dynamic_conv.tflite."""
    assets, model = edge_export
    a = tfa.analyze_tflite(f"{assets}/pose_initializer_fp32.tflite")
    n_params = sum(int(np.prod(w.shape)) for w in model.initializer.weights)
    # BatchNorm folds into the convs: 4 vectors of C per BN become one bias of C
    assert 0.9 * n_params < a["params"] <= n_params
    from dkd_tf.flops import count_flops

    tf_flops = count_flops(lambda x: model.initializer(x, training=False), [(1, 64, 64, 3)])
    assert a["flops"] == pytest.approx(tf_flops, rel=0.1)
    assert tfa.correlation_shape(f"{assets}/dynamic_conv_fp32.tflite") == \
        (3, "full", 16, 16, 8, 13)


def test_correlation_shape_reads_the_split_column_form(tmp_path):
    """S*K = 5 x 13 = 65 = 2 x 32 + 1: the export computes the last column as MUL + SUM and
    the BATCH_MATMUL shows 64 columns; the shape read back still says K = 13."""
    import tensorflow as tf

    from dkd_tf.edge.graphs import _edge_full_correlation

    S, m, n, C, K = 5, 6, 7, 4, 13
    fn = tf.function(lambda k, f: _edge_full_correlation(k, f, S, 0.1))
    conc = fn.get_concrete_function(tf.TensorSpec((1, S, S, C, K)), tf.TensorSpec((1, m, n, C)))
    path = tmp_path / "corr.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([conc]).convert())
    ops = [o["op"] for o in tfa.read_tflite(str(path))["ops"]]
    assert ops.count("SUM") == 1 and ops.count("BATCH_MATMUL") == 1
    assert tfa.correlation_shape(str(path)) == (S, "full", m, n, C, K)


def test_bench_cli_json(edge_assets, tmp_path, capsys):
    out = tmp_path / "b.json"
    rc = bench.main(["--assets", edge_assets, "--json", str(out), "--frames", "5",
                     "--warmup", "1", "--threads", "1"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "P / tracked" in text and "PCK part skipped: untrained" in text
    r = json.loads(out.read_text())
    assert r["input"] == [64, 64] and r["threads"] == 1
    for g in timing.GRAPHS:
        p = r["parts"]["fp32"][g]
        assert p["params"] > 0 and p["flops"] > 0 and p["p90_ms"] >= p["median_ms"] > 0
    t, i = r["tracked_frame"], r["initializer_frame"]
    assert t["flops"] == r["parts"]["fp32"]["frame_encoder"]["flops"] + \
        r["parts"]["fp32"]["dynamic_conv"]["flops"]
    assert r["ratios"]["flops"] == pytest.approx(i["flops"] / t["flops"])
    assert r["ratios"]["ms"] == pytest.approx(i["ms"] / t["ms"])
    d = r["dynamic_conv"]
    assert d["gflops_per_s"] > 0 and d["reference_gflops_per_s"] > 0
    assert d["flops"] == 2 * 16 * 16 * 9 * 8 * 13 and d["kernel_size"] == 3
    assert 20 < r["peak_rss_mb"]["runtime_process"] < 1000
    assert "skipped" in r["pck"]
    # cost / accuracy: P, F + head, DKD tracked frame at 1 and 2 threads (no PCK: untrained)
    ca = r["cost_accuracy"]
    got = {(row["method"], row["threads"]): row for row in ca["rows"]}
    assert set(got) == {(m, th) for m in ("initializer_every_frame", "encoder_head_every_frame",
                                          "dkd_tracked_frame") for th in (1, 2)}
    assert all(row["ms"] > 0 and row["mflops"] > 0 and "pck" not in row for row in ca["rows"])
    head = r["parts"]["fp32"]["frame_encoder_head"]
    assert got["encoder_head_every_frame", 1]["mflops"] == pytest.approx(head["flops"] / 1e6)
    assert r["parts"]["fp32"]["frame_encoder"]["flops"] < head["flops"] < t["flops"] + \
        2 * 16 * 16 * 9 * 8 * 13
    assert got["dkd_tracked_frame", 1]["ms"] == pytest.approx(t["ms"])
    assert "png" not in ca and "encoder_head_every_frame" in text


def test_policy_scoring_and_plot(edge_assets, tmp_path):
    videos = heldout_videos(64, 2, 6)
    rows = accuracy.evaluate_policies(edge_assets, ["fp32"],
                                      accuracy.default_policies(0.5, encoder_head=True),
                                      videos, threads=1, progress=False)
    share = {r["policy"]: r["initializer_share"] for r in rows}
    assert share["never"] == pytest.approx(1 / 6) and share["initializer every frame"] == 1.0
    assert share["encoder head every frame"] == 0.0
    assert all(0 <= r["pck"] <= 1 and r["ms_per_frame"] > 0 for r in rows)
    accuracy.plot_pck_vs_ms(rows, str(tmp_path / "p.png"), "test")
    assert (tmp_path / "p.png").stat().st_size > 1000
    # the cost / accuracy chart from these rows and made-up timings
    from dkd_tf.benchmark import cost_accuracy as ca

    timing = {"initializer_frame": {"flops": 9e6, "ms": 3.0, "p90_ms": 4.0},
              "encoder_head_frame": {"flops": 2e6, "ms": 1.0, "p90_ms": 1.1},
              "tracked_frame": {"flops": 3e6, "ms": 1.5, "p90_ms": 1.6}}
    cost = ca.cost_rows({1: timing, 2: timing}, rows)
    by = {r["method"]: r for r in cost if r["threads"] == 1}
    pol = {r["policy"]: r for r in rows}
    assert by["dkd_tracked_frame"]["pck"] == pol["never"]["pck"]
    assert by["encoder_head_every_frame"]["jitter"] == \
        pol["encoder head every frame"]["jitter"]["relative"]
    assert len(cost) == 6 and by["initializer_every_frame"]["mflops"] == 9.0
    assert ca.plot_cost_accuracy(cost, str(tmp_path / "c.png"), "test")
    assert (tmp_path / "c.png").stat().st_size > 1000
    from dkd_tf.runtime import OneEuroParams

    sm = accuracy.evaluate_smoothing(edge_assets, videos, 1, [OneEuroParams()])
    assert [r["smoothing"].split()[0] for r in sm] == ["ground", "none", "one-euro"]


@pytest.mark.slow
def test_memory_stays_flat_on_a_long_stream(edge_assets):
    """The video CLI's loop (ROI tracking, re-init, One-Euro, MP4 + JSON + CSV) on a
    generated 1,500-frame video: RSS after frame 1,500 within 5% (+2 MB) of frame 300."""
    r = memory.stream_rss(edge_assets, 1500, 64, [300, 1500])
    assert r["frames"] == 1500
    a, b = r["rss_mb"][300], r["rss_mb"][1500]
    assert b <= a * 1.05 + 2.0, r
