"""FLOPs of a TF function, counted from its graph by TensorFlow's profiler.

Method: trace the function with fixed input shapes, freeze variables to constants, and sum
the profiler's `float_ops` over the graph (2 x multiply-adds for Conv2D, Conv2DBackpropInput,
MatMul / BatchMatMul, DepthwiseConv2dNative; 1 per element for element-wise ops). This is the
"FLOPs" of papers (2 per MAC), counted for one batch-1 frame.
"""
from __future__ import annotations

from typing import Callable, Sequence


def count_flops(fn: Callable, input_shapes: Sequence[Sequence[int]]) -> int:
    """fn(*tensors) with float32 inputs of the given shapes -> total float ops (int)."""
    from .errors import import_tensorflow

    tf = import_tensorflow()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    specs = [tf.TensorSpec(s, tf.float32) for s in input_shapes]
    concrete = tf.function(fn).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete)
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, options=opts)
    return int(info.total_float_ops)


def dkd_flops(model) -> dict:
    """FLOPs per frame: {"initializer": P, "encoder": F, "match": Phi + correlation (+ prior),
    "tracked": F + Phi + correlation, "initializer_frame": P + F (both run on frame 1)}."""
    c = model.cfg
    s, m, C, K = c.input_size, c.heatmap_size, c.feature_channels, c.num_joints
    p = count_flops(lambda x: model.initializer(x, training=False), [(1, s, s, 3)])
    f = count_flops(lambda x: model.encoder(x, training=False), [(1, s, s, 3)])
    mt = count_flops(lambda a, b, d: model.match(a, b, d, training=False),
                     [(1, m, m, C), (1, m, m, K), (1, m, m, C)])
    return {"initializer": p, "encoder": f, "match": mt, "tracked": f + mt,
            "initializer_frame": p + f}
