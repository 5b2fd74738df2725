"""The LiteRT backend: an interpreter per .tflite file (ai_edge_litert, else tflite_runtime,
else tf.lite, the last resort of a machine with nothing else), behind the runtime's model
interface (dkd_tf.runtime.backends).

Imports NumPy and LiteRT only (never TensorFlow while a LiteRT flavour is installed).
"""
from __future__ import annotations

import gc
import os
import sys
from typing import Dict, Optional

import numpy as np

from ..errors import muted_stderr, UserError
from .manifest import first_line as _first_line


def interpreter_api():
    """-> (Interpreter class, load_delegate, source): ai_edge_litert, tflite_runtime, tf.lite."""
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate
        return Interpreter, load_delegate, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter, load_delegate
        return Interpreter, load_delegate, "tflite_runtime"
    except ImportError:
        pass
    try:
        if sys.modules.get("tensorflow", False) is None:  # blocked on purpose
            raise ImportError("tensorflow")
        from ..errors import import_tensorflow

        tf = import_tensorflow()
        return tf.lite.Interpreter, tf.lite.experimental.load_delegate, "tensorflow.lite"
    except (ImportError, AttributeError):
        pass
    raise UserError("no TFLite interpreter found: install ai-edge-litert "
                    "(pip install ai-edge-litert), or tflite-runtime, or tensorflow")


def make_interpreter(path: str, num_threads: Optional[int] = None, delegate=None):
    """A LiteRT interpreter for the .tflite file at path, tensors allocated.

    delegate: None = the runtime's default (XNNPACK on CPU); "none" = plain builtin kernels;
    a path to a delegate library (.so); or a delegate object from load_delegate.
    """
    Interpreter, load_delegate, _ = interpreter_api()
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such model file")
    kwargs = {"model_path": path, "num_threads": num_threads}
    if isinstance(delegate, str) and delegate.lower() in ("none", "builtin"):
        resolver = _op_resolver_type(Interpreter)
        if resolver is not None:
            kwargs["experimental_op_resolver_type"] = resolver
    elif isinstance(delegate, str) and delegate.lower() not in ("", "default", "xnnpack"):
        kwargs["experimental_delegates"] = [_load_delegate(load_delegate, delegate)]
    elif delegate is not None and not isinstance(delegate, str):
        kwargs["experimental_delegates"] = [delegate]
    try:
        with muted_stderr():  # LiteRT's C++ "INFO: Created ... XNNPACK delegate" line
            interp = Interpreter(**kwargs)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise UserError(f"{path}: not a usable TFLite model ({_first_line(e)})") from None
    return interp


def _load_delegate(load_delegate, path: str):
    """load_delegate(path) with one clear error; LiteRT's Delegate.__del__ raises on a
    half-built object after a failed load, which is silenced here."""
    if os.sep in path and not os.path.isfile(path):
        raise UserError(f"{path}: no such delegate library")
    hook, err = sys.unraisablehook, None
    sys.unraisablehook = lambda *_: None
    try:
        try:
            return load_delegate(path)
        except (ValueError, OSError, RuntimeError) as e:
            err = _first_line(e)
        gc.collect()
    finally:
        sys.unraisablehook = hook
    raise UserError(f"{path}: cannot load delegate ({err})")


def _op_resolver_type(Interpreter):
    import importlib

    mod = importlib.import_module(Interpreter.__module__)
    t = getattr(mod, "OpResolverType", None)
    return None if t is None else t.BUILTIN_WITHOUT_DEFAULT_DELEGATES


class LiteRTModel:
    """One .tflite file on a LiteRT interpreter (the runtime's model interface).

    inputs / outputs: the interpreter's tensor details (name, index, shape, dtype,
    quantization); set_inputs({name: array}), invoke(), get_outputs() -> {name: array}.
    """

    backend = "litert"

    def __init__(self, path: str, num_threads: Optional[int] = None, delegate=None):
        self.path = path
        self.interpreter = make_interpreter(path, num_threads, delegate)
        self.inputs = self.interpreter.get_input_details()
        self.outputs = self.interpreter.get_output_details()
        self._index = {d["name"]: d["index"] for d in self.inputs + self.outputs}
        self.device = "cpu" if delegate in (None, "", "default", "xnnpack") else \
            f"delegate {delegate}"

    def set_inputs(self, feeds: Dict[str, np.ndarray]) -> None:
        for name, x in feeds.items():
            self.interpreter.set_tensor(self._index[name], x)

    def invoke(self) -> None:
        self.interpreter.invoke()

    def get_outputs(self) -> Dict[str, np.ndarray]:
        return {d["name"]: self.interpreter.get_tensor(d["index"]) for d in self.outputs}
