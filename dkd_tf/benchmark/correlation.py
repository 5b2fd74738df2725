"""The dynamic correlation (the exporter's formulation, runtime kernels) against the same
op with constant weights, each converted alone to TFLite and timed alike (needs TensorFlow)."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from .tflite_analysis import analyze_tflite
from .timing import time_rounds


def correlation_benchmark(kernel_size: int, matching: str, m: int, n: int, C: int, K: int,
                          threads: int, rounds: int, warmup: int) -> dict:
    """GFLOP/s of DynamicConv with runtime kernels vs tf.nn convs with constant kernels of
    the same shapes, each converted alone to TFLite and timed with the same threads and
    delegate. Both get the nominal FLOPs of the correlation (DynamicConv.flops)."""
    from ..errors import import_tensorflow

    tf = import_tensorflow()
    from ..models.dynamic_conv import DynamicConv
    from ..runtime.litert import LiteRTModel

    S = kernel_size
    layer = DynamicConv(S, matching)
    rng = np.random.default_rng(0)
    feat = tf.TensorSpec((1, m, n, C), tf.float32, name="features")
    try:  # trace the exporter's formulation of the layer (what dynamic_conv.tflite runs)
        import keras

        from ..edge.graphs import edge_rewrites

        class _Holder(keras.Model):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

        holder = _Holder(layer)
        rewrites = lambda: edge_rewrites(holder)  # noqa: E731
    except ImportError:
        rewrites = None
    if matching == "full":
        kspec = [tf.TensorSpec((1, S, S, C, K), tf.float32, name="kernels")]
        w = tf.constant(rng.standard_normal((S, S, C, K)).astype(np.float32))

        def dyn(kernels, features):
            return layer(kernels, features)

        def ref(features):
            return tf.nn.conv2d(features, w, 1, "SAME")
    else:
        kspec = [tf.TensorSpec((1, S, S, C), tf.float32, name="k_dw"),
                 tf.TensorSpec((1, C, K), tf.float32, name="mix")]
        wd = tf.constant(rng.standard_normal((S, S, C, 1)).astype(np.float32))
        wp = tf.constant(rng.standard_normal((1, 1, C, K)).astype(np.float32))

        def dyn(k_dw, mix, features):
            return layer((k_dw, mix), features)

        def ref(features):
            return tf.nn.conv2d(tf.nn.depthwise_conv2d(features, wd, [1, 1, 1, 1], "SAME"),
                                wp, 1, "SAME")

    def convert(fn, specs):
        import contextlib

        ctx = rewrites() if rewrites is not None else contextlib.nullcontext()
        with ctx:
            conc = tf.function(fn).get_concrete_function(*specs)
        conv = tf.lite.TFLiteConverter.from_concrete_functions([conc])
        return conv.convert()

    from ..runtime import muted_stderr

    with muted_stderr():
        models = {"dynamic": convert(dyn, [*kspec, feat]), "constant": convert(ref, [feat])}
    tmp = tempfile.mkdtemp(prefix="dkd-corr-")
    interps = {}
    for k, data in models.items():
        p = os.path.join(tmp, f"{k}.tflite")
        with open(p, "wb") as f:
            f.write(data)
        interps[k] = LiteRTModel(p, threads)
    ms = time_rounds(interps, rounds, warmup)
    flops = layer.flops(m, n, C, K)
    dyn_ms, ref_ms = float(np.median(ms["dynamic"])), float(np.median(ms["constant"]))
    analysis = {k: analyze_tflite(os.path.join(tmp, f"{k}.tflite"))["ops"] for k in models}
    for k in models:
        os.unlink(os.path.join(tmp, f"{k}.tflite"))
    os.rmdir(tmp)
    return {"kernel_size": S, "matching": matching, "shape": {"m": m, "n": n, "C": C, "K": K},
            "flops": int(flops), "ms": dyn_ms, "reference_ms": ref_ms,
            "gflops_per_s": flops / dyn_ms / 1e6, "reference_gflops_per_s": flops / ref_ms / 1e6,
            "fraction": ref_ms / dyn_ms, "ops": analysis,
            "method": "DynamicConv alone (runtime kernels) vs tf.nn conv/depthwise+1x1 with "
                      "constant kernels of the same shapes, each a one-op TFLite model, same "
                      "threads and delegate; GFLOP/s = the correlation's nominal 2 x MACs / "
                      "median ms"}
