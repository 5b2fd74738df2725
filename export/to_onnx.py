"""python export/to_onnx.py: add ONNX versions of an export folder's graphs (for onnxruntime).

Converts pose_initializer, frame_encoder and dynamic_conv of an existing export folder
(export/to_tflite.py) from their fp32 .tflite files to ONNX (fp32, and fp16 where its loop
keeps parity with LiteRT), writes <graph>_<precision>.onnx beside the .tflite files and adds
an "onnx" section to manifest.json (every other key unchanged). Parity with LiteRT fp32 is
measured on the golden clip and a synthetic clip and printed. Files are staged and renamed
into place, manifest.json last. Then: python -m dkd_tf.infer VIDEO --backend onnxruntime.
Needs pip install -e '.[export-onnx]' (tf2onnx, onnx, onnxruntime).
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
    ap.add_argument("--assets", default="android_demo_assets",
                    help="export folder holding manifest.json and the .tflite graphs")
    ap.add_argument("--precision", default="fp32,fp16",
                    help="comma-separated subset of fp32,fp16 (default both)")
    ap.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of the parity runs")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    return ap.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parse_args(argv)
    precisions = [p.strip() for p in a.precision.split(",") if p.strip()]
    bad = [p for p in precisions if p not in ("fp32", "fp16")]
    if bad or not precisions:
        raise UserError(f"--precision {a.precision!r}: choose from fp32, fp16")
    if a.opset is not None and not 13 <= a.opset <= 21:
        raise UserError(f"--opset must be within 13..21 (got {a.opset})")
    check_counts(("--threads", a.threads, 1))
    from dkd_tf.edge.onnx_export import convert_folder

    return convert_folder(a.assets, precisions, a.opset, a.threads, a.quiet)


if __name__ == "__main__":
    sys.exit(run_cli(main))
