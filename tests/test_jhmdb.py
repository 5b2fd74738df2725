"""JHMDB loader: splits, joints, mask and joint boxes, repairs, errors."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import fixtures_datasets as fx
from dkd_tf.data import jhmdb
from dkd_tf.errors import UserError


@pytest.fixture
def tree(tmp_path):
    root = str(tmp_path / "jhmdb")
    return root, fx.make_jhmdb_tree(root)


def test_split1_records(tree):
    root, exp = tree
    recs = jhmdb.read_all(root, split=1)
    assert [r["name"] for r in recs] == ["catch/clipA", "catch/clipB", "walk/clipC"]
    assert [r["split"] for r in recs] == ["train", "test", "train"]
    assert [r["action"] for r in recs] == ["catch", "catch", "walk"]
    for r in recs:
        e = exp[r["name"]]
        assert r["joints"].dtype == np.float32 and r["joints"].shape == (e["T"], 15, 2)
        np.testing.assert_allclose(r["joints"], e["joints"], atol=1e-5)  # pos_img - 1
        assert r["visible"].dtype == bool and r["visible"].all()
        assert r["frame_paths"] == e["frame_paths"]
        assert r["repairs"] == []
    a, b, c = recs
    assert a["bbox_source"] == "puppet_mask" and a["image_size"] == (fx.H, fx.W)
    np.testing.assert_array_equal(a["bbox"], exp["catch/clipA"]["mask_boxes"])
    np.testing.assert_array_equal(c["bbox"], exp["walk/clipC"]["mask_boxes"])
    # no mask: joints' box + 10% of its larger side each way, image size unknown
    assert b["bbox_source"] == "joints" and b["image_size"] is None
    j = exp["catch/clipB"]["joints"]
    lo, hi = j.min(1), j.max(1)
    m = 0.1 * (hi - lo).max(1, keepdims=True)
    np.testing.assert_allclose(b["bbox"], np.concatenate([lo - m, hi + m], 1), atol=1e-4)


def test_split2_reads_only_actions_with_a_split_file(tree):
    root, _ = tree
    clips = jhmdb.list_videos(root, split=2)
    assert [(a, c, s) for a, c, s, _ in clips] == [("catch", "clipA", "test"),
                                                  ("catch", "clipB", "train")]


def test_split_file_without_underscore_before_number(tree):
    root, _ = tree
    os.rename(os.path.join(root, "sub_splits", "walk_test_split_1.txt"),
              os.path.join(root, "sub_splits", "walk_test_split1.txt"))
    assert [r["name"] for r in jhmdb.read_all(root, 1)] == ["catch/clipA", "catch/clipB",
                                                            "walk/clipC"]
    fx.write_split(root, "walk", 1, ["clipC.avi 1\n"])
    assert "two split-1 files for action walk" in _err(jhmdb.read_all, root, 1)


def test_empty_mask_frame_falls_back_to_joints(tree):
    root, exp = tree
    from scipy.io import loadmat

    path = os.path.join(root, "puppet_mask", "catch", "clipA", "puppet_mask.mat")
    mask = loadmat(path)["part_mask"]
    mask[:, :, 2] = 0
    fx.write_mat(path, {"part_mask": mask[:, :, :3]})  # frame 3 empty, frame 4 missing
    r = jhmdb.read_clip(root, "catch", "clipA", "train")
    e = exp["catch/clipA"]
    np.testing.assert_array_equal(r["bbox"][:2], e["mask_boxes"][:2])
    for t in (2, 3):
        p = e["joints"][t]
        lo, hi = p.min(0), p.max(0)
        m = 0.1 * (hi - lo).max()
        np.testing.assert_allclose(r["bbox"][t], [lo[0] - m, lo[1] - m, hi[0] + m, hi[1] + m],
                                   atol=1e-4)
    assert r["repairs"] == [
        "puppet_mask.mat has 3 frames but pos_img 4; frame(s) 4 boxed by the joints' box + 10% "
        "of its larger side each way",
        "puppet_mask.mat is empty (or one pixel wide) in frame(s) 3; boxed by the joints' box "
        "+ 10% of its larger side each way"]


def test_extra_frames_repair(tmp_path):
    root = str(tmp_path)
    fx.write_jhmdb_clip(root, "jump", "c1", 3, 5, mask=False, n_frames=4)
    fx.write_split(root, "jump", 1, ["c1.avi 2\n"])
    (r,) = jhmdb.read_all(root, 1)
    assert len(r["frame_paths"]) == 3 and r["split"] == "test"
    assert len(r["repairs"]) == 1 and "holds 4 frames but pos_img covers 3" in r["repairs"][0]


def _err(fn, *args):
    with pytest.raises(UserError) as ei:
        fn(*args)
    return str(ei.value)


def test_root_errors(tree, tmp_path):
    root, _ = tree
    assert "no *_test_split_3.txt files for split 3" in _err(jhmdb.read_all, root, 3)
    assert "--split must be 1, 2 or 3" in _err(jhmdb.read_all, root, 4)
    shutil.rmtree(os.path.join(root, "Rename_Images"))
    assert "not a JHMDB root (no Rename_Images/" in _err(jhmdb.read_all, root, 1)
    assert "no such folder" in _err(jhmdb.read_all, str(tmp_path / "nowhere"), 1)


def test_split_file_errors(tree):
    root, _ = tree
    p = fx.write_split(root, "walk", 1, ["\n", "  \n"])
    assert _err(jhmdb.read_all, root, 1) == f"{p}: the split lists no clips"
    p = fx.write_split(root, "walk", 1, ["clipC.avi 3\n"])
    assert _err(jhmdb.read_all, root, 1).startswith(f"{p}: line 1: expected '<clip>.avi 1|2'")
    p = fx.write_split(root, "walk", 1, ["clipC.avi 1\n", "clipC.avi 2\n"])
    assert _err(jhmdb.read_all, root, 1) == f"{p}: clip clipC is listed twice"
    p = fx.write_split(root, "walk", 1, ["clipZ.avi 1\n"])
    msg = _err(jhmdb.read_all, root, 1)
    assert "walk/clipZ/joint_positions.mat: file not found" in msg and p in msg


def test_label_errors(tree):
    root, _ = tree
    label = os.path.join(root, "joint_positions", "walk", "clipC", "joint_positions.mat")
    fx.write_mat(label, {"pos_img": np.ones((2, 14, 5))})
    assert _err(jhmdb.read_all, root, 1) == \
        f"{label}: field 'pos_img' should be 2 x 15 x T, got shape (2, 14, 5)"
    fx.write_mat(label, {"pos_world": np.ones((2, 15, 5))})
    assert _err(jhmdb.read_all, root, 1) == f"{label}: field 'pos_img' is missing"
    pos = np.ones((2, 15, 5))
    pos[0, 3, 1] = np.nan
    fx.write_mat(label, {"pos_img": pos})
    assert "non-finite coordinate for joint right_shoulder in frame 2" in \
        _err(jhmdb.read_all, root, 1)
    fx.write_mat(label, {"pos_img": np.ones((2, 15, 6))})
    assert "pos_img has 6 frames but" in _err(jhmdb.read_all, root, 1)
    mask = os.path.join(root, "puppet_mask", "walk", "clipC", "puppet_mask.mat")
    fx.write_mat(label, {"pos_img": np.ones((2, 15, 5))})
    fx.write_mat(mask, {"part_mask": np.ones((2, 3, 4, 5))})
    assert _err(jhmdb.read_all, root, 1).startswith(f"{mask}: field 'part_mask' should be")
