"""What a .tflite file holds, read from its flatbuffer without an interpreter: operators,
tensor shapes, constant buffers, parameters and FLOPs per operator, and the dynamic
correlation's shape as the exporter wrote it.

FLOPs (method): 2 per multiply-add for CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
FULLY_CONNECTED and BATCH_MATMUL (plus 1 per output for a fused bias); 1 per output element
for ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, RSQRT, SQRT, EXP, LOG, LOGISTIC,
TANH, HARD_SWISH; 1 per input element for MEAN and SUM; window size per output for
MAX_POOL_2D and AVERAGE_POOL_2D; data movement, activations and (de)quantisation count 0.
Params: elements of the unique constant weight buffers (float, int8, and quantised int32
biases; shape and index constants excluded).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..errors import UserError

_MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL")
_ELEMENTWISE = ("ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM",
                "RSQRT", "SQRT", "EXP", "LOG", "LOGISTIC", "TANH", "HARD_SWISH")
_REDUCE = ("MEAN", "SUM")
_POOL = ("MAX_POOL_2D", "AVERAGE_POOL_2D")
FLOPS_METHOD = ("counted from the .tflite flatbuffer: 2 per multiply-add of CONV_2D, "
                "DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED, BATCH_MATMUL (+1 per "
                "output for a fused bias); 1 per element for element-wise arithmetic, "
                "reductions and pooling windows; data movement, activations, (de)quantize 0")


# ---- flatbuffer analysis -------------------------------------------------------------
def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        try:
            from tflite_runtime import schema_py_generated as schema
        except ImportError:
            from tensorflow.lite.python import schema_py_generated as schema
    return schema


def read_tflite(path: str) -> dict:
    """-> {"params": int, "ops": [{"op", "inputs": [shape], "outputs": [shape], "bias",
    "adj_x", "window"}]} for subgraph 0 of a .tflite file (shape [] for an absent input)."""
    schema = _schema()
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    try:
        model = schema.Model.GetRootAsModel(buf, 0)
        sg = model.Subgraphs(0)
    except Exception as e:  # flatbuffers raises assorted errors on garbage
        raise UserError(f"{path}: not a TFLite flatbuffer ({e})") from None
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    T = schema.TensorType
    weight_types = {T.FLOAT32, T.FLOAT16, T.INT8, T.UINT8, T.INT16}

    def shape(i):
        return [int(v) for v in sg.Tensors(i).ShapeAsNumpy()] if i >= 0 else []

    def const(i):
        b = sg.Tensors(i).Buffer()
        if b <= 0 or b >= model.BuffersLength():
            return False
        buffer = model.Buffers(b)
        return buffer.DataLength() > 0 or buffer.Size() > 0

    params, seen = 0, set()
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        if not const(i) or t.Buffer() in seen:
            continue
        q = t.Quantization()
        quantized_int32 = t.Type() == T.INT32 and q is not None and q.ScaleLength() > 0
        if t.Type() in weight_types or quantized_int32:
            seen.add(t.Buffer())
            params += int(np.prod(shape(i))) if shape(i) else 1
    ops = []
    for j in range(sg.OperatorsLength()):
        op = sg.Operators(j)
        oc = model.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode())), "CUSTOM")
        ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
        rec = {"op": name, "inputs": [shape(i) for i in ins], "outputs": [shape(i) for i in outs]}
        bias_at = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2,
                   "TRANSPOSE_CONV": 3}.get(name)
        rec["bias"] = bias_at is not None and len(ins) > bias_at and ins[bias_at] >= 0
        table = op.BuiltinOptions()
        if name == "BATCH_MATMUL" and table is not None:
            opt = schema.BatchMatMulOptions()
            opt.Init(table.Bytes, table.Pos)
            rec["adj_x"] = bool(opt.AdjX())
        if name in _POOL and table is not None:
            opt = schema.Pool2DOptions()
            opt.Init(table.Bytes, table.Pos)
            rec["window"] = int(opt.FilterHeight()) * int(opt.FilterWidth())
        ops.append(rec)
    return {"params": int(params), "ops": ops}


def op_flops(rec: dict) -> int:
    """FLOPs of one operator record of read_tflite (FLOPS_METHOD)."""
    name, ins = rec["op"], rec["inputs"]
    out_n = int(np.prod(rec["outputs"][0])) if rec["outputs"] else 0
    bias = out_n if rec.get("bias") else 0
    if name == "CONV_2D":
        w = ins[1]
        return 2 * out_n * w[1] * w[2] * w[3] + bias
    if name == "DEPTHWISE_CONV_2D":
        w = ins[1]
        return 2 * out_n * w[1] * w[2] + bias
    if name == "TRANSPOSE_CONV":
        w, x = ins[1], ins[2]
        return 2 * int(np.prod(x)) * w[0] * w[1] * w[2] + bias
    if name == "FULLY_CONNECTED":
        return 2 * out_n * ins[1][-1] + bias
    if name == "BATCH_MATMUL":
        x = ins[0]
        return 2 * out_n * (x[-2] if rec.get("adj_x") else x[-1])
    if name in _ELEMENTWISE:
        return out_n
    if name in _REDUCE:
        return int(np.prod(ins[0]))
    if name in _POOL:
        return out_n * rec.get("window", 1)
    return 0


def analyze_tflite(path: str) -> dict:
    """-> {"params", "flops", "flops_by_op": {op: flops}, "ops": {op: count}} of subgraph 0."""
    info = read_tflite(path)
    flops_by_op: Dict[str, int] = {}
    ops: Dict[str, int] = {}
    for rec in info["ops"]:
        ops[rec["op"]] = ops.get(rec["op"], 0) + 1
        f = op_flops(rec)
        if f:
            flops_by_op[rec["op"]] = flops_by_op.get(rec["op"], 0) + f
    return {"params": info["params"], "flops": int(sum(flops_by_op.values())),
            "flops_by_op": flops_by_op, "ops": dict(sorted(ops.items(), key=lambda kv: -kv[1]))}


def correlation_shape(dynamic_conv_path: str) -> Optional[tuple]:
    """(S, matching, m, n, C, K) of the dynamic correlation, read from dynamic_conv.tflite:
    full = a BATCH_MATMUL [1, (m+S-1)*n, S*C] x [1, S*C, S*K] (the row-factorised export;
    its last one or two columns may be MUL + SUM ops of [1, (m+S-1)*n, 1] instead) or,
    in assets exported before it, [1, m*n, S*S*C] (or [1, m, n, S*S*C]) x [1, S*S*C, K];
    depthwise = S*S element-wise MULs of [1, m*n, C] (or [1, m, n, C]) shifted slices, then
    [1, m*n, C] x [1, C, K]. None when the graph shows neither."""
    ops = read_tflite(dynamic_conv_path)["ops"]
    feats = [o["outputs"][0] for o in ops if o["op"] == "PAD" and len(o["outputs"][0]) == 4]
    for o in ops:
        if o["op"] != "BATCH_MATMUL" or len(o["inputs"][0]) < 3:
            continue
        P, X = int(np.prod(o["inputs"][0][1:-1])), o["inputs"][0][-1]
        K = o["outputs"][0][-1]
        split = sum(1 for q in ops if q["op"] == "SUM" and q["outputs"][0] == [1, P, 1])
        for shp in feats:
            for p in range(1, 8):  # the pad is S // 2 on each side
                m, n, C = shp[1] - 2 * p, shp[2] - 2 * p, shp[3]
                S = 2 * p + 1
                if P == shp[1] * n and X == S * C and (K + split) % S == 0:
                    return S, "full", m, n, C, (K + split) // S
                if m * n != P:
                    continue
                if X == C:
                    muls = sum(1 for q in ops if q["op"] == "MUL" and q["outputs"][0] in
                               ([1, P, C], [1, m, n, C]))
                    S = 2 * p + 1
                    if muls >= S * S:
                        return S, "depthwise", m, n, C, K
                elif X == (2 * p + 1) ** 2 * C:
                    return 2 * p + 1, "full", m, n, C, K
    return None
