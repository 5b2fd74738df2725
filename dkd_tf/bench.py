"""Benchmark of the exported graphs on this machine, with LiteRT and a stated thread count.

    python -m dkd_tf.bench [--assets DIR | --preset NAME] [--json OUT] [--frames N]
                           [--threads N]

For each graph and precision: parameters and FLOPs counted from the .tflite flatbuffer,
median and p90 ms of invoke(); the tracked frame (frame_encoder + dynamic_conv) against the
initializer frame (pose_initializer) as ratios of FLOPs and ms; the dynamic correlation's
GFLOP/s against the same op with constant weights; peak RSS of a runtime-only process.
With --preset (and no assets) it first exports an untrained model of that preset to a
temporary folder: timing does not depend on the weights. With assets of a trained model
(manifest "checkpoint" set) it also scores re-initialisation policies and One-Euro
smoothing on held-out synthetic videos (PCK@0.2 against ms per frame, one PNG).

FLOPs (method): read from the flatbuffer, 2 per multiply-add for CONV_2D, DEPTHWISE_CONV_2D,
TRANSPOSE_CONV, FULLY_CONNECTED and BATCH_MATMUL (plus 1 per output for a fused bias); 1 per
output element for ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, RSQRT, SQRT,
EXP, LOG, LOGISTIC, TANH, HARD_SWISH; 1 per input element for MEAN and SUM; window size per
output for MAX_POOL_2D and AVERAGE_POOL_2D; data movement, activations and (de)quantisation
count 0. Params: elements of the unique constant weight buffers (float, int8, and quantised
int32 biases; shape and index constants excluded).

Timing (method): one interpreter per graph with `threads` threads and the default delegate
(XNNPACK), random inputs set once, `warmup` invokes, then `frames` rounds; each round
invokes every graph of a precision once, in turn, so all graphs see the same machine load;
tracked-frame ms = per-round frame_encoder + dynamic_conv, median over rounds.
May import TensorFlow (export and the correlation micro-benchmark); the runtime it times
does not.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import UserError, quiet_libraries, run_cli

GRAPHS = ("pose_initializer", "frame_encoder", "dynamic_conv")

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


# ---- timing --------------------------------------------------------------------------
def _fill_inputs(interp, rng) -> None:
    for d in interp.get_input_details():
        shape, dt = tuple(d["shape"]), d["dtype"]
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            x = rng.integers(max(info.min, -100), min(info.max, 100), shape).astype(dt)
        else:
            x = rng.standard_normal(shape).astype(dt)
            if "heatmap" in d["name"]:
                x = np.abs(x) * 0.3
        interp.set_tensor(d["index"], x)


def time_rounds(interps: Dict[str, object], rounds: int, warmup: int) -> Dict[str, np.ndarray]:
    """Invokes each interpreter once per round, in turn -> {name: ms per round [rounds]}."""
    rng = np.random.default_rng(0)
    for it in interps.values():
        _fill_inputs(it, rng)
    for _ in range(warmup):
        for it in interps.values():
            it.invoke()
    out = {k: np.empty(rounds) for k in interps}
    clock = time.perf_counter
    for r in range(rounds):
        for k, it in interps.items():
            t0 = clock()
            it.invoke()
            out[k][r] = (clock() - t0) * 1e3
    return out


def _stats(ms: np.ndarray) -> dict:
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "mean_ms": float(np.mean(ms))}


def bench_precision(manifest: dict, precision: str, threads: int, rounds: int,
                    warmup: int) -> dict:
    """Analysis and timing of one precision's three graphs."""
    from .runtime import graph_files, make_interpreter

    files = graph_files(manifest, precision)
    interps = {g: make_interpreter(files[g], threads) for g in GRAPHS}
    ms = time_rounds(interps, rounds, warmup)
    parts = {}
    for g in GRAPHS:
        a = analyze_tflite(files[g])
        parts[g] = {"file": os.path.basename(files[g]), "bytes": os.path.getsize(files[g]),
                    **a, **_stats(ms[g])}
    tracked = ms["frame_encoder"] + ms["dynamic_conv"]
    init = ms["pose_initializer"]
    tf_ = parts["frame_encoder"]["flops"] + parts["dynamic_conv"]["flops"]
    if_ = parts["pose_initializer"]["flops"]
    both = ms["pose_initializer"] + ms["frame_encoder"]
    return {
        "parts": parts,
        "tracked_frame": {"flops": tf_, "ms": float(np.median(tracked)),
                          "p90_ms": float(np.percentile(tracked, 90))},
        "initializer_frame": {"flops": if_, "ms": float(np.median(init)),
                              "p90_ms": float(np.percentile(init, 90))},
        # the first frame of a video runs both P and F (the state needs f_1)
        "first_frame": {"flops": if_ + parts["frame_encoder"]["flops"],
                        "ms": float(np.median(both))},
        "ratios": {"flops": if_ / max(tf_, 1), "ms": float(np.median(init) / np.median(tracked))},
    }


# ---- the dynamic correlation against constant weights ---------------------------------
def correlation_benchmark(kernel_size: int, matching: str, m: int, n: int, C: int, K: int,
                          threads: int, rounds: int, warmup: int) -> dict:
    """GFLOP/s of DynamicConv with runtime kernels vs tf.nn convs with constant kernels of
    the same shapes, each converted alone to TFLite and timed with the same threads and
    delegate. Both get the nominal FLOPs of the correlation (DynamicConv.flops)."""
    from .errors import import_tensorflow

    tf = import_tensorflow()
    from .models.dynamic_conv import DynamicConv
    from .runtime import make_interpreter

    S = kernel_size
    layer = DynamicConv(S, matching)
    rng = np.random.default_rng(0)
    feat = tf.TensorSpec((1, m, n, C), tf.float32, name="features")
    try:  # trace the exporter's formulation of the layer (what dynamic_conv.tflite runs)
        import keras

        from .edge.graphs import edge_rewrites

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

    from .runtime import muted_stderr

    with muted_stderr():
        models = {"dynamic": convert(dyn, [*kspec, feat]), "constant": convert(ref, [feat])}
    tmp = tempfile.mkdtemp(prefix="dkd-corr-")
    interps = {}
    for k, data in models.items():
        p = os.path.join(tmp, f"{k}.tflite")
        with open(p, "wb") as f:
            f.write(data)
        interps[k] = make_interpreter(p, threads)
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


# ---- memory --------------------------------------------------------------------------
_RSS_PROBE = r"""
import json, resource, sys, time
import numpy as np
from dkd_tf.runtime import PoseTracker
assets, precision, threads, frames = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tr = PoseTracker(assets, precision, num_threads=threads, reinit_every=30)
H, W = tr.input_hw
rng = np.random.default_rng(0)
frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
for i in range(frames):
    tr.process(frame)
from dkd_tf.bench import peak_rss_mb
print(json.dumps({"peak_rss_mb": peak_rss_mb(), "tensorflow_loaded": "tensorflow" in sys.modules}))
"""


def _proc_status_mb(field: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mb() -> float:
    """Peak RSS of this process (VmHWM; ru_maxrss would include a parent's RSS at fork on
    Linux, which a child started from a TensorFlow process inherits)."""
    v = _proc_status_mb("VmHWM")
    return v if v is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size of this process now (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def runtime_peak_rss(assets: str, precision: str, threads: int, frames: int = 100) -> dict:
    """Peak RSS of a fresh process that imports only the runtime and tracks `frames` frames."""
    r = subprocess.run([sys.executable, "-c", _RSS_PROBE, assets, precision, str(threads),
                        str(frames)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"runtime RSS probe failed: {r.stderr.strip()[-500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


_STREAM_PROBE = r"""
import json, os, sys
from dkd_tf.bench import current_rss_mb
from dkd_tf.infer import track_stream
from dkd_tf.runtime import OneEuroParams, PoseTracker
from dkd_tf.video_io import CsvStreamWriter, JsonStreamWriter, Mp4Writer, VideoSource
assets, video, out, marks = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
src = VideoSource(video)
tr = PoseTracker(assets, "fp32", roi="track", reinit_every=30, smooth=OneEuroParams(),
                 fps=src.fps)
ws = [Mp4Writer(os.path.join(out, "o.mp4"), src.fps, src.size),
      JsonStreamWriter(os.path.join(out, "o.json"), {"video": video}),
      CsvStreamWriter(os.path.join(out, "o.csv"), tr.joints)]
rss = {}
def probe(i, pose):
    if i + 1 in marks:
        rss[i + 1] = current_rss_mb()
st = track_stream(src, tr, *ws, progress=False, draw_roi=True, on_frame=probe)
for w in ws:
    w.close()
print(json.dumps({"rss_mb": rss, "frames": st["frames"], "seconds": st["seconds"]}))
"""


def write_synthetic_video(path: str, frames: int, size: int, clip: int = 100,
                          seed: int = 0) -> None:
    """An mp4v video of `frames` frames: one held-out synthetic clip played back and forth."""
    import cv2

    from .data.synthetic import HELD_OUT_OFFSET, SyntheticVideos

    v = SyntheticVideos(size, clip, seed).video(HELD_OUT_OFFSET)["frames"][..., ::-1]
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (size, size))
    order = np.concatenate([np.arange(clip), np.arange(clip - 2, 0, -1)])
    for i in range(frames):
        w.write(np.ascontiguousarray(v[order[i % len(order)]]))
    w.release()


def stream_rss(assets: str, frames: int, size: int, marks: Sequence[int]) -> dict:
    """RSS of a runtime-only process streaming a generated video through the video CLI's
    loop (ROI tracking, re-init every 30, One-Euro, MP4 + JSON + CSV written) at `marks`."""
    tmp = tempfile.mkdtemp(prefix="dkd-rss-")
    try:
        video = os.path.join(tmp, "long.mp4")
        write_synthetic_video(video, frames, size)
        r = subprocess.run([sys.executable, "-c", _STREAM_PROBE, assets, video, tmp,
                            json.dumps(list(marks))], capture_output=True, text=True,
                           timeout=3600)
        if r.returncode != 0:
            raise RuntimeError(f"stream RSS probe failed: {r.stderr.strip()[-500:]}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["rss_mb"] = {int(k): v for k, v in res["rss_mb"].items()}
        return res
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


# ---- accuracy against speed (trained assets only) ------------------------------------
def default_policies(score: float) -> List[tuple]:
    """(label, PoseTracker keyword arguments) of the re-initialisation policies scored."""
    return [("never", {"reinit_every": 0}),
            ("every 30", {"reinit_every": 30}),
            ("every 10", {"reinit_every": 10}),
            (f"score < {score:g}", {"reinit_score": score}),
            ("every 30, roi track", {"reinit_every": 30, "roi": "track"}),
            ("initializer every frame", {"reinit_every": 1}),
            ("every frame, roi track", {"reinit_every": 1, "roi": "track"})]


def held_out_videos(size: int, videos: int, frames: int, seed: int = 0) -> List[dict]:
    from .data.synthetic import HELD_OUT_OFFSET, SyntheticVideos

    gen = SyntheticVideos(size, frames, seed)
    return [gen.video(HELD_OUT_OFFSET + i) for i in range(videos)]


def jitter(keypoints, visible, bbox) -> dict:
    """Mean ||p[t+1] - 2 p[t] + p[t-1]|| of joints visible in all three frames: in pixels
    and divided by the box's larger side. keypoints [N, T, K, 2], visible [N, T, K]."""
    kp = np.asarray(keypoints, np.float64)
    acc = np.linalg.norm(kp[:, 2:] - 2 * kp[:, 1:-1] + kp[:, :-2], axis=-1)
    v = visible[:, 2:] & visible[:, 1:-1] & visible[:, :-2] & np.isfinite(acc)
    size = np.maximum(bbox[:, 1:-1, 2] - bbox[:, 1:-1, 0], bbox[:, 1:-1, 3] - bbox[:, 1:-1, 1])
    rel = acc / np.maximum(size, 1.0)[..., None]
    if not v.any():
        return {"px": float("nan"), "relative": float("nan")}
    return {"px": float(acc[v].mean()), "relative": float(rel[v].mean())}


def run_tracker(tracker, videos: List[dict]) -> dict:
    """Tracks each video (RGB frames) -> keypoints, raw keypoints [N, T, K, 2], ms per frame,
    share of initializer frames.

    ms_per_frame = share x median ms of initializer frames + (1 - share) x median ms of
    tracked frames (each tracker.process() call timed: preprocessing, graphs, decoding), so
    that bursts of load on a shared machine do not swamp the comparison; ms_per_frame_mean
    is the plain wall-clock mean."""
    kps, raws, times, flags = [], [], [], []
    clock = time.perf_counter
    for v in videos:
        tracker.reset()
        k, r = [], []
        for fr in v["frames"]:
            t0 = clock()
            p = tracker.process(fr, rgb=True)
            times.append(1e3 * (clock() - t0))
            flags.append(bool(p.initializer))
            k.append(p.keypoints)
            r.append(p.raw_keypoints)
        kps.append(k)
        raws.append(r)
    times, flags = np.asarray(times), np.asarray(flags)
    share = float(flags.mean()) if len(flags) else 0.0
    med = {b: float(np.median(times[flags == b])) if (flags == b).any() else 0.0
           for b in (True, False)}
    return {"keypoints": np.asarray(kps), "raw_keypoints": np.asarray(raws),
            "ms_per_frame": share * med[True] + (1 - share) * med[False],
            "ms_per_frame_mean": float(times.mean()) if len(times) else 0.0,
            "ms_initializer_frame": med[True], "ms_tracked_frame": med[False],
            "initializer_share": share}


def _pck(kp, videos) -> float:
    from .metrics import pck

    gt = np.stack([v["joints"] for v in videos])
    vis = np.stack([v["visible"] for v in videos])
    box = np.stack([v["bbox"] for v in videos])
    flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731
    return pck(flat(kp), flat(gt), flat(box), flat(vis))["mean"]


def evaluate_policies(assets: str, precisions: Sequence[str], policies, videos: List[dict],
                      threads: int, progress: bool = True) -> List[dict]:
    """PCK@0.2 and mean ms per frame (tracker.process wall time: preprocessing, graphs,
    decoding) of each precision and policy on the given videos."""
    from .progress import progress_bar
    from .runtime import PoseTracker

    rows = []
    todo = [(p, lab, kw) for p in precisions for lab, kw in policies]
    for prec, label, kw in progress_bar(todo, desc="policies", unit="run", disable=not progress):
        tr = PoseTracker(assets, prec, num_threads=threads, **kw)
        res = run_tracker(tr, videos)
        vis = np.stack([v["visible"] for v in videos])
        box = np.stack([v["bbox"] for v in videos])
        rows.append({"precision": prec, "policy": label, "settings": kw,
                     "pck": _pck(res["keypoints"], videos),
                     **{k: res[k] for k in ("ms_per_frame", "ms_per_frame_mean",
                                            "ms_initializer_frame", "ms_tracked_frame",
                                            "initializer_share")},
                     "jitter": jitter(res["keypoints"], vis, box)})
    return rows


def evaluate_smoothing(assets: str, videos: List[dict], threads: int, settings,
                       policy: Optional[dict] = None) -> List[dict]:
    """Jitter and PCK of the raw and the One-Euro-smoothed keypoints (fp32) for each
    OneEuroParams in settings; the first row is the ground truth's own acceleration."""
    from .runtime import PoseTracker

    gt = np.stack([v["joints"] for v in videos])
    vis = np.stack([v["visible"] for v in videos])
    box = np.stack([v["bbox"] for v in videos])
    rows = [{"smoothing": "ground truth", "pck": 1.0, "jitter": jitter(gt, vis, box)}]
    raw_done = False
    for p in settings:
        tr = PoseTracker(assets, "fp32", num_threads=threads, smooth=p, **(policy or {}))
        res = run_tracker(tr, videos)
        if not raw_done:
            rows.append({"smoothing": "none", "pck": _pck(res["raw_keypoints"], videos),
                         "jitter": jitter(res["raw_keypoints"], vis, box)})
            raw_done = True
        rows.append({"smoothing": f"one-euro min_cutoff={p.min_cutoff:g} beta={p.beta:g} "
                                  f"d_cutoff={p.d_cutoff:g}",
                     "params": {"min_cutoff": p.min_cutoff, "beta": p.beta,
                                "d_cutoff": p.d_cutoff},
                     "pck": _pck(res["keypoints"], videos),
                     "jitter": jitter(res["keypoints"], vis, box)})
    return rows


def plot_pck_vs_ms(rows: List[dict], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    markers = "osD^vP*X"
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    precs = list(dict.fromkeys(r["precision"] for r in rows))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r in rows:
        ax.scatter(r["ms_per_frame"], r["pck"], marker=markers[policies.index(r["policy"]) % 8],
                   color=colours[precs.index(r["precision"]) % len(colours)], s=40)
    for i, p in enumerate(policies):
        ax.scatter([], [], marker=markers[i % 8], color="grey", label=p)
    for i, p in enumerate(precs):
        ax.scatter([], [], marker="s", color=colours[i % len(colours)], label=p)
    ax.set_xlabel("ms per frame (LiteRT, this CPU)")
    ax.set_ylabel("PCK@0.2")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


# ---- report --------------------------------------------------------------------------
def format_report(res: dict) -> str:
    lines = [f"LiteRT {res['litert']} on {res['machine']}, {res['threads']} thread(s), "
             f"input {res['input'][0]}x{res['input'][1]}; {res['weights']}",
             f"{'graph':<18}{'prec':<6}{'params':>10}{'MFLOPs':>10}{'median ms':>11}"
             f"{'p90 ms':>9}{'GFLOP/s':>9}"]
    for prec, r in res["precisions"].items():
        for g, p in r["parts"].items():
            lines.append(f"{g:<18}{prec:<6}{p['params']:>10,}{p['flops'] / 1e6:>10.1f}"
                         f"{p['median_ms']:>11.3f}{p['p90_ms']:>9.3f}"
                         f"{p['flops'] / p['median_ms'] / 1e6:>9.1f}")
    lines.append("")
    for prec, r in res["precisions"].items():
        t, i, q = r["tracked_frame"], r["initializer_frame"], r["ratios"]
        lines.append(f"{prec}: tracked frame (F + D) {t['flops'] / 1e6:.1f} MFLOPs "
                     f"{t['ms']:.3f} ms; initializer frame (P) {i['flops'] / 1e6:.1f} MFLOPs "
                     f"{i['ms']:.3f} ms; P / tracked: FLOPs {q['flops']:.1f}x, "
                     f"ms {q['ms']:.1f}x")
    d = res.get("dynamic_conv")
    if d:
        lines.append(f"dynamic correlation ({d['matching']}, S={d['kernel_size']}, "
                     f"{d['flops'] / 1e6:.2f} MFLOPs): {d['gflops_per_s']:.1f} GFLOP/s "
                     f"({d['ms']:.3f} ms) vs constant weights {d['reference_gflops_per_s']:.1f} "
                     f"GFLOP/s ({d['reference_ms']:.3f} ms): {100 * d['fraction']:.0f}%")
    rss = res.get("peak_rss_mb", {})
    if rss:
        lines.append("peak RSS: " + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items()
                                               if isinstance(v, (int, float))))
    if res.get("stream_rss"):
        s = res["stream_rss"]
        lines.append("RSS while streaming: " + ", ".join(
            f"after frame {k:,} {v:.1f} MB" for k, v in sorted(s["rss_mb"].items())))
    pk = res.get("pck", {})
    if "skipped" in pk:
        lines.append(f"PCK part skipped: {pk['skipped']}")
    elif pk:
        lines.append("")
        lines.append(f"{'precision':<10}{'policy':<26}{'PCK@0.2':>8}{'ms/frame':>10}"
                     f"{'(mean)':>8}{'init %':>8}{'jitter':>8}")
        for r in pk["policies"]:
            lines.append(f"{r['precision']:<10}{r['policy']:<26}{r['pck']:>8.3f}"
                         f"{r['ms_per_frame']:>10.2f}{r.get('ms_per_frame_mean', 0):>8.2f}"
                         f"{100 * r['initializer_share']:>8.1f}"
                         f"{r['jitter']['relative']:>8.4f}")
        if pk.get("smoothing"):
            lines.append("")
            lines.append(f"{'policy':<25}{'smoothing':<46}{'PCK@0.2':>8}{'jitter px':>10}"
                         f"{'rel':>8}")
            for r in pk["smoothing"]:
                lines.append(f"{r.get('policy', ''):<25}{r['smoothing']:<46}{r['pck']:>8.3f}"
                             f"{r['jitter']['px']:>10.3f}{r['jitter']['relative']:>8.4f}")
    return "\n".join(lines)


def _litert_version() -> str:
    try:
        from importlib.metadata import version

        return "ai-edge-litert " + version("ai-edge-litert")
    except Exception:
        return "unknown"


def export_untrained(preset: str, out_dir: str, precisions: Sequence[str],
                     progress: bool = True) -> dict:
    """Exports an untrained model of a preset (timing does not depend on the weights)."""
    import dataclasses

    from .config import get_preset
    from .errors import import_tensorflow

    import_tensorflow()
    from .edge.exporter import export_model
    from .models.dkd import DKD

    cfg = get_preset(preset)
    model = DKD(dataclasses.asdict(cfg.model)).build_all(1)
    return export_model(model, cfg, out_dir, precisions=tuple(precisions), checkpoint="",
                        calibration_frames=8, golden=False, gpu_check=False, progress=progress,
                        reference_videos=0)


def _correlation_shape(manifest: dict, precision: str) -> tuple:
    """(S, matching, m, n, C, K): the manifest's model_config, else read from the
    dynamic_conv graph, else the preset's."""
    from .runtime import graph_files

    mc = manifest.get("model_config")
    if mc:
        m = int(manifest["heatmap"]["height"]), int(manifest["heatmap"]["width"])
        return (int(mc["kernel_size"]), mc["matching"], *m, int(mc["feature_channels"]),
                int(mc["num_joints"]))
    found = correlation_shape(graph_files(manifest, precision)["dynamic_conv"])
    if found is not None:
        return found
    from .config import get_preset

    mc = get_preset(manifest.get("preset", "tiny")).model
    m = mc.heatmap_size
    return mc.kernel_size, mc.matching, m, m, mc.feature_channels, mc.num_joints


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dkd_tf.bench",
                                 description="Benchmark the exported graphs with LiteRT.")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--assets", default=None,
                     help="folder with manifest.json (default android_demo_assets/)")
    src.add_argument("--preset", default=None,
                     help="export an untrained model of this preset (tiny, mobile, r50) first")
    ap.add_argument("--json", default="bench.json", help="results (JSON); the PNG goes beside")
    ap.add_argument("--frames", type=int, default=100, help="timed rounds per graph")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="LiteRT CPU threads")
    ap.add_argument("--precisions", default=None,
                    help="comma list (default: all in the manifest; fp32,fp16,int8 with --preset)")
    ap.add_argument("--pck-videos", type=int, default=10,
                    help="held-out synthetic videos for the PCK part (0 = skip)")
    ap.add_argument("--pck-frames", type=int, default=40)
    ap.add_argument("--reinit-score", type=float, default=None,
                    help="threshold of the score-based policy (default: the 10th percentile "
                         "of the tracked frames' mean joint score on the first two videos)")
    ap.add_argument("--memory-frames", type=int, default=0,
                    help="also stream a generated video of N frames and report RSS (0 = skip)")
    ap.add_argument("--no-correlation", action="store_true",
                    help="skip the correlation micro-benchmark (it needs TensorFlow)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    for flag in ("frames", "threads"):
        if getattr(a, flag) < 1:
            raise UserError(f"--{flag} must be >= 1")
    if a.warmup < 0 or a.pck_videos < 0 or a.memory_frames < 0 or a.pck_frames < 3:
        raise UserError("--warmup, --pck-videos and --memory-frames must be >= 0, "
                        "--pck-frames >= 3")
    json_path = os.path.abspath(a.json)
    if not os.path.isdir(os.path.dirname(json_path)):
        raise UserError(f"{json_path}: folder does not exist")
    assets = a.assets
    if assets is None and a.preset is None:
        assets = "android_demo_assets"
        if not os.path.isdir(assets):
            raise UserError("android_demo_assets/: not found; give --assets DIR or --preset NAME")
    if a.preset is not None:
        from .config import PRESETS

        if a.preset not in PRESETS:
            raise UserError(f"unknown preset {a.preset!r}; choose from {', '.join(PRESETS)}")
    quiet_libraries()
    tmp = None
    precisions = a.precisions.split(",") if a.precisions else None
    try:
        if a.preset is not None:
            precisions = precisions or ["fp32", "fp16", "int8"]
            tmp = tempfile.mkdtemp(prefix=f"dkd-bench-{a.preset}-")
            print(f"exporting an untrained {a.preset} model to {tmp} (timing does not depend "
                  f"on the weights) ...", file=sys.stderr)
            export_untrained(a.preset, tmp, precisions, progress=not a.no_progress)
            assets = tmp
        return run_bench(a, assets, precisions, tmp is not None, json_path)
    finally:
        if tmp is not None:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def run_bench(a, assets: str, precisions, exported: bool, json_path: str) -> int:
    """Everything after the assets exist (main's arguments in a)."""
    from .runtime import load_manifest

    manifest = load_manifest(assets)
    precisions = precisions or list(manifest["models"])
    trained = bool(manifest.get("checkpoint")) and a.preset is None
    weights = ("trained weights: " + str(manifest.get("checkpoint")) if trained else
               "untrained weights (timing does not depend on them)")
    res = {"assets": None if exported else os.path.abspath(assets),
           "preset": a.preset or manifest.get("preset"), "weights": weights,
           "input": [int(manifest["input"]["height"]), int(manifest["input"]["width"])],
           "threads": a.threads, "machine": f"{platform.machine()} {platform.processor() or ''}"
           f" {os.cpu_count()} cores".replace("  ", " "), "litert": _litert_version(),
           "rounds": a.frames, "warmup": a.warmup, "flops_method": FLOPS_METHOD,
           "timing_method": "median / p90 of invoke() over rounds, graphs interleaved",
           "precisions": {}}
    for p in precisions:
        res["precisions"][p] = bench_precision(manifest, p, a.threads, a.frames, a.warmup)
    ref = res["precisions"]["fp32" if "fp32" in res["precisions"] else precisions[0]]
    res["parts"] = {p: r["parts"] for p, r in res["precisions"].items()}
    for k in ("tracked_frame", "initializer_frame", "first_frame", "ratios"):
        res[k] = ref[k]
    if not a.no_correlation:
        S, matching, m, n, C, K = _correlation_shape(manifest, precisions[0])
        res["dynamic_conv"] = correlation_benchmark(S, matching, m, n, C, K, a.threads,
                                                    a.frames, a.warmup)
    res["peak_rss_mb"] = {
        "runtime_process": runtime_peak_rss(assets, precisions[0], a.threads)["peak_rss_mb"],
        "this_process": peak_rss_mb()}
    if a.memory_frames:
        marks = sorted({min(1000, a.memory_frames), a.memory_frames})
        res["stream_rss"] = stream_rss(assets, a.memory_frames, res["input"][0], marks)
    if not trained:
        res["pck"] = {"skipped": "untrained weights" + (f" (--preset {a.preset})" if a.preset
                                                        else " (manifest has no checkpoint)")}
    elif a.pck_videos == 0:
        res["pck"] = {"skipped": "--pck-videos 0"}
    else:
        res["pck"] = accuracy_part(assets, manifest, precisions, a, json_path)
    from .io_utils import atomic_write_json

    atomic_write_json(json_path, res)
    print(format_report(res))
    print(f"wrote {json_path}" + (f" and {res['pck']['png']}" if "png" in res["pck"] else ""))
    return 0


def accuracy_part(assets, manifest, precisions, a, json_path) -> dict:
    """Policies x precisions and One-Euro settings on held-out synthetic videos."""
    from .runtime import OneEuroParams, PoseTracker

    size = int(manifest["input"]["height"])
    videos = held_out_videos(size, a.pck_videos, a.pck_frames)
    score = a.reinit_score
    if score is None:  # the 10th percentile of tracked frames' mean score (2 videos)
        tr = PoseTracker(assets, "fp32", num_threads=a.threads)
        sc = []
        for v in videos[:2]:
            tr.reset()
            sc += [tr.process(f, rgb=True).scores.mean() for f in v["frames"]][1:]
        score = round(float(np.percentile(sc, 10)), 3)
    rows = evaluate_policies(assets, precisions, default_policies(score), videos, a.threads,
                             progress=not a.no_progress)
    settings = [OneEuroParams(), OneEuroParams(4.0, 2.0, 1.0), OneEuroParams(0.5, 1.0, 1.0)]
    smooth = []
    for label, policy in (("every 30", {"reinit_every": 30}),
                          ("initializer every frame", {"reinit_every": 1})):
        for r in evaluate_smoothing(assets, videos, a.threads, settings, policy=policy):
            smooth.append({"policy": label, **r})
    png = os.path.splitext(json_path)[0] + "_pck.png"
    plot_pck_vs_ms(rows, png, f"PCK@0.2 vs ms/frame, {a.pck_videos} held-out synthetic videos "
                              f"x {a.pck_frames} frames, {a.threads} threads")
    return {"videos": a.pck_videos, "frames": a.pck_frames, "reinit_score": score,
            "policies": rows, "smoothing": smooth, "png": png}


if __name__ == "__main__":
    sys.exit(run_cli(main))
