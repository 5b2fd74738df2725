"""One exported graph on any backend, its tensors wired by the manifest's roles."""
from __future__ import annotations

import collections
import time
from typing import Dict, Optional

import numpy as np

from ..errors import UserError
from .backends import load_model
from .manifest import ROLES

TIMES_KEPT = 4096  # per-call times kept for medians (bounded: a stream runs for hours)


class Graph:
    """One exported graph: inputs and outputs wired by the manifest's role and name.

    run(**{role: float32 array}) -> {role: float32 array}; int8 / uint8 tensors are quantised
    and dequantised here with the model's own (scale, zero point). Keeps the wall time of
    each call: ms_total, calls, and the last TIMES_KEPT calls in `times` (ms).
    backend / delegate / providers / precision: see dkd_tf.runtime.backends.load_model.
    """

    def __init__(self, name: str, path: str, spec: dict, num_threads=None, delegate=None,
                 backend: str = "litert", providers=None, precision: Optional[str] = None):
        self.name, self.path = name, path
        self.model = load_model(backend, path, num_threads, delegate, providers, precision)
        want_in, want_out = ROLES[name]
        self.inputs = self._wire(spec.get("inputs", []), self.model.inputs, want_in, "input")
        self.outputs = self._wire(spec.get("outputs", []), self.model.outputs, want_out,
                                  "output")
        self.ms_total, self.calls = 0.0, 0
        self.times = collections.deque(maxlen=TIMES_KEPT)

    @property
    def interpreter(self):
        """The LiteRT interpreter (litert backend only)."""
        return self.model.interpreter

    def _wire(self, declared, details, roles, kind):
        by_name = {d["name"]: d for d in details}
        wired = {}
        for io in declared:
            if io.get("role") in roles:
                d = by_name.get(io.get("name"))
                if d is None:
                    raise UserError(f"{self.path}: has no {kind} named {io.get('name')!r} "
                                    f"(role {io['role']}); its {kind}s: {sorted(by_name)}")
                if "shape" in io and list(d["shape"]) != list(io["shape"]):
                    raise UserError(f"{self.path}: {kind} {d['name']!r} has shape "
                                    f"{list(d['shape'])}, manifest says {io['shape']}")
                wired[io["role"]] = d
        missing = [r for r in roles if r not in wired]
        if missing:
            raise UserError(f"{self.path}: manifest names no {kind} with role "
                            f"{', '.join(missing)}")
        return wired

    @staticmethod
    def _quantize(d, x):
        if d["dtype"] in (np.int8, np.uint8, np.int16):
            scale, zp = d["quantization"]
            info = np.iinfo(d["dtype"])
            q = np.round(np.asarray(x, np.float32) / scale + zp)
            return np.clip(q, info.min, info.max).astype(d["dtype"])
        return np.ascontiguousarray(x, dtype=d["dtype"])

    @staticmethod
    def _dequantize(d, x):
        if d["dtype"] in (np.int8, np.uint8, np.int16):
            scale, zp = d["quantization"]
            return (x.astype(np.float32) - zp) * np.float32(scale)
        return x.astype(np.float32, copy=False)  # both backends hand out fresh arrays

    def set_roles(self, **arrays) -> None:
        """Sets the inputs by role (converted to the model's dtypes)."""
        self.model.set_inputs({d["name"]: self._quantize(d, arrays[role])
                               for role, d in self.inputs.items()})

    def run(self, **arrays) -> Dict[str, np.ndarray]:
        t0 = time.perf_counter()
        self.set_roles(**arrays)
        self.model.invoke()
        got = self.model.get_outputs()
        out = {role: self._dequantize(d, got[d["name"]]) for role, d in self.outputs.items()}
        ms = (time.perf_counter() - t0) * 1e3
        self.ms_total += ms
        self.calls += 1
        self.times.append(ms)
        return out

    def median_ms(self) -> float:
        """Median ms per call over the kept calls, the first call (warm-up) excluded."""
        ts = list(self.times)
        if self.calls <= TIMES_KEPT:
            ts = ts[1:] or ts
        return float(np.median(ts)) if ts else float("nan")
