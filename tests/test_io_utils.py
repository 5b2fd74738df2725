"""Atomic writes: the final name holds the whole new content or the old one, never a part."""
from __future__ import annotations

import os
import stat

import pytest

from dkd_tf.errors import UserError
from dkd_tf.io_utils import atomic_write_bytes, atomic_write_json, sha256_file


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path):
    p = tmp_path / "out.json"
    atomic_write_json(str(p), {"a": 1})
    atomic_write_json(str(p), {"a": [1, 2, 3]})
    assert p.read_text() == '{\n  "a": [\n    1,\n    2,\n    3\n  ]\n}\n'
    assert sorted(os.listdir(tmp_path)) == ["out.json"]


def test_atomic_write_gets_the_permissions_of_a_plain_open(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_bytes(str(tmp_path / "a.bin"), b"x")
        with open(tmp_path / "b.bin", "wb") as f:
            f.write(b"x")
    finally:
        os.umask(umask)
    mode = lambda n: stat.S_IMODE(os.stat(tmp_path / n).st_mode)  # noqa: E731
    assert mode("a.bin") == mode("b.bin") == 0o644  # mkstemp alone would give 0o600


def test_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "keep.json"
    atomic_write_json(str(p), {"old": True})
    with pytest.raises(TypeError):
        atomic_write_json(str(p), {"bad": object()})  # not JSON: fails before the rename
    assert p.read_text().startswith('{\n  "old": true')
    assert sorted(os.listdir(tmp_path)) == ["keep.json"]


def test_unwritable_folder_is_one_user_error(tmp_path):
    with pytest.raises(UserError, match="no-such-folder"):
        atomic_write_bytes(str(tmp_path / "no-such-folder" / "x.bin"), b"x")


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    p = tmp_path / "f.bin"
    data = os.urandom(3 * 1024 * 1024 + 7)  # crosses the read-chunk boundary
    p.write_bytes(data)
    assert sha256_file(str(p)) == hashlib.sha256(data).hexdigest()
