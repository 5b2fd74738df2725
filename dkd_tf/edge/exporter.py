"""export_model: a DKD model -> the split TFLite graphs, manifest.json, README.md, golden/.

Per precision (fp32, fp16, int8) three graphs (dkd_tf.edge.graphs), and optionally a fourth,
frame_encoder_head (F with its per-frame head; manifest entry with "role"), converted with builtin
ops only (dkd_tf.edge.convert), each described in the manifest by file, sha256, ops, GPU
verdict and its role-named tensors as the LiteRT interpreter reports them. The fp32 loop's
keypoints on a golden clip go to golden/expected.json; the Keras model's PCK on the
held-out videos goes to the manifest ("reference") for export/verify.py.

Everything is written into a hidden staging folder inside out_dir first. Only when every
file exists does the commit run: the old manifest is removed, the new files are renamed
into place, and manifest.json is written last, so a failed export never leaves a manifest
that points at missing or stale files (and a failure before the commit leaves the folder
exactly as it was).
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import sys
import tempfile
import time
from typing import Dict, Iterable, Optional, Sequence

import numpy as np

from ..errors import UserError, import_tensorflow
from ..io_utils import atomic_write_bytes, atomic_write_json, ensure_writable_dir
from ..joints import joint_set_for
from ..region_policy import REGION_POLICY, REGION_RULE
from . import manifest as mf
from . import calibration as cal
from .convert import PRECISIONS, convert_graph
from .manifest import parse_precisions  # noqa: F401  (part of this module's API)
from .golden import EXPECTED, golden_clip, write_golden
from .gpu import gpu_check_verdicts
from .graphs import GRAPHS, build_graphs, graph_specs
from .host_loop import HostLoop
from .litert import load_interpreter, model_ops, op_counts, signature_tensors
from .readme import render_readme
from .verify import keras_pck, protocol, protocol_videos

tf = import_tensorflow()

# int8 dynamic_conv keeps a few ops in float (LiteRT selective quantisation; they stay
# builtins), measured on the tiny preset (10 held-out videos x 40 frames, LiteRT 2.3, 2 threads):
#   BATCH_MATMUL  the correlation of two runtime tensors: as int8 it runs on LiteRT's
#                 reference kernel (XNNPACK takes the float one): 6.6 ms vs 1.4-2.9 ms for the
#                 whole graph, and PCK 0.391 vs 0.395 (Keras 0.400);
#   REDUCE_MAX, ADD, DIV  the per-joint peak normalisation of h_t (normalize_heatmaps): a
#                 joint whose map is all <= 0 has max + 1e-3 = 1e-3, which quantises to the
#                 zero point, and the int8 DIV kernel then fails ("data[i] != zero_point").
# Everything else (P, F, Phi's convolutions, the prior) is int8.
CORRELATION_OPS = ("BATCH_MATMUL",)
NORMALIZATION_OPS = ("REDUCE_MAX", "ADD", "DIV")
INT8_GPU_NOTE = ("GPU delegates run int8 models dequantized, in float; where the outputs differ "
                 "from the int8 CPU kernels by more than the check's 1% tolerance the check "
                 "fails: use the fp16 models on GPUs, int8 on CPUs and NPUs")


def default_int8_float_ops(model_cfg) -> tuple:
    """The ops of dynamic_conv that the int8 export keeps in float for this model."""
    norm = NORMALIZATION_OPS if getattr(model_cfg, "normalize_heatmaps", False) else ()
    return CORRELATION_OPS + norm


def _describe(path: str, fname: str, data: bytes, spec) -> dict:
    """The manifest entry of one converted graph (tensors as the interpreter reports them)."""
    it = load_interpreter(path, 1)
    sig = signature_tensors(it)
    roles_in = [r for r, _ in spec.inputs]
    roles_out = [r for r, _ in spec.outputs]
    ins = mf.tensor_entries(sig["inputs"], roles_in)
    outs = mf.tensor_entries(sig["outputs"], roles_out)
    for tensors, shapes in ((ins, spec.inputs), (outs, spec.outputs)):
        for t, (role, shape) in zip(tensors, shapes):
            if t["shape"] != list(shape) or t["dtype"] != "float32":
                raise RuntimeError(f"{fname}: tensor {role} is {t['dtype']} {t['shape']}, "
                                   f"expected float32 {list(shape)}")
    ops = model_ops(data)
    return {"file": fname, "sha256": mf.sha256_file(path), "bytes": len(data),
            "signature": "serving_default", "ops": op_counts(ops), "op_count": len(ops),
            "op_versions": {n: v for n, v in sorted(set(ops))},
            "gpu": {"ok": None, "method": "not verified"}, "inputs": ins, "outputs": outs}


def _keras_unroll(model, inputs: np.ndarray) -> np.ndarray:
    """DKD.call on one clip [T, 1, H, W, 3] -> heatmaps [T, m, n, K]."""
    clip = tf.convert_to_tensor(np.asarray(inputs, np.float32).reshape(1, -1,
                                                                       *inputs.shape[-3:]))
    return model(clip, training=False).numpy()[0]


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of (frame, joint) maps whose argmax cell is the same in a and b [T, m, n, K]."""
    fa = np.moveaxis(a, -1, 1).reshape(a.shape[0] * a.shape[-1], -1).argmax(1)
    fb = np.moveaxis(b, -1, 1).reshape(b.shape[0] * b.shape[-1], -1).argmax(1)
    return float(np.mean(fa == fb))


def export_model(model, cfg, out_dir: str, precisions: Sequence[str] = PRECISIONS,
                 checkpoint: str = "", calibration_frames: int = 100, golden: bool = True,
                 gpu_check: bool = True, progress: bool = True, *,
                 int8_float_ops: Optional[Iterable[str]] = None, reference_videos: int = 10,
                 reference_frames: Optional[int] = None, decode_method: str = "dark",
                 checkpoint_step: Optional[int] = None, head="auto") -> dict:
    """Exports a built DKD model (its config `cfg`) into out_dir; returns the manifest.

    precisions: any of fp32, fp16, int8. checkpoint: recorded in the manifest.
    calibration_frames: int8 representative samples per graph (synthetic frames; real
    (features, heatmaps, features) triples from the float model for dynamic_conv).
    golden: write golden/ (fp32 loop on a synthetic clip). gpu_check: run
    ../shared/tools/gpu_check on every model when installed (else "not verified").
    int8_float_ops: op names of dynamic_conv kept float in int8 (None: the model's default,
    see default_int8_float_ops; () forces full integer).
    reference_videos: held-out videos on which the Keras PCK is measured for verify.py
    (0: none). progress: one line per step on stderr.
    head: F's per-frame head for the optional frame_encoder_head graph: a PerFrameHead
    (dkd_tf.models.per_frame_head.resolve_head), None (no such graph), or "auto": the static
    kernel k_0 + prior bias of a static_kernel model (whatever its values: an untrained or
    stage-1 model's k_0 is zero; the export CLI resolves the checkpoint's head instead).
    """
    precisions = parse_precisions(precisions)
    if int(calibration_frames) < 1:
        raise UserError(f"calibration_frames must be positive (got {calibration_frames})")
    spec_decode = mf.decode_spec(decode_method)
    if int8_float_ops is None:
        int8_float_ops = default_int8_float_ops(cfg.model)
    out = ensure_writable_dir(out_dir)
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        if progress:
            print(f"[export {time.perf_counter() - t_start:6.1f}s] {msg}", file=sys.stderr,
                  flush=True)

    try:
        stage = tempfile.mkdtemp(prefix=".export-partial-", dir=out)
    except OSError as e:
        raise UserError(f"{out}: cannot write here ({e.strerror})") from None
    try:
        if isinstance(head, str) and head == "auto":
            from ..models.per_frame_head import static_kernel_head

            head = static_kernel_head(model) if model.cfg.static_kernel else None
        names = GRAPHS + (("frame_encoder_head",) if head is not None else ())
        log(f"tracing {', '.join(names)} ({cfg.preset}, input {cfg.model.input_size})")
        graphs = build_graphs(model, names, head)
        specs = graph_specs(model.cfg)
        calib = {}
        if "int8" in precisions:
            n = int(calibration_frames)
            log(f"int8 calibration data: {n} synthetic frames and {n} tracker triples")
            calib["image"] = {"image": cal.calibration_frames(cfg, n)}
            calib["triples"] = cal.calibration_triples(model, cfg, n)
        models: Dict[str, Dict[str, dict]] = {}
        steps = [(p, g) for p in precisions for g in names]
        for k, (prec, g) in enumerate(steps, 1):
            t0 = time.perf_counter()
            rep = None
            if prec == "int8":
                rep = cal.representative(calib["triples"] if g == "dynamic_conv"
                                         else calib["image"])
            float_ops = tuple(int8_float_ops) if (prec == "int8" and g == "dynamic_conv") else ()
            data = convert_graph(graphs[g], prec, rep, float_ops)
            fname = mf.model_file(g, prec)
            path = os.path.join(stage, fname)
            with open(path, "wb") as f:
                f.write(data)
            entry = _describe(path, fname, data, specs[g])
            if float_ops:
                entry["int8_float_ops"] = list(float_ops)
            if g == "frame_encoder_head":
                entry["role"] = mf.HEAD_ROLE
                entry["head"] = {"source": head.source, "kernel_size": head.kernel_size}
            models.setdefault(prec, {})[g] = entry
            log(f"[{k}/{len(steps)}] {fname}: {len(data) / 1e6:.2f} MB, {entry['op_count']} "
                f"ops ({time.perf_counter() - t0:.1f} s)")
        if gpu_check:
            log("GPU-delegate check (../shared/tools/gpu_check) on every model")
            paths = {os.path.abspath(os.path.join(stage, e["file"])): e
                     for p in models.values() for e in p.values()}
            for path, verdict in gpu_check_verdicts(list(paths)).items():
                if verdict["ok"] is False and path.endswith("_int8.tflite"):
                    verdict["note"] = INT8_GPU_NOTE
                paths[path]["gpu"] = verdict
        else:
            for p in models.values():
                for e in p.values():
                    e["gpu"] = {"ok": None, "method": "not verified: GPU check skipped"}
        js = joint_set_for(cfg.model.num_joints)
        man = {
            "format": mf.FORMAT, "preset": cfg.preset, "checkpoint": str(checkpoint),
            "input": mf.input_spec(cfg), "heatmap": mf.heatmap_spec(cfg),
            "decode": spec_decode, "joints": list(js.names),
            "skeleton": [list(e) for e in js.skeleton], "models": models,
            "state": {"features": list(specs["frame_encoder"].outputs[0][1]),
                      "heatmaps": list(specs["pose_initializer"].outputs[0][1])},
            "loop": mf.LOOP,
            "region": dict(REGION_POLICY, rule=REGION_RULE),
            "model_config": dataclasses.asdict(cfg.model),
            "checkpoint_step": checkpoint_step,
            "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
        }
        man["checks"] = _parity_checks(model, cfg, man, stage, precisions, log)
        if golden:
            man["golden"] = _write_golden(model, cfg, man, stage, precisions, log)
        if reference_videos:
            frames = int(reference_frames or cfg.train.eval_frames)
            proto = protocol(cfg.model.input_size, reference_videos, frames, cfg.train.seed)
            log(f"Keras reference PCK on {reference_videos} held-out videos x {frames} frames")
            pck = keras_pck(model, cfg, protocol_videos(proto), decode_method)
            man["reference"] = {"keras_pck": pck, "protocol": proto}
        mf.validate(man, stage)
        _commit(stage, out, man, golden)
        log(f"wrote {os.path.join(out, 'manifest.json')}")
        return man
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _parity_checks(model, cfg, man, stage, precisions, log) -> dict:
    """LiteRT loop vs the Keras unroll on a held-out clip at the input size, per precision."""
    from ..heldout import FIRST_VIDEO, heldout_video
    from .golden import GOLDEN_FRAMES

    v = heldout_video(cfg.model.input_size, GOLDEN_FRAMES, cfg.train.seed, 1)
    x = cal.normalise(v["frames"], cfg.mean, cfg.std)[:, None]
    ref = _keras_unroll(model, x)
    out = {"clip": f"synthetic seed {cfg.train.seed} video {FIRST_VIDEO + 1}, "
                   f"{GOLDEN_FRAMES} frames", "reference": "Keras DKD.call (unroll)"}
    for prec in precisions:
        got = HostLoop(man, stage, prec, 2).heatmaps(x)
        out[prec] = {"max_abs_diff": float(np.max(np.abs(got - ref))),
                     "argmax_agreement": _agreement(got, ref)}
        log(f"{prec} loop vs Keras: max |diff| {out[prec]['max_abs_diff']:.2e}, argmax "
            f"agreement {out[prec]['argmax_agreement']:.3f}")
    return out


def _write_golden(model, cfg, man, stage, precisions, log) -> dict:
    prec = "fp32" if "fp32" in precisions else precisions[0]
    clip = golden_clip(cfg.model.input_size, cfg.train.seed)
    loop = HostLoop(man, stage, prec, 2)
    kp, sc = loop.video(clip["frames"])
    _, s, off = loop.preprocess(clip["frames"][0])
    xs = np.stack([loop.preprocess(f)[0] for f in clip["frames"]])
    keras_kp, _ = loop.decode(_keras_unroll(model, xs)[:1], s, off)
    tol = {"keypoints_px": 0.5 / s, "note": "a port of the same files should agree within "
                                            "about half an input pixel (resize differences)"}
    write_golden(os.path.join(stage, "golden"), clip, kp, sc, man["joints"],
                 {"s": s, "offset": list(off)}, man["decode"]["method"], prec, tol)
    log(f"golden clip: {len(clip['frames'])} frames {clip['frames'].shape[2]}x"
        f"{clip['frames'].shape[1]} ({prec}); frame 0 vs Keras "
        f"{float(np.max(np.abs(keras_kp - kp[0]))):.2e} px")
    return {"dir": "golden", "expected": f"golden/{EXPECTED}", "precision": prec,
            "frames": len(clip["frames"])}


def _commit(stage: str, out: str, man: dict, golden: bool) -> None:
    manifest_path = os.path.join(out, "manifest.json")
    if os.path.exists(manifest_path):
        os.remove(manifest_path)  # from here on no manifest until the new one is complete
    for p in man["models"].values():
        for e in p.values():
            os.replace(os.path.join(stage, e["file"]), os.path.join(out, e["file"]))
    if golden:
        dst = os.path.join(out, "golden")
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        elif os.path.exists(dst):
            os.remove(dst)
        os.replace(os.path.join(stage, "golden"), dst)
    readme = os.path.join(out, "README.md")
    atomic_write_bytes(readme, render_readme(man).encode())
    atomic_write_json(manifest_path, man)
    umask = os.umask(0)
    os.umask(umask)
    for path in (readme, manifest_path):  # atomic writes create 0600 files; an export ships
        os.chmod(path, 0o666 & ~umask)
