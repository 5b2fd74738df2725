"""LiteRT helpers of the export library that never import TensorFlow (unless no LiteRT
interpreter exists at all). Interpreters come from the runtime (dkd_tf.runtime.litert).

  load_interpreter(path, num_threads) -> an Interpreter with tensors allocated.
  model_ops(path_or_bytes) -> [(op name, version)] per operator, read from the flatbuffer
      with the schema module LiteRT ships (no interpreter, no TensorFlow).
  non_builtin_ops(ops) -> the custom / Flex ops among them (an exported graph must have none).
  signature_tensors(interpreter) -> {"inputs": {signature name: details}, "outputs": {...}}:
      how a client finds a tensor by its role (the signature names are the roles).
"""
from __future__ import annotations

import collections
import importlib
from typing import Dict, List, Optional, Tuple, Union

from ..errors import UserError
from ..runtime.litert import interpreter_api, make_interpreter

_SCHEMAS = ("ai_edge_litert.schema_py_generated", "tflite_runtime.schema_py_generated",
            "tensorflow.lite.python.schema_py_generated")


def interpreter_class():
    """The Interpreter class of the first LiteRT flavour that imports (the runtime's)."""
    return interpreter_api()[0]


def load_interpreter(path: str, num_threads: Optional[int] = None):
    """An interpreter for the .tflite file at path, tensors allocated (XNNPACK on CPU):
    the runtime's make_interpreter."""
    return make_interpreter(path, num_threads)


def signature_tensors(interpreter, key: Optional[str] = None) -> Dict[str, Dict[str, dict]]:
    """{"inputs": {name: details}, "outputs": {name: details}} of one signature (the only
    one when key is None); details as get_input_details() reports them (name, index, shape,
    dtype, quantization)."""
    sigs = interpreter.get_signature_list()
    if key is None:
        if len(sigs) != 1:
            raise UserError(f"expected one signature, the model has {sorted(sigs)}")
        key = next(iter(sigs))
    runner = interpreter.get_signature_runner(key)
    return {"inputs": runner.get_input_details(), "outputs": runner.get_output_details()}


def _schema():
    for name in _SCHEMAS:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise UserError("no TFLite flatbuffer schema module found: pip install ai-edge-litert")


def model_ops(model: Union[str, bytes, bytearray]) -> List[Tuple[str, int]]:
    """[(op name, version)] for every operator of every subgraph, in graph order.

    Builtins are named as in the schema (CONV_2D, BATCH_MATMUL, ...); a custom op is
    "CUSTOM:<custom code>" (TensorFlow ops run through Flex are "CUSTOM:Flex<Op>").
    """
    if isinstance(model, str):
        with open(model, "rb") as f:
            model = f.read()
    schema = _schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    m = schema.Model.GetRootAsModel(bytearray(model), 0)
    codes = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        # deprecated_builtin_code is an int8: the wide field holds codes >= 127
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        if code == schema.BuiltinOperator.CUSTOM:
            custom = oc.CustomCode()
            label = "CUSTOM:" + (custom.decode() if isinstance(custom, bytes) else str(custom))
        else:
            label = names.get(code, f"BUILTIN_{code}")
        codes.append((label, int(oc.Version())))
    out = []
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for o in range(sg.OperatorsLength()):
            out.append(codes[sg.Operators(o).OpcodeIndex()])
    return out


def op_counts(ops: List[Tuple[str, int]]) -> Dict[str, int]:
    """{op name: count}, most frequent first."""
    return dict(collections.Counter(name for name, _ in ops).most_common())


def non_builtin_ops(ops: List[Tuple[str, int]]) -> List[str]:
    """The ops that are not TFLite builtins (custom ops, Flex/SELECT_TF_OPS)."""
    return sorted({name for name, _ in ops if name.startswith("CUSTOM") or
                   name.startswith("BUILTIN_") or "Flex" in name})
