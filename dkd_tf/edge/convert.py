"""TFLite conversion of one edge graph at one precision, TFLite builtin ops only.

  fp32  plain float.
  fp16  float16 weights (Optimize.DEFAULT + supported_types float16); float32 activations
        and I/O (the weights pass through DEQUANTIZE, which GPU delegates fold away).
  int8  full-integer: int8 weights and activations calibrated on a representative dataset,
        float32 I/O (QUANTIZE / DEQUANTIZE at the edges). `int8_float_ops` (op names such as
        "BATCH_MATMUL") keeps those ops in float through LiteRT's selective quantisation
        (the QuantizationDebugger's denylist); they stay TFLite builtins.

No Flex (SELECT_TF_OPS) and no custom ops: `convert_graph` fails on a model that has any.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from typing import Callable, Dict, Iterable, Optional, Sequence

import numpy as np

from ..errors import import_tensorflow
from .graphs import EdgeGraph
from .litert import model_ops, non_builtin_ops
from .manifest import PRECISIONS

tf = import_tensorflow()

SIGNATURE_KEY = "serving_default"


class ConversionError(RuntimeError):
    """The converter failed or produced a model with non-builtin ops."""


@contextlib.contextmanager
def _captured_stderr():
    """The converter's C++ chatter goes to a temp file (shown only when conversion fails)."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as log:
        os.dup2(log.fileno(), 2)
        box = {"text": ""}
        try:
            yield box
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            box["text"] = log.read().decode(errors="replace")


def _converter(saved_model_dir: str, precision: str,
               representative: Optional[Callable[[], Iterable[Dict[str, np.ndarray]]]]):
    conv = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, [SIGNATURE_KEY])
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        if representative is None:
            raise ValueError("int8 needs a representative dataset")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.inference_input_type = tf.float32
        conv.inference_output_type = tf.float32
    elif precision != "fp32":
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    return conv


def convert_graph(graph: EdgeGraph, precision: str,
                  representative: Optional[Callable[[], Iterable[Dict[str, np.ndarray]]]] = None,
                  int8_float_ops: Sequence[str] = ()) -> bytes:
    """-> the .tflite flatbuffer of one EdgeGraph.

    representative: for int8, a callable returning an iterable of {input role: float32
    array of the input's shape} (the converter's representative_dataset).
    """
    with tempfile.TemporaryDirectory(prefix="dkd_edge_") as d, _captured_stderr() as log, \
            warnings.catch_warnings():
        # int8 calibration runs TF's own tf.lite.Interpreter, which warns that it is deprecated
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated",
                                category=UserWarning)
        try:
            tf.saved_model.save(graph, d, signatures={
                SIGNATURE_KEY: graph.serving.get_concrete_function()})
            conv = _converter(d, precision, representative)
            if precision == "int8":
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                if int8_float_ops:
                    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                                      tf.lite.OpsSet.TFLITE_BUILTINS]
                    data = _selective_int8(conv, representative, int8_float_ops)
                else:
                    data = conv.convert()
            else:
                data = conv.convert()
        except Exception as e:  # the converter raises many types; keep its own message
            err = e
        else:
            err = None
    if err is not None:
        tail = " | ".join(line.strip() for line in log["text"].splitlines()[-5:] if line.strip())
        raise ConversionError(f"{graph.spec.name} {precision}: conversion failed "
                              f"({type(err).__name__}: {str(err).strip()[:400]})"
                              + (f"; converter log: {tail[:400]}" if tail else ""))
    bad = non_builtin_ops(model_ops(data))
    if bad:
        raise ConversionError(f"{graph.spec.name} {precision}: non-builtin ops {bad}")
    return bytes(data)


def _selective_int8(conv, representative, float_ops: Sequence[str]) -> bytes:
    """Full-integer except `float_ops`, which LiteRT's selective quantisation keeps float."""
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(float_ops))
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=conv, debug_dataset=representative, debug_options=options)
    return debugger.get_nondebug_quantized_model()
