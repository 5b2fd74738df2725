"""The three edge graphs of a DKD model: frozen, batch 1, fixed shapes, named by role.

  pose_initializer  image [1, H, W, 3]                              -> heatmaps [1, m, n, K]
  frame_encoder     image [1, H, W, 3]                              -> features [1, m, n, C]
  dynamic_conv      features_prev [1, m, n, C], heatmaps_prev [1, m, n, K],
                    features [1, m, n, C]                           -> heatmaps [1, m, n, K]
                    (= DKD.match: Phi distils kernels from the previous frame, the
                    per-joint dynamic correlation matches them against this frame)
  frame_encoder_head (optional) image [1, H, W, 3]                 -> heatmaps [1, m, n, K]
                    F then its per-frame head (dkd_tf.models.per_frame_head): the
                    small-network baseline, every frame on its own, no state

Each graph is traced from the model's own per-frame functions (P, F, DKD.match), its
variables frozen to constants, and wrapped in a tf.function whose argument and output names
are the roles, so the converted model's SignatureDef names every tensor by its role.

Three layer formulations convert to TFLite graphs that the GPU delegate rejects or computes
wrongly; while tracing, `edge_rewrites` swaps them for exact equivalents (checked by the
parity tests; measured with ../shared/tools/gpu_check on LiteRT 2.3):
  DynamicConv     the converter folds reshape -> BATCH_MATMUL -> reshape into one
                  *broadcasting* [1, m, n, S*S*C] x [1, S*S*C, K] BATCH_MATMUL, which the
                  LiteRT GPU path computes wrongly (max |gpu - cpu| = 100% of the output);
                  reshaping each shifted slice to [B, rows, C] before the concatenation keeps
                  a rank-3, non-broadcasting BATCH_MATMUL. The full correlation is also
                  row-factorised there (`_edge_full_correlation`: 1.8x faster on XNNPACK;
                  the same sums in another order, equal to float rounding).
  UpSampling2D    Keras lowers nearest x2 to ExpandDims/Tile/Reshape through 5-D tensors
                  (GPU: "Tensor dimensions must be less than 5"); RESIZE_NEAREST_NEIGHBOR
                  gives identical values.
  ReLU after Conv2DTranspose + BatchNormalization: the converter folds BN into the
                  transposed conv's bias and fuses the ReLU, giving TRANSPOSE_CONV version
                  4, which the LiteRT GPU delegate does not take (max version 3);
                  x - min(x, 0) is the same function and stays a separate op.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Dict, Iterator, Tuple

from ..errors import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's quiet import)
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2)

from ..models.dynamic_conv import DynamicConv, correlation_scale  # noqa: E402
from ..runtime.manifest import GRAPHS  # noqa: E402  (the one table of graph names)

OPTIONAL_GRAPHS = ("frame_encoder_head",)
Shape = Tuple[int, ...]


@dataclass(frozen=True)
class GraphSpec:
    """One graph's I/O: (role, shape) pairs; every tensor is float32."""

    name: str
    inputs: Tuple[Tuple[str, Shape], ...]
    outputs: Tuple[Tuple[str, Shape], ...]


def graph_specs(model_cfg) -> Dict[str, GraphSpec]:
    """The fixed batch-1 shapes of the graphs (the three and the optional one) of a
    ModelConfig."""
    s, m = model_cfg.input_size, model_cfg.heatmap_size
    C, K = model_cfg.feature_channels, model_cfg.num_joints
    img, feat, heat = (1, s, s, 3), (1, m, m, C), (1, m, m, K)
    return {
        "pose_initializer": GraphSpec("pose_initializer", (("image", img),),
                                      (("heatmaps", heat),)),
        "frame_encoder": GraphSpec("frame_encoder", (("image", img),), (("features", feat),)),
        "frame_encoder_head": GraphSpec("frame_encoder_head", (("image", img),),
                                        (("heatmaps", heat),)),
        "dynamic_conv": GraphSpec("dynamic_conv", (("features_prev", feat),
                                                   ("heatmaps_prev", heat),
                                                   ("features", feat)),
                                  (("heatmaps", heat),)),
    }


# ---- GPU-friendly equivalents (module docs) ------------------------------------------
# XNNPACK's f32 GEMM computes the product's columns in tiles (32 wide with AVX-512 on this
# x86 bench machine, 8-16 with NEON): the tiny preset's S*K = 5*13 = 65 columns cost as much
# as 96. Up to _SPLIT_MAX_COLUMNS columns past the last full tile are computed as a multiply
# and channel sum instead (measured, LiteRT 2.3, 2 threads, m = n = C = 32: 0.284 -> 0.255 ms).
_GEMM_TILE = 32
_SPLIT_MAX_COLUMNS = 2


def _edge_full_correlation(kernels, features, S: int, scale: float, gemm_tile: int = _GEMM_TILE):
    """The full correlation, row-factorised: columns over the S horizontal shifts only
    ([B, (m+S-1)*n, S*C]), one non-broadcasting BATCH_MATMUL against the kernels laid out
    [(v, c), (u, j)], then the S vertical shifts summed from the product's row blocks:
      h[y, x, j] = sum_u r[y + u, x, (u, j)]
      r[y', x, (u, j)] = sum_{v, c} f_pad[y', x + v, c] k[u, v, c, j]
    Measured (LiteRT 2.3, XNNPACK, 2 threads, m = n = C = 32, S = 5, K = 13): 0.29 ms vs 0.51
    ms for the S*S-shift im2col (5x fewer bytes of columns, 10 slices instead of 25).
    When S*K is at most _SPLIT_MAX_COLUMNS past a multiple of `gemm_tile`, those last columns
    of r are a MUL + SUM each and the matmul keeps whole tiles (same sums)."""
    m, n, C = features.shape[1], features.shape[2], features.shape[3]
    K, p = kernels.shape[-1], S // 2
    M, N = m + 2 * p, S * K
    fp = tf.pad(features, [[0, 0], [p, p], [p, p], [0, 0]])
    cols = tf.concat([tf.reshape(fp[:, :, v:v + n, :], (-1, M * n, C)) for v in range(S)],
                     axis=-1)                                        # [B, M*n, (v, c)]
    w = tf.transpose(tf.reshape(kernels, (-1, S, S * C, K)), (0, 2, 1, 3))  # [B, (v,c), u, j]
    w = tf.reshape(w, (-1, S * C, N)) * scale                        # [B, (v, c), (u, j)]
    rest = N % gemm_tile
    if N > gemm_tile and 0 < rest <= _SPLIT_MAX_COLUMNS:
        tail = [tf.reduce_sum(cols * tf.reshape(w[:, :, i:i + 1], (-1, 1, S * C)), -1,
                              keepdims=True) for i in range(N - rest, N)]  # [B, M*n, 1] each
        r = tf.concat([tf.matmul(cols, w[:, :, :N - rest])] + tail, axis=-1)
    else:
        r = tf.matmul(cols, w)
    r = tf.reshape(r, (-1, M, n, N))
    out = None
    for u in range(S):
        term = r[:, u:u + m, :, u * K:(u + 1) * K]
        out = term if out is None else out + term
    return out


def _edge_dynamic_conv(layer: DynamicConv):
    def call(kernels, features):
        S = layer.kernel_size
        m, n, C = features.shape[1], features.shape[2], features.shape[3]
        scale = correlation_scale(S, C)
        if layer.matching == "full":
            return _edge_full_correlation(kernels, features, S, scale)
        flat = [tf.reshape(sl, (-1, m * n, C)) for sl in layer._shifted(features)]
        k_dw, mix = kernels
        K = mix.shape[-1]
        acc = None
        for i, sl in enumerate(flat):
            u, v = divmod(i, S)
            term = sl * tf.reshape(k_dw[:, u:u + 1, v:v + 1, :], (-1, 1, C))
            acc = term if acc is None else acc + term
        return tf.reshape(tf.matmul(acc, mix * scale), (-1, m, n, K))
    return call


def _edge_upsampling(layer):
    def call(inputs):
        fy, fx = layer.size
        h, w = inputs.shape[1], inputs.shape[2]
        return tf.image.resize(inputs, (h * fy, w * fx), method="nearest")
    return call


def _edge_relu(inputs):
    return inputs - tf.minimum(inputs, tf.zeros_like(inputs))


def _plain_relu(layer) -> bool:
    return (layer.max_value is None and not float(layer.negative_slope)
            and not float(layer.threshold))


def _rewrites(model) -> Iterator[Tuple[keras.layers.Layer, object]]:
    """(layer, replacement call) for every layer of the model that needs one."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, DynamicConv):
            yield layer, _edge_dynamic_conv(layer)
        elif (isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest"
              and layer.data_format == "channels_last"):
            yield layer, _edge_upsampling(layer)
        elif isinstance(layer, keras.Sequential):
            seq = list(layer.layers)
            for i, sub in enumerate(seq):
                if not (isinstance(sub, keras.layers.ReLU) and _plain_relu(sub)):
                    continue
                j = i - 1
                while j >= 0 and isinstance(seq[j], keras.layers.BatchNormalization):
                    j -= 1
                if j >= 0 and isinstance(seq[j], keras.layers.Conv2DTranspose):
                    yield sub, _edge_relu


@contextlib.contextmanager
def edge_rewrites(model):
    """Within the block, the layers named in the module docs compute through their
    GPU-friendly equivalents (instance-level `call`, restored on exit)."""
    patched = []
    try:
        for layer, call in _rewrites(model):
            if "call" not in layer.__dict__:
                layer.__dict__["call"] = call
                patched.append(layer)
        yield [type(layer).__name__ for layer in patched]
    finally:
        for layer in patched:
            layer.__dict__.pop("call", None)


# ---- tracing -------------------------------------------------------------------------
def _per_frame_function(model, name, head=None):
    if name == "frame_encoder_head":
        return lambda image: head(model.encoder(image, training=False))
    if name == "pose_initializer":
        return lambda image: model.initializer(image, training=False)
    if name == "frame_encoder":
        return lambda image: model.encoder(image, training=False)
    return lambda features_prev, heatmaps_prev, features: model.match(
        features_prev, heatmaps_prev, features, training=False)


class EdgeGraph(tf.Module):
    """One frozen graph: `serving` takes the roles as named arguments and returns
    {output role: tensor}; save it as a SavedModel signature to convert it."""

    def __init__(self, spec: GraphSpec, frozen):
        super().__init__(name=spec.name)
        self.spec, self.frozen = spec, frozen
        sig = [tf.TensorSpec(shape, tf.float32, name=role) for role, shape in spec.inputs]
        out_role = spec.outputs[0][0]

        def serving(*args):
            return {out_role: self.frozen(*args)[0]}

        serving.__name__ = spec.name
        self.serving = tf.function(serving, input_signature=sig)

    def __call__(self, **inputs):
        return self.serving(*[inputs[role] for role, _ in self.spec.inputs])


def build_graphs(model, names=GRAPHS, head=None) -> Dict[str, EdgeGraph]:
    """{name: EdgeGraph} traced from a built DKD model (inference mode, rewrites applied);
    "frame_encoder_head" needs `head` (a PerFrameHead)."""
    specs = graph_specs(model.cfg)
    out = {}
    with edge_rewrites(model):
        for name in names:
            spec = specs[name]
            sig = [tf.TensorSpec(shape, tf.float32, name=role) for role, shape in spec.inputs]
            fn = _per_frame_function(model, name, head)
            concrete = tf.function(fn).get_concrete_function(*sig)
            out[name] = EdgeGraph(spec, convert_variables_to_constants_v2(concrete))
    return out
