"""The networks (dkd_tf/models), their FLOPs (dkd_tf/flops.py) and the config presets.

Small shapes throughout: 64 px input -> 16 x 16 heatmaps, narrow widths.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from dkd_tf.errors import UserError, import_tensorflow

tf = import_tensorflow()

from dkd_tf import config as config_mod  # noqa: E402
from dkd_tf.config import ModelConfig, config_from_dict  # noqa: E402
from dkd_tf.flops import count_flops, dkd_flops  # noqa: E402
from dkd_tf.models.backbone import Backbone  # noqa: E402
from dkd_tf.models.dkd import DKD  # noqa: E402
from dkd_tf.models.dynamic_conv import DynamicConv  # noqa: E402
from dkd_tf.models.frame_encoder import FrameEncoder  # noqa: E402
from dkd_tf.models.pose_initializer import PoseInitializer  # noqa: E402
from dkd_tf.models.pose_kernel_distillator import PoseKernelDistillator  # noqa: E402
from dkd_tf.models.temporal_discriminator import TemporalDiscriminator  # noqa: E402

B, H, M, K = 2, 64, 16, 13  # batch, input size, heatmap size, joints


def _images(rng, b=B, size=H):
    return tf.constant(rng.standard_normal((b, size, size, 3)).astype(np.float32))


def _assert_config_round_trip(layer):
    cfg = layer.get_config()
    assert type(layer).from_config(cfg).get_config() == cfg


# ---- layers: shapes and get_config -------------------------------------------------------
@pytest.mark.parametrize("kind, width, channels", [
    ("resnet18", 0.25, [16, 32, 64, 128]),
    ("resnet50", 0.125, [32, 64, 128, 256]),       # bottleneck: 4 x the block width
    ("mobilenetv2", 0.5, [16, 16, 32, 80]),        # 24, 32, 64, 160 x 0.5, rounded to 8s
])
def test_backbone_stage_shapes(rng, kind, width, channels):
    bb = Backbone(kind, width, stages=4)
    outs = bb(_images(rng), training=False)
    assert [tuple(o.shape) for o in outs] == [
        (B, H // s, H // s, c) for s, c in zip((4, 8, 16, 32), channels)]
    assert bb.channels == channels
    if kind == "resnet18":
        two = Backbone(kind, width, stages=2)(_images(rng), training=False)
        assert [tuple(o.shape) for o in two] == [(B, 16, 16, 16), (B, 8, 8, 32)]
    _assert_config_round_trip(bb)


def test_backbone_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown backbone"):
        Backbone("vgg16", 1.0)


@pytest.mark.parametrize("skips", [True, False])
def test_pose_initializer_shape_and_config(rng, skips):
    p = PoseInitializer(K, "resnet18", 0.25, 32, skips=skips)
    h = p(_images(rng), training=False)
    assert tuple(h.shape) == (B, M, M, K)
    assert bool(p.skip_convs) == skips
    _assert_config_round_trip(p)


@pytest.mark.parametrize("backbone, stages", [("resnet18", 3), ("mobilenetv2", 2)])
def test_frame_encoder_shape_and_config(rng, backbone, stages):
    f = FrameEncoder(8, backbone, 0.25, stages)
    out = f(_images(rng), training=False)
    assert tuple(out.shape) == (B, M, M, 8)
    _assert_config_round_trip(f)


@pytest.mark.parametrize("S, pools", [(3, 2), (5, 1)])
def test_distillator_shapes_and_config(rng, S, pools):
    C = 8
    feats = tf.constant(rng.standard_normal((B, M, M, C)).astype(np.float32))
    heat = tf.constant(rng.random((B, M, M, K)).astype(np.float32))
    # 16 -> 8 (-> 4) after the pools; the last 'valid' conv takes that to S x S
    full = PoseKernelDistillator(C, K, S, 16, pools, M, "full")
    k = full(feats, heat, training=False)
    assert tuple(k.shape) == (B, S, S, C, K)
    _assert_config_round_trip(full)
    dw = PoseKernelDistillator(C, K, S, 16, pools, M, "depthwise")
    k_dw, mix = dw(feats, heat, training=False)
    assert tuple(k_dw.shape) == (B, S, S, C) and tuple(mix.shape) == (B, C, K)
    _assert_config_round_trip(dw)
    # the depthwise kernels are much smaller than the full ones (the point of the variant)
    assert k_dw.shape.num_elements() + mix.shape.num_elements() < k.shape.num_elements() / 4


def _conv_inputs(layer, call):
    """Runs call() and returns [(conv name, input height, kernel size)] of every Conv2D /
    DepthwiseConv2D inside `layer`, in call order (after a first call that builds it: the
    building call runs each conv twice)."""
    call()
    seen = []
    convs = [c for c in layer._flatten_layers(include_self=False, recursive=True)
             if isinstance(c, (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D))]
    originals = {id(c): c.call for c in convs}
    for c in convs:
        def hooked(x, *a, _c=c, **kw):
            seen.append((type(_c).__name__, int(x.shape[1]), int(_c.kernel_size[0])))
            return originals[id(_c)](x, *a, **kw)
        c.call = hooked
    try:
        call()
    finally:
        for c in convs:
            c.call = originals[id(c)]
    return seen


def test_distillator_pool_first_runs_every_conv_at_half_the_resolution(rng):
    """pool_first: the concat is pooled before the 1x1 conv and each stage pools before its
    3x3, so each conv sees half the side it sees in the plain order (a quarter of the
    FLOPs), with the same kernels out."""
    C, S, pools = 8, 3, 2
    feats = tf.constant(rng.standard_normal((B, M, M, C)).astype(np.float32))
    heat = tf.constant(rng.random((B, M, M, K)).astype(np.float32))
    plain = PoseKernelDistillator(C, K, S, 16, pools, M, "full")
    first = PoseKernelDistillator(C, K, S, 16, pools, M, "full", pool_first=True)
    got_plain = _conv_inputs(plain, lambda: plain(feats, heat, training=False))
    got_first = _conv_inputs(first, lambda: first(feats, heat, training=False))
    # plain: 1x1 and 3x3 at 16, 3x3 at 8, then the 'valid' 2x2 conv takes 4 x 4 to S x S
    assert got_plain == [("Conv2D", 16, 1), ("Conv2D", 16, 3), ("Conv2D", 8, 3),
                         ("Conv2D", 4, 2)]
    assert got_first == [("Conv2D", 8, 1), ("Conv2D", 8, 3), ("Conv2D", 4, 3),
                         ("Conv2D", 4, 2)]
    assert tuple(first(feats, heat, training=False).shape) == (B, S, S, C, K)
    assert first.get_config()["pool_first"] is True
    _assert_config_round_trip(first)


def test_frame_encoder_separable_out_is_depthwise_then_pointwise(rng):
    """out="separable": F's last 3x3 C -> C conv (9 C^2 weights) becomes a depthwise 3x3
    (9 C) and a 1x1 (C^2), with BN + ReLU after each; the same output shape."""
    C = 16
    conv = FrameEncoder(C, "resnet18", 0.25, 3)
    sep = FrameEncoder(C, "resnet18", 0.25, 3, out="separable")
    x = _images(rng)
    assert tuple(sep(x, training=False).shape) == (B, M, M, C)
    conv(x, training=False)
    assert _conv_inputs(sep.out, lambda: sep.out(tf.zeros((1, M, M, C))))[:2] == [
        ("DepthwiseConv2D", M, 3), ("Conv2D", M, 1)]
    # weights: 9 C^2 (conv) vs 9 C + C^2 (separable) + one more BN (4 C)
    n = lambda layer: sum(int(np.prod(w.shape)) for w in layer.weights)  # noqa: E731
    assert n(conv) - n(sep) == 9 * C * C - (9 * C + C * C + 4 * C)
    assert sep.get_config()["out"] == "separable"
    _assert_config_round_trip(sep)


@pytest.mark.parametrize("matching", ["full", "depthwise"])
def test_static_kernel_template_makes_match_a_per_frame_1x1_head(rng, matching):
    """static_kernel: after init_from_template(W), Phi + the correlation compute
    features @ W exactly, whatever the previous frame (the distilled part starts at zero);
    before it, k_0 is zero and the kernels are Phi's alone."""
    S, C = 3, 8
    feats = tf.constant(rng.standard_normal((B, M, M, C)).astype(np.float32))
    heat = tf.constant(rng.random((B, M, M, K)).astype(np.float32))
    phi = PoseKernelDistillator(C, K, S, 16, 2, M, matching, static_kernel=True)
    plain = phi(feats, heat, training=False)
    assert all(np.abs(v.numpy()).max() == 0 for v in phi.static)
    assert phi.get_config()["static_kernel"] is True
    _assert_config_round_trip(phi)
    template = rng.standard_normal((C, K)).astype(np.float32)
    conv = DynamicConv(S, matching)
    phi.init_from_template(template, scale=1.0 / math.sqrt(S * S * C))
    kernels = phi(feats, heat, training=False)
    got = conv(kernels, feats).numpy()
    want = np.einsum("bxyc,ck->bxyk", feats.numpy(), template)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(want).max() > 1.0
    if matching == "full":
        assert np.abs(plain.numpy()).max() > 0  # Phi's random kernels before the template
    # the template does not depend on the input: another previous frame, the same output
    other = phi(feats * 0.5, heat[::-1], training=False)
    np.testing.assert_allclose(conv(other, feats).numpy(), got, atol=1e-5)


def test_configs_saved_before_the_cheaper_f_and_phi_load_as_trained():
    """encoder_out and distillator_pool_first are newer than some checkpoints: a config
    without them is the architecture it was trained with (full 3x3, conv-then-pool); the
    mobile preset uses the cheaper forms."""
    mobile = config_mod.mobile().model
    assert (mobile.encoder_out, mobile.distillator_pool_first) == ("separable", True)
    d = config_mod.mobile().to_dict()
    del d["model"]["encoder_out"], d["model"]["distillator_pool_first"]
    m = config_from_dict(d).model
    assert (m.encoder_out, m.distillator_pool_first) == ("conv", False)
    with pytest.raises(UserError, match="encoder_out"):
        config_mod.validate(dataclasses.replace(config_mod.tiny(), model=dataclasses.replace(
            config_mod.tiny().model, encoder_out="dilated")))


def test_configs_saved_before_static_kernel_load_without_it():
    d = config_mod.tiny().to_dict()
    assert d["model"]["static_kernel"] is True
    del d["model"]["static_kernel"]
    assert config_from_dict(d).model.static_kernel is False


def test_dynamic_conv_shapes_and_config(rng):
    f = tf.constant(rng.standard_normal((B, M, M, 8)).astype(np.float32))
    full = DynamicConv(3, "full")
    out = full(tf.constant(rng.standard_normal((B, 3, 3, 8, K)).astype(np.float32)), f)
    assert tuple(out.shape) == (B, M, M, K)
    _assert_config_round_trip(full)
    dw = DynamicConv(5, "depthwise")
    out = dw((tf.constant(rng.standard_normal((B, 5, 5, 8)).astype(np.float32)),
              tf.constant(rng.standard_normal((B, 8, K)).astype(np.float32))), f)
    assert tuple(out.shape) == (B, M, M, K)
    _assert_config_round_trip(dw)


def test_temporal_discriminator_shape_and_config(rng):
    d = TemporalDiscriminator(K, 8, 16, M)
    heat = lambda: tf.constant(rng.random((B, M, M, K)).astype(np.float32))  # noqa: E731
    out = d(_images(rng), heat(), _images(rng), heat(), training=False)
    assert tuple(out.shape) == (B, M, M, K)
    _assert_config_round_trip(d)


# ---- DynamicConv against an explicit loop -------------------------------------------------
def _reference_full(k, f):
    """k [B, S, S, C, K], f [B, m, n, C] -> [B, m, n, K], explicit loops, zero padding."""
    Bn, S, _, C, Kn = k.shape
    _, m, n, _ = f.shape
    p = S // 2
    scale = 1.0 / math.sqrt(S * S * C)
    out = np.zeros((Bn, m, n, Kn))
    for b in range(Bn):
        for y in range(m):
            for x in range(n):
                for j in range(Kn):
                    acc = 0.0
                    for u in range(S):
                        for v in range(S):
                            yy, xx = y + u - p, x + v - p
                            if not (0 <= yy < m and 0 <= xx < n):
                                continue
                            for c in range(C):
                                acc += k[b, u, v, c, j] * f[b, yy, xx, c]
                    out[b, y, x, j] = acc * scale
    return out


def _reference_depthwise(k_dw, mix, f):
    """k_dw [B, S, S, C], mix [B, C, K], f [B, m, n, C] -> [B, m, n, K], explicit loops."""
    Bn, S, _, C = k_dw.shape
    Kn = mix.shape[-1]
    _, m, n, _ = f.shape
    p = S // 2
    scale = 1.0 / math.sqrt(S * S * C)
    out = np.zeros((Bn, m, n, Kn))
    for b in range(Bn):
        for y in range(m):
            for x in range(n):
                g = np.zeros(C)
                for u in range(S):
                    for v in range(S):
                        yy, xx = y + u - p, x + v - p
                        if 0 <= yy < m and 0 <= xx < n:
                            for c in range(C):
                                g[c] += k_dw[b, u, v, c] * f[b, yy, xx, c]
                for j in range(Kn):
                    out[b, y, x, j] = sum(g[c] * mix[b, c, j] for c in range(C)) * scale
    return out


def _conv(S, matching, per_sample):
    conv = DynamicConv(S, matching)
    conv.per_sample_conv = per_sample
    return conv


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("S", [3, 5])
def test_dynamic_conv_full_matches_loop(rng, S, per_sample):
    Bn, m, C, Kn = 2, 6, 3, 2
    k = rng.standard_normal((Bn, S, S, C, Kn)).astype(np.float32)
    f = rng.standard_normal((Bn, m, m, C)).astype(np.float32)
    got = _conv(S, "full", per_sample)(tf.constant(k), tf.constant(f)).numpy()
    want = _reference_full(k.astype(np.float64), f.astype(np.float64))
    assert got.shape == want.shape == (Bn, m, m, Kn)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # the borders are where 'same' padding matters: they must differ from a 'valid' answer
    assert np.abs(want).max() > 0.1


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("S", [3, 5])
def test_dynamic_conv_depthwise_matches_loop(rng, S, per_sample):
    Bn, m, C, Kn = 2, 6, 3, 2
    k_dw = rng.standard_normal((Bn, S, S, C)).astype(np.float32)
    mix = rng.standard_normal((Bn, C, Kn)).astype(np.float32)
    f = rng.standard_normal((Bn, m, m, C)).astype(np.float32)
    got = _conv(S, "depthwise", per_sample)((tf.constant(k_dw), tf.constant(mix)),
                                            tf.constant(f)).numpy()
    want = _reference_depthwise(*(a.astype(np.float64) for a in (k_dw, mix, f)))
    assert got.shape == want.shape == (Bn, m, m, Kn)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("matching", ["full", "depthwise"])
def test_dynamic_conv_per_sample_path_has_the_same_gradients(rng, matching):
    """The trainer's per-sample conv path and the export's slice/matmul path: same loss
    gradients with respect to kernels and features (training must optimise the graph that
    is exported)."""
    Bn, S, m, C, Kn = 3, 3, 7, 4, 2
    f = tf.constant(rng.standard_normal((Bn, m, m, C)).astype(np.float32))
    if matching == "full":
        k = (tf.constant(rng.standard_normal((Bn, S, S, C, Kn)).astype(np.float32)),)
    else:
        k = (tf.constant(rng.standard_normal((Bn, S, S, C)).astype(np.float32)),
             tf.constant(rng.standard_normal((Bn, C, Kn)).astype(np.float32)))
    target = tf.constant(rng.standard_normal((Bn, m, m, Kn)).astype(np.float32))
    grads = []
    for per_sample in (False, True):
        conv = _conv(S, matching, per_sample)
        with tf.GradientTape() as tape:
            tape.watch([f, *k])
            out = conv(k[0] if matching == "full" else k, f)
            loss = tf.reduce_sum((out - target) ** 2)
        grads.append([g.numpy() for g in tape.gradient(loss, [f, *k])])
    for a, b in zip(*grads):
        assert np.abs(a).max() > 0.1
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("S, m, n, Kn, tile", [(3, 6, 6, 2, 32), (5, 6, 7, 2, 32), (3, 6, 7, 3, 4),
                                               (5, 7, 6, 2, 4), (5, 6, 6, 13, 32)])
def test_edge_full_correlation_with_split_columns_matches_loop(rng, S, m, n, Kn, tile):
    """The row-factorised correlation, with S*K columns a whole number of GEMM tiles, one
    past (9 = 2x4 + 1, 65 = 2x32 + 1: split off as MUL + SUM) or two past (10 = 2x4 + 2)."""
    from dkd_tf.edge.graphs import _edge_full_correlation
    from dkd_tf.models.dynamic_conv import correlation_scale

    C = 3
    f = rng.standard_normal((1, m, n, C)).astype(np.float32)
    k = rng.standard_normal((1, S, S, C, Kn)).astype(np.float32)
    got = _edge_full_correlation(tf.constant(k), tf.constant(f), S, correlation_scale(S, C),
                                 gemm_tile=tile).numpy()
    want = _reference_full(k.astype(np.float64), f.astype(np.float64))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("S, m, n", [(3, 6, 6), (5, 6, 7)])
def test_edge_formulation_of_the_correlation_matches_loop(rng, S, m, n):
    """The export's equivalents (dkd_tf.edge.graphs: row-factorised full correlation,
    rank-3 depthwise) against the explicit loops, square and non-square maps."""
    from dkd_tf.edge.graphs import _edge_dynamic_conv

    Bn, C, Kn = 2, 3, 2
    f = rng.standard_normal((Bn, m, n, C)).astype(np.float32)
    k = rng.standard_normal((Bn, S, S, C, Kn)).astype(np.float32)
    got = _edge_dynamic_conv(DynamicConv(S, "full"))(tf.constant(k), tf.constant(f)).numpy()
    np.testing.assert_allclose(got, _reference_full(k.astype(np.float64), f.astype(np.float64)),
                               atol=1e-5, rtol=0)
    k_dw = rng.standard_normal((Bn, S, S, C)).astype(np.float32)
    mix = rng.standard_normal((Bn, C, Kn)).astype(np.float32)
    got = _edge_dynamic_conv(DynamicConv(S, "depthwise"))(
        (tf.constant(k_dw), tf.constant(mix)), tf.constant(f)).numpy()
    want = _reference_depthwise(*(a.astype(np.float64) for a in (k_dw, mix, f)))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_dynamic_conv_kernels_are_per_sample(rng):
    """Sample b's output depends on sample b's kernel only (no mixing across the batch)."""
    k = rng.standard_normal((2, 3, 3, 4, 2)).astype(np.float32)
    f = rng.standard_normal((2, 6, 6, 4)).astype(np.float32)
    conv = DynamicConv(3, "full")
    both = conv(tf.constant(k), tf.constant(f)).numpy()
    for b in range(2):
        one = conv(tf.constant(k[b:b + 1]), tf.constant(f[b:b + 1])).numpy()[0]
        np.testing.assert_allclose(both[b], one, atol=1e-6)


@pytest.mark.parametrize("matching", ["full", "depthwise"])
@pytest.mark.parametrize("S", [3, 5])
def test_dynamic_conv_flops_formula_matches_graph(matching, S):
    m, C, Kn = 16, 8, 13
    conv = DynamicConv(S, matching)
    if matching == "full":
        counted = count_flops(lambda k, f: conv(k, f), [(1, S, S, C, Kn), (1, m, m, C)])
    else:
        counted = count_flops(lambda kd, mx, f: conv((kd, mx), f),
                              [(1, S, S, C), (1, C, Kn), (1, m, m, C)])
    formula = conv.flops(m, m, C, Kn)
    assert formula == (2 * m * m * S * S * C * Kn if matching == "full"
                       else 2 * m * m * C * (S * S + Kn))
    assert abs(counted - formula) <= 0.1 * formula, (counted, formula)


# ---- the whole tracker ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def dkd(tiny_model):
    return DKD(tiny_model).build_all(1)


@pytest.fixture(scope="module")
def clip():
    r = np.random.default_rng(7)
    return tf.constant(r.standard_normal((2, 4, H, H, 3)).astype(np.float32))


def test_dkd_unroll_equals_per_frame_loop(dkd, clip):
    out = dkd(clip, training=False).numpy()
    assert out.shape == (2, 4, M, M, K)
    f, h = dkd.init_step(clip[:, 0], training=False)
    assert tuple(f.shape) == (2, M, M, 8) and tuple(h.shape) == (2, M, M, K)
    loop = [h.numpy()]
    for t in range(1, 4):
        f, h = dkd.track_step(f, h, clip[:, t], training=False)
        loop.append(h.numpy())
    np.testing.assert_allclose(out, np.stack(loop, axis=1), atol=1e-5, rtol=0)
    # frame 1 is P's output; later frames come from the tracker, not from P
    np.testing.assert_allclose(out[:, 0], dkd.initializer(clip[:, 0], training=False).numpy(),
                               atol=1e-5, rtol=0)
    p1 = dkd.initializer(clip[:, 1], training=False).numpy()
    assert np.abs(out[:, 1] - p1).max() > 1e-3


def test_dkd_match_consistent_with_track_step(dkd, clip):
    f0, h0 = dkd.init_step(clip[:, 0], training=False)
    f1, h1 = dkd.track_step(f0, h0, clip[:, 1], training=False)
    enc = dkd.encoder(clip[:, 1], training=False)
    np.testing.assert_allclose(f1.numpy(), enc.numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(h1.numpy(), dkd.match(f0, h0, enc, training=False).numpy(),
                               atol=1e-5, rtol=0)
    # match = correlation of the distilled kernels with the new features, plus the prior,
    # both fed h_t / its per-joint peak (after ReLU) when normalize_heatmaps is on
    assert dkd.cfg.normalize_heatmaps
    pos = np.maximum(h0.numpy(), 0.0)
    hn = tf.constant(pos / (pos.max(axis=(1, 2), keepdims=True) + 1e-3))
    kernels = dkd.distillator(f0, hn, training=False)
    assert tuple(kernels.shape) == (2, 3, 3, 8, K)
    prior = dkd.prior(hn)
    assert np.abs(prior.numpy()).max() > 1e-4
    manual = dkd.dynamic_conv(kernels, enc) + prior
    np.testing.assert_allclose(h1.numpy(), manual.numpy(), atol=1e-5, rtol=0)


def test_dkd_config_round_trip(dkd):
    cfg = dkd.get_config()
    again = DKD.from_config(cfg).build_all(1)
    assert again.get_config() == cfg
    assert len(again.weights) == len(dkd.weights)
    assert ([tuple(w.shape) for w in again.weights] == [tuple(w.shape) for w in dkd.weights])
    assert again.cfg == dkd.cfg and again.cfg.kernel_size == 3


def test_dkd_without_prior_has_no_prior_layer(tiny_model, rng):
    # match() alone builds only Phi (the backbones are what cost seconds to build); without
    # normalisation Phi sees h_t as it is
    m = DKD({**tiny_model, "heatmap_prior": 0, "matching": "depthwise",
             "normalize_heatmaps": False})
    assert m.prior is None
    f0 = tf.constant(rng.standard_normal((2, M, M, 8)).astype(np.float32))
    h0 = tf.constant(rng.random((2, M, M, K)).astype(np.float32))
    f1 = tf.constant(rng.standard_normal((2, M, M, 8)).astype(np.float32))
    h1 = m.match(f0, h0, f1, training=False)
    assert not any("prior" in w.path for w in m.weights)
    assert len(m.weights) == len(m.distillator.weights) > 0
    k_dw, mix = m.distillator(f0, h0, training=False)
    np.testing.assert_allclose(h1.numpy(), m.dynamic_conv((k_dw, mix), f1).numpy(),
                               atol=1e-5, rtol=0)


def test_dkd_prior_is_a_per_joint_depthwise_conv(dkd):
    names = [w.path for w in dkd.weights if "heatmap_prior" in w.path]
    assert len(names) == 2  # kernel + bias
    kernel = [w for w in dkd.weights if "heatmap_prior" in w.path and "kernel" in w.path][0]
    assert tuple(kernel.shape) == (5, 5, K, 1)


# ---- FLOPs ---------------------------------------------------------------------------------
def _ratio(cfg):
    model = DKD(dataclasses.asdict(cfg.model)).build_all(1)
    fl = dkd_flops(model)
    assert fl["tracked"] == fl["encoder"] + fl["match"]
    assert fl["initializer_frame"] == fl["initializer"] + fl["encoder"]
    assert all(isinstance(v, int) and v > 0 for v in fl.values())
    return fl


def test_tiny_preset_tracks_at_a_third_of_the_initializer():
    # the pool-first 32-filter Phi: 0.135 vs 0.520 GFLOPs (3.9x; 2.7x before it)
    fl = _ratio(config_mod.tiny())
    assert fl["initializer"] / fl["tracked"] >= 3.5, fl


@pytest.mark.slow
def test_mobile_preset_tracks_ten_times_cheaper():
    fl = _ratio(config_mod.mobile())
    assert fl["initializer"] / fl["tracked"] >= 10, fl


@pytest.mark.slow
def test_r50_preset_tracks_ten_times_cheaper():
    fl = _ratio(config_mod.r50())
    assert fl["initializer"] / fl["tracked"] >= 10, fl


# ---- config --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(config_mod.PRESETS))
def test_presets_validate_and_round_trip(name):
    cfg = config_mod.get_preset(name)
    assert cfg.preset == name
    assert config_mod.validate(cfg) is cfg
    assert config_from_dict(cfg.to_dict()) == cfg
    import json
    assert config_from_dict(json.loads(cfg.to_json())) == cfg  # tuples survive JSON lists
    assert cfg.model.heatmap_size == cfg.model.input_size // 4


@pytest.mark.parametrize("change, words", [
    ({"input_size": 100}, "input_size 100"),
    ({"kernel_size": 4}, "kernel_size 4 must be odd"),
    ({"matching": "sparse"}, "matching"),
    ({"encoder_backbone": "vgg"}, "backbones"),
    ({"input_size": 64, "kernel_size": 7}, "shrink 16 to 4 < kernel_size 7"),
])
def test_invalid_model_config_raises_user_error(change, words):
    with pytest.raises(UserError, match=words):
        config_mod.with_overrides(config_mod.tiny(), model=change)
    d = config_mod.tiny().to_dict()
    d["model"].update(change)
    with pytest.raises(UserError, match=words):
        config_from_dict(d)


def test_invalid_clip_len_and_unknown_preset():
    with pytest.raises(UserError, match="clip_len"):
        config_mod.with_overrides(config_mod.tiny(), train={"clip_len": 1})
    with pytest.raises(UserError, match="unknown preset 'huge'"):
        config_mod.get_preset("huge")


def test_model_config_defaults_are_the_tiny_preset():
    assert config_mod.tiny().model == ModelConfig()
