"""What the export/ scripts share before they import TensorFlow (pure Python).

Each script (export/to_tflite.py, export/verify.py, export/to_onnx.py) first makes dkd_tf
importable from a checkout without `pip install -e .` (that must come before any dkd_tf
import, so it stays in the script) and then builds its parser here; importing dkd_tf has
already quieted TensorFlow's and OpenCV's logs (dkd_tf.errors.quiet_libraries). Its checks
raise UserError before anything heavy is imported, so bad input ends with one
`error: <file>: <problem>` line and exit code 2 (dkd_tf.errors.run_cli).
"""
from __future__ import annotations

import argparse
import os


def script_parser(path: str, doc: str) -> argparse.ArgumentParser:
    """The parser of the script at `path`: prog "python export/<name>.py", description the
    first line of its docstring after "python export/<name>.py: "."""
    prog = f"python export/{os.path.basename(path)}"
    return argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0].split(": ", 1)[1])
