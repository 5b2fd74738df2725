"""python export/to_tflite.py: export a trained DKD as three LiteRT graphs + manifest.json.

With no arguments it exports the latest checkpoint of runs/tiny to android_demo_assets/ at
fp32, fp16 and int8: <graph>_<precision>.tflite for pose_initializer, frame_encoder and
dynamic_conv (and frame_encoder_head, F with its per-frame head, when the checkpoint has one
that matches F), manifest.json, README.md and golden/ (a clip + expected keypoints). Every model
is checked for builtin-only ops and (when ../shared/tools/gpu_check is set up) for the GPU
delegate. Files are staged and renamed into place, manifest.json last. --onnx then adds the
ONNX graphs as export/to_onnx.py does.
"""
from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

try:
    import dkd_tf  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dkd_tf.edge.cli import script_parser  # noqa: E402
from dkd_tf.errors import UserError, check_counts, run_cli  # noqa: E402


def parse_args(argv):
    ap = script_parser(__file__, __doc__)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--workdir", default=None,
                     help="work directory whose latest checkpoint is exported (default runs/tiny)")
    src.add_argument("--checkpoint", default=None,
                     help="a checkpoint prefix, e.g. runs/tiny/ckpt-2400 (config.json beside it)")
    ap.add_argument("--out", default="android_demo_assets", help="output folder")
    ap.add_argument("--precision", default="fp32,fp16,int8",
                    help="comma-separated subset of fp32,fp16,int8 (default all)")
    ap.add_argument("--preset", default=None,
                    help="refuse a checkpoint whose config is not this preset")
    ap.add_argument("--calibration-frames", type=int, default=100,
                    help="int8 representative samples per graph (at least 100 recommended)")
    ap.add_argument("--reference-videos", type=int, default=10,
                    help="held-out videos for the Keras reference PCK in the manifest (0: none)")
    ap.add_argument("--no-golden", action="store_true", help="skip golden/")
    ap.add_argument("--no-gpu-check", action="store_true", help="skip the GPU-delegate check")
    ap.add_argument("--onnx", action="store_true",
                    help="also write ONNX graphs (export/to_onnx.py; needs '.[export-onnx]')")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    return ap.parse_args(argv)


def format_table(manifest: dict) -> str:
    rows = [("file", "size", "ops", "GPU")]
    for graphs in manifest["models"].values():
        for e in graphs.values():
            ok = e["gpu"]["ok"]
            verdict = {True: "ok", False: "FAIL", None: "not verified"}[ok]
            if ok is False and e["file"].endswith("_int8.tflite"):
                verdict += " (GPU vs int8 CPU outputs differ; use fp16 on GPUs)"
            elif ok is False and e["gpu"].get("unsupported"):
                verdict += f" ({e['gpu']['unsupported'][0][:100]})"
            elif ok is None:
                verdict = e["gpu"]["method"]
            rows.append((e["file"], f"{e['bytes'] / 1e6:.2f} MB", str(e["op_count"]), verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) if i in (0, 3) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parse_args(argv)
    # everything that can be checked without TensorFlow is checked first
    from dkd_tf.checkpoints import resolve
    from dkd_tf.edge.manifest import parse_precisions
    from dkd_tf.io_utils import ensure_writable_dir

    precisions = parse_precisions(a.precision)
    if a.onnx:
        if "fp32" not in precisions:
            raise UserError("--onnx converts the fp32 graphs: include fp32 in --precision")
        from dkd_tf.edge.onnx_export import check_converter

        check_converter()
    check_counts(("--calibration-frames", a.calibration_frames, 1),
                 ("--reference-videos", a.reference_videos, 0))
    prefix, cfg = resolve(a.workdir or ("runs/tiny" if not a.checkpoint else None),
                          a.checkpoint)
    if a.preset and cfg.preset != a.preset:
        raise UserError(f"{prefix}: a '{cfg.preset}' checkpoint, not '{a.preset}'")
    out = ensure_writable_dir(a.out)
    probe = os.path.join(out, f".write-probe-{os.getpid()}")
    try:
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as e:
        raise UserError(f"{out}: cannot write here ({e.strerror})") from None

    from dkd_tf.checkpoints import head_in, restore
    from dkd_tf.edge.exporter import export_model

    model, step = restore(prefix, cfg)
    head, note = head_in(model, prefix)
    if head is None:
        print(f"note: no frame_encoder_head graph: {note}", file=sys.stderr)
    man = export_model(model, cfg, out, precisions, checkpoint=prefix, head=head,
                       calibration_frames=a.calibration_frames, golden=not a.no_golden,
                       gpu_check=not a.no_gpu_check, progress=not a.quiet,
                       reference_videos=a.reference_videos, checkpoint_step=step)
    print(format_table(man))
    ref = man.get("reference")
    if ref:
        print(f"Keras reference PCK@0.2 {ref['keras_pck']:.3f} on {ref['protocol']['videos']} "
              f"held-out videos; run: python export/verify.py {a.out}")
    print(f"wrote {os.path.join(out, 'manifest.json')}")
    if a.onnx:
        from dkd_tf.edge.onnx_export import convert_folder

        return convert_folder(a.out, quiet=a.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
