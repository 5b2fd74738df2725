"""One clear line, exit code 2: how every dkd_tf command reports bad input.

Commands raise `UserError("<file>: <problem>")` for anything the user can fix; `run_cli`
turns it into a single stderr line and exit code 2, so a user sees that line and nothing else.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Optional, Sequence


class UserError(Exception):
    """Bad input that the user can fix; the message names the file and the problem."""


ONNXRUNTIME_MISSING = ("onnxruntime is not installed: pip install -e '.[onnx]' "
                       "(onnxruntime-gpu on a machine with CUDA or TensorRT)")


def require_module(name: str, message: str) -> None:
    """UserError(message) when the top-level module `name` is not installed (checked
    without importing it)."""
    import importlib.util

    if name in sys.modules:  # imported already, or None: blocked on purpose
        found = sys.modules[name] is not None
    else:
        found = importlib.util.find_spec(name) is not None
    if not found:
        raise UserError(message)


def check_counts(*checks) -> None:
    """UserError for the first (flag, value, minimum) whose value is below its minimum; a
    value of None (not given) is not checked. The message says "must be positive" for a
    minimum of 1 and "must not be negative" for 0, so a CLI checks its counts in one call
    before anything heavy is imported."""
    for flag, value, minimum in checks:
        if value is None or value >= minimum:
            continue
        rule = {1: "be positive", 0: "not be negative"}.get(minimum, f"be at least {minimum}")
        raise UserError(f"{flag} must {rule} (got {value})")


def quiet_libraries() -> None:
    """Silences TensorFlow's C++ logs, oneDNN notices and OpenCV's logs (before importing)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


@contextlib.contextmanager
def muted_stderr():
    """Sends file descriptor 2 (where C++ libraries log) to /dev/null for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """Imports TensorFlow with its start-up chatter on fd 2 suppressed; returns the module.

    TF's C++ side writes a few lines (absl's "All log messages before InitializeLog",
    CUDA probing) straight to file descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL says.
    """
    quiet_libraries()
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with muted_stderr():
        import tensorflow as tf
        tf.get_logger().setLevel("ERROR")
        from tensorflow.python.util import deprecation

        deprecation._PRINT_DEPRECATION_WARNINGS = False  # v1 profiler API used for FLOPs
        tf.config.list_physical_devices()  # CUDA probing logs happen here, still muted
    return tf


def run_cli(main: Callable[[Optional[Sequence[str]]], int],
            argv: Optional[Sequence[str]] = None) -> int:
    """Calls main(argv); a UserError becomes one 'error: ...' line on stderr and exit 2."""
    try:
        return main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
