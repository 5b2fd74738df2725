"""The onnxruntime backend: an InferenceSession per .onnx file (export/to_onnx.py), behind the
runtime's model interface (dkd_tf.runtime.backends).

Execution providers: TensorRT, then CUDA, then CPU, whichever this onnxruntime build has
(onnxruntime-gpu on Jetson / servers; the plain wheel has CPU only). onnxruntime itself
falls back down that list when a provider's libraries fail to load; `device` is what the
session really uses. TensorRT engines are cached under ~/.cache/dkd_tf/tensorrt (building
them takes minutes on a Jetson). Imports NumPy and onnxruntime only.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import ONNXRUNTIME_MISSING, UserError
from .manifest import first_line

PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
           "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int32)": np.int32,
           "tensor(int64)": np.int64}


def onnxruntime_module():
    """import onnxruntime, or one clear UserError."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError(ONNXRUNTIME_MISSING) from None
    return onnxruntime


def pick_providers(available: Sequence[str], wanted: Optional[Sequence[str]] = None
                   ) -> List[str]:
    """The execution providers to ask for, best first: `wanted` (names, or short names
    "tensorrt", "cuda", "cpu"), else TensorRT > CUDA > CPU among those available."""
    short = {"tensorrt": PREFERENCE[0], "cuda": PREFERENCE[1], "cpu": PREFERENCE[2]}
    if wanted:
        names = [short.get(w.lower(), w) for w in wanted]
        missing = [n for n in names if n not in available]
        if missing:
            raise UserError(f"onnxruntime execution provider(s) {', '.join(missing)} not "
                            f"available here (this build has {', '.join(available)})")
        return names
    return [p for p in PREFERENCE if p in available] or list(available)


def _provider_options(name: str, precision: Optional[str]) -> dict:
    if name == "TensorrtExecutionProvider":
        cache = os.path.join(os.path.expanduser("~"), ".cache", "dkd_tf", "tensorrt")
        return {"trt_engine_cache_enable": True, "trt_engine_cache_path": cache,
                "trt_fp16_enable": precision == "fp16"}
    return {}


class OnnxModel:
    """One .onnx file in an onnxruntime InferenceSession (the runtime's model interface).

    inputs / outputs: [{"name", "shape", "dtype", "quantization": (0.0, 0)}];
    set_inputs({name: array}), invoke(), get_outputs() -> {name: array}. num_threads sets
    the CPU provider's intra-op threads (None: onnxruntime's default, all cores).
    """

    backend = "onnxruntime"

    def __init__(self, path: str, num_threads: Optional[int] = None,
                 providers: Optional[Sequence[str]] = None, precision: Optional[str] = None):
        ort = onnxruntime_module()
        self.path = path
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such model file")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # warnings about the graph are not the user's to act on
        opts.inter_op_num_threads = 1
        # no busy-waiting between calls: the host loop needs the cores in between (measured
        # on this 2-core CPU under load: pose_initializer median 8.2 ms vs 14.0 with spinning)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if num_threads:
            opts.intra_op_num_threads = int(num_threads)
        names = pick_providers(ort.get_available_providers(), providers)
        try:
            self.session = ort.InferenceSession(
                path, opts, providers=[(n, _provider_options(n, precision)) for n in names])
        except Exception as e:  # onnxruntime's pybind errors share no base class but this
            raise UserError(f"{path}: not a usable ONNX model ({first_line(e)})") from None
        self.providers = list(self.session.get_providers())
        self.device = self.providers[0]
        self.inputs = [self._info(a) for a in self.session.get_inputs()]
        self.outputs = [self._info(a) for a in self.session.get_outputs()]
        self._names = [d["name"] for d in self.outputs]
        self._feeds: Dict[str, np.ndarray] = {}
        self._out: List[np.ndarray] = []

    @staticmethod
    def _info(arg) -> dict:
        return {"name": arg.name, "shape": np.array(arg.shape), "quantization": (0.0, 0),
                "dtype": _DTYPES.get(arg.type, np.float32)}

    def set_inputs(self, feeds: Dict[str, np.ndarray]) -> None:
        self._feeds = dict(feeds)

    def invoke(self) -> None:
        self._out = self.session.run(self._names, self._feeds)

    def get_outputs(self) -> Dict[str, np.ndarray]:
        return dict(zip(self._names, self._out))
