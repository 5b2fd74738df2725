"""The runtime's backends behind one small interface.

    model = load_model(backend, path, num_threads, ...)   backend: "litert" | "onnxruntime"
    model.inputs, model.outputs     [{"name", "shape", "dtype", "quantization": (scale, zp)}]
    model.set_inputs({name: array}); model.invoke(); model.get_outputs() -> {name: array}
    model.backend, model.device     e.g. "litert", "cpu" / "onnxruntime", "CUDAExecutionProvider"

Everything above the model (tensor roles, quantisation, the host loop, geometry, decoding)
is shared: dkd_tf.runtime.graph.Graph wires a model's tensors by the manifest's roles and
dkd_tf.runtime.tracker.PoseTracker runs the loop. A backend module is imported only when it
is asked for, so a phone needs LiteRT alone and a Jetson onnxruntime alone.
"""
from __future__ import annotations

from typing import Optional, Sequence

from .manifest import check_backend


def load_model(backend: str, path: str, num_threads: Optional[int] = None, delegate=None,
               providers: Optional[Sequence[str]] = None, precision: Optional[str] = None):
    """A model of the backend for the file at path (UserError naming it when unusable).

    delegate: LiteRT only (see litert.make_interpreter). providers: onnxruntime only (None:
    TensorRT > CUDA > CPU, whichever are available). precision: lets onnxruntime's TensorRT
    provider build fp16 engines for the fp16 graphs.
    """
    if check_backend(backend) == "litert":
        from .litert import LiteRTModel

        return LiteRTModel(path, num_threads, delegate)
    from .onnxrt import OnnxModel

    return OnnxModel(path, num_threads, providers, precision)


def backend_version(backend: str) -> str:
    """"<package> <version>" of the backend's Python package, or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {"litert": ("ai-edge-litert", "tflite-runtime", "tensorflow"),
                "onnxruntime": ("onnxruntime", "onnxruntime-gpu")}[check_backend(backend)]
    for p in packages:
        try:
            return f"{p} {version(p)}"
        except PackageNotFoundError:
            continue
    return "unknown"
