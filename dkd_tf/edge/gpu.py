"""GPU-delegate verdicts for exported models (no TensorFlow here).

  gpu_check_verdicts(paths)   runs ../shared/tools/gpu_check (both methods: the TFLite
                              2.17 GPU-delegate rules and LiteRT's WebGPU accelerator on
                              SwiftShader, GPU vs CPU outputs compared) and returns one
                              {"ok": bool | None, "method": str, ...} per model. The tool is
                              found through $DKD_GPU_CHECK (gpu_check.py or its folder), else
                              next to this checkout; it is never installed from here. Missing
                              tool or setup: {"ok": None, "method": "not verified: ..."}.
  litert_gpu_verdict(path, inputs)
                              the same kind of check with whatever GPU adapter LiteRT finds in
                              this environment (export/verify.py --gpu): compile for GPU|CPU,
                              require full acceleration, compare GPU and CPU outputs on the
                              given inputs; "not verified" when LiteRT finds no adapter.
The TF Analyzer's gpu_compatibility flag is not used: it passes every model since TF 2.19.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOOL_PATHS = (
    os.path.normpath(os.path.join(_HERE, "..", "..", "..", "shared", "tools", "gpu_check",
                                  "gpu_check.py")),
    "/work/shared/tools/gpu_check/gpu_check.py",
)
NOT_INSTALLED = "not verified: gpu_check not installed"
RTOL, ATOL = 0.01, 1e-6   # the tool's own numeric tolerance: rtol * max|cpu| + atol


def gpu_check_tool() -> Optional[Tuple[str, str]]:
    """(python, gpu_check.py) when the tool and its set-up venv exist, else None."""
    env = os.environ.get("DKD_GPU_CHECK")
    if env:
        candidates = [os.path.join(env, "gpu_check.py") if os.path.isdir(env) else env]
    else:
        candidates = list(DEFAULT_TOOL_PATHS)
    script = next((p for p in candidates if os.path.isfile(p)), None)
    if script is None:
        return None
    home = os.environ.get("GPU_CHECK_HOME") or os.path.join(tempfile.gettempdir(), "gpu_check")
    py = os.environ.get("GPU_CHECK_PYTHON") or os.path.join(home, "venv", "bin", "python")
    return (py, script) if os.path.isfile(py) else None


def _verdict(rec: dict) -> dict:
    unsupported = list(rec.get("unsupported", []))
    setup = [u for u in unsupported if "setup.sh" in u or "no WebGPU adapter" in u]
    if setup:
        return {"ok": None, "method": "not verified: gpu_check set-up incomplete",
                "unsupported": unsupported}
    out = {"ok": bool(rec.get("gpu_ok")), "method": "gpu_check " + rec.get("method", "")}
    if unsupported:
        out["unsupported"] = unsupported
    waived = rec.get("static", {}).get("waived")
    if waived:
        out["waived"] = sorted({w.get("waived", "") for w in waived})
    return out


def gpu_check_verdicts(paths: Sequence[str], timeout: float = 1800.0) -> Dict[str, dict]:
    """{path: verdict} for the models at paths (one run of the tool for all of them)."""
    tool = gpu_check_tool()
    if tool is None:
        return {p: {"ok": None, "method": NOT_INSTALLED} for p in paths}
    py, script = tool
    paths = [os.path.abspath(p) for p in paths]
    try:
        proc = subprocess.run([py, script, *paths, "--method", "both"], capture_output=True,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {p: {"ok": None, "method": f"not verified: gpu_check did not run ({e})"}
                for p in paths}
    found = {}
    for line in proc.stdout.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "model" in rec:
            found[os.path.abspath(rec["model"])] = _verdict(rec)
    tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
    return {p: found.get(p, {"ok": None, "method": f"not verified: gpu_check gave no "
                                                     f"result ({tail[:200]})"}) for p in paths}


# ---- LiteRT's own GPU accelerator, in this environment -----------------------------------
_WORKER = r"""
import json, sys
import numpy as np
from ai_edge_litert.compiled_model import CompiledModel, HardwareAccelerator

def run(model, inputs):
    sig = list(model.get_signature_list())[0]
    bufs = {}
    for name, arr in inputs.items():
        b = model.create_input_buffer_by_name(sig, name)
        b.write(arr)
        bufs[name] = b
    outs = {n: model.create_output_buffer_by_name(sig, n)
            for n in model.get_signature_list()[sig]["outputs"]}
    model.run_by_name(sig, bufs, outs)
    det = model.get_output_tensor_details(sig)
    res = {}
    for n, b in outs.items():
        shape = [int(s) for s in det[n]["shape"]]
        dt = np.dtype(str(det[n]["dtype"]))
        res[n] = np.array(b.read(int(np.prod(shape)), dt)).reshape(shape)
    return res

path, npz = sys.argv[1], sys.argv[2]
inputs = {k: np.ascontiguousarray(v) for k, v in np.load(npz).items()}
out = {}
try:
    gm = CompiledModel.from_file(
        path, hardware_accel=HardwareAccelerator.GPU | HardwareAccelerator.CPU)
    out["fully_accelerated"] = bool(gm.is_fully_accelerated())
    got = run(gm, inputs)
    ref = run(CompiledModel.from_file(path, hardware_accel=HardwareAccelerator.CPU), inputs)
    out["outputs"] = {n: [float(np.max(np.abs(got[n].astype(np.float64) - r))),
                          float(np.max(np.abs(r)))] for n, r in ref.items()}
except Exception as e:
    out["error"] = " | ".join(l.strip() for l in str(e).splitlines() if l.strip())[:400]
print("DKD_GPU_RESULT " + json.dumps(out), flush=True)
"""


def litert_gpu_verdict(path: str, inputs: Dict[str, np.ndarray], timeout: float = 900.0,
                       rtol: float = RTOL, atol: float = ATOL) -> dict:
    """LiteRT GPU|CPU compile of one model on the given {signature name: array} inputs."""
    with tempfile.TemporaryDirectory(prefix="dkd_gpu_") as d:
        npz = os.path.join(d, "inputs.npz")
        np.savez(npz, **{k: np.asarray(v) for k, v in inputs.items()})
        env = dict(os.environ)
        env.setdefault("XDG_RUNTIME_DIR", d)
        try:
            proc = subprocess.run([sys.executable, "-c", _WORKER, os.path.abspath(path), npz],
                                  capture_output=True, text=True, timeout=timeout, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            return {"ok": None, "method": f"not verified: LiteRT GPU check did not run ({e})"}
    res = None
    for line in proc.stdout.splitlines():
        if line.startswith("DKD_GPU_RESULT "):
            res = json.loads(line[len("DKD_GPU_RESULT "):])
    err = proc.stderr
    adapter = None
    for line in err.splitlines():
        if "Selected adapter:" in line:
            adapter = line.split("Selected adapter:", 1)[1].split(",")[0].strip()
    if res is None:
        tail = " | ".join(err.strip().splitlines()[-2:])[:200]
        return {"ok": None, "method": f"not verified: the LiteRT GPU check crashed ({tail})"}
    if adapter is None or "No adapters found" in err:
        return {"ok": None, "method": "not verified: LiteRT found no GPU adapter"}
    method = f"litert:gpu({adapter})"
    problems = _unsupported(err)
    if "error" in res:
        problems.append(res["error"])
    elif not res.get("fully_accelerated"):
        problems.append("not fully accelerated")
    for name, (diff, scale) in res.get("outputs", {}).items():
        if not diff <= rtol * scale + atol:
            problems.append(f"output {name}: GPU vs CPU max abs diff {diff:.4g} "
                            f"(max |cpu| {scale:.4g})")
    out = {"ok": not problems, "method": method}
    if problems:
        out["unsupported"] = problems
    return out


def _unsupported(err: str) -> List[str]:
    lines, out = err.splitlines(), []
    for i, line in enumerate(lines):
        if "Following operations are not supported by GPU delegate" in line:
            for k in lines[i + 1:]:
                if "operations will run on the GPU" in k or not k.strip():
                    break
                out.append(k.strip())
    return out
