"""Atomic file writes: a temporary name in the same folder, then os.replace.

A crash or a bad input part-way never leaves a half-written file under the final name.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

from .errors import UserError


def temp_file(folder: str, prefix: str = ".tmp-", suffix: str = ""):
    """mkstemp in folder -> (fd, path), with the permissions a plain open() would give
    (mkstemp makes 0600 files; an output renamed from it should not stay private)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return fd, tmp


def atomic_write_bytes(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = temp_file(folder)
    except OSError as e:
        raise UserError(f"{folder}: cannot write here ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def ensure_writable_dir(path: str) -> str:
    """Creates path if needed and checks it is a writable folder; returns its absolute path."""
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{path}: exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(f"{path}: cannot create folder ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{path}: folder is not writable")
    return path


def sha256_file(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
