"""python export/verify.py DIR: run an exported set on held-out synthetic videos.

Runs the .tflite graphs with LiteRT, or with --backend onnxruntime the .onnx ones. Prints,
per precision, PCK@0.2 of the manifest's loop, its drop from the Keras model (the
reference the exporter measured under the same protocol), and the median ms per call of each
graph on this CPU. --gpu also checks every model on LiteRT's GPU accelerator when LiteRT
finds a GPU adapter here ("not verified" when it finds none). Needs LiteRT, NumPy and OpenCV;
TensorFlow only when a protocol other than the manifest's asks for a new Keras reference.
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
    ap.add_argument("dir", nargs="?", default="android_demo_assets",
                    help="export folder holding manifest.json")
    ap.add_argument("--precision", default=None, help="subset to run (default: all exported)")
    ap.add_argument("--videos", type=int, default=None,
                    help="held-out videos (default: the manifest's reference protocol)")
    ap.add_argument("--frames", type=int, default=None, help="frames per video")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--backend", choices=("litert", "onnxruntime"), default="litert",
                    help="run the .tflite graphs (LiteRT) or the .onnx ones (onnxruntime; "
                         "export/to_onnx.py adds them)")
    ap.add_argument("--gpu", action="store_true",
                    help="also run each model on LiteRT's GPU accelerator and compare with CPU")
    ap.add_argument("--json", default=None, help="also write the results here")
    return ap.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parse_args(argv)
    from dkd_tf.edge import manifest as mf
    from dkd_tf.edge import verify as vf

    check_counts(("--threads", a.threads, 1), ("--videos", a.videos, 1),
                 ("--frames", a.frames, 1))
    man = mf.load(a.dir)
    folder = os.path.abspath(a.dir if os.path.isdir(a.dir) else os.path.dirname(a.dir))
    section = "models" if a.backend == "litert" else "onnx"
    if not man.get(section):
        raise UserError(f"{os.path.join(folder, 'manifest.json')}: no {section!r} section "
                        f"(add it with python export/to_onnx.py --assets {a.dir})")
    if a.gpu and a.backend != "litert":
        raise UserError("--gpu checks LiteRT's GPU accelerator: use it with --backend litert")
    precisions = mf.parse_precisions(a.precision) if a.precision else tuple(man[section])
    missing = [p for p in precisions if p not in man[section]]
    if missing:
        raise UserError(f"{folder}: no {', '.join(missing)} {a.backend} models in the "
                        f"manifest (has {', '.join(man[section])})")
    ref = man.get("reference") or {}
    base = ref.get("protocol") or {}
    size = int(man["input"]["height"])
    seed = int(base.get("seed", 0))
    proto = vf.protocol(size, a.videos or base.get("videos", 10),
                        a.frames or base.get("frames", 40), seed)
    data = vf.protocol_videos(proto)
    keras = ref.get("keras_pck") if vf.same_protocol(base, proto) else None
    if keras is None and man.get("checkpoint"):
        keras = _keras_reference(man, data)
    rows = {}
    for prec in precisions:
        print(f"running {prec} on {proto['videos']} videos x {proto['frames']} frames ...",
              file=sys.stderr, flush=True)
        rows[prec] = vf.runtime_pck(man, folder, prec, data, a.threads, a.backend)
        if a.gpu:
            rows[prec]["gpu_check"] = _gpu(man, folder, prec, data)
            oks = [v["ok"] for v in rows[prec]["gpu_check"].values()]
            rows[prec]["gpu"] = ("ok" if all(o is True for o in oks) else
                                 "FAIL" if any(o is False for o in oks) else "not verified")
    print(f"{a.backend}: {rows[precisions[0]]['device']}")
    print(vf.format_table(rows, keras))
    if keras is None:
        print("drop: n/a (no Keras reference for this protocol; export with "
              "--reference-videos, or install TensorFlow and keep the checkpoint)")
    if a.gpu:
        for prec, r in rows.items():
            for g, v in r["gpu_check"].items():
                extra = "; ".join(v.get("unsupported", []))[:160]
                print(f"gpu {prec} {g}: {v['ok']} {v['method']}" + (f" ({extra})" if extra else ""))
    if a.json:
        from dkd_tf.io_utils import atomic_write_json

        atomic_write_json(a.json, {"protocol": proto, "keras_pck": keras, "precisions": rows})
    return 0


def _keras_reference(man: dict, data: dict):
    """The Keras PCK for a protocol the manifest has none for (needs TF + the checkpoint)."""
    try:
        from dkd_tf.checkpoints import resolve, restore
        from dkd_tf.edge.verify import keras_pck

        prefix, cfg = resolve(None, man["checkpoint"])
        model, _ = restore(prefix, cfg)
    except (ImportError, UserError) as e:
        print(f"note: no Keras reference ({e})", file=sys.stderr)
        return None
    return keras_pck(model, cfg, data, man["decode"]["method"])


def _gpu(man: dict, folder: str, prec: str, data: dict) -> dict:
    """Per graph: LiteRT GPU vs CPU on real inputs (the first clip's first frames)."""
    from dkd_tf.edge.gpu import litert_gpu_verdict
    from dkd_tf.edge.host_loop import HostLoop

    loop = HostLoop(man, folder, prec, 1)
    x0 = loop.preprocess(data["frames"][0, 0])[0]
    x1 = loop.preprocess(data["frames"][0, 1])[0]
    f, h = loop.init(x0)
    f1 = loop.graphs["frame_encoder"].run(image=x1)["features"]
    inputs = {"pose_initializer": {"image": x0}, "frame_encoder": {"image": x1},
              "dynamic_conv": {"features_prev": f, "heatmaps_prev": h, "features": f1}}
    out = {}
    for g, ins in inputs.items():
        out[g] = litert_gpu_verdict(os.path.join(folder, man["models"][prec][g]["file"]), ins)
    return out


if __name__ == "__main__":
    sys.exit(run_cli(main))
