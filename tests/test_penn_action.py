"""Penn Action loader: records from the real label layout, each repair, each error."""
from __future__ import annotations

import os

import numpy as np
import pytest

import fixtures_datasets as fx
from dkd_tf.data import penn_action as pa
from dkd_tf.errors import UserError


@pytest.fixture
def tree(tmp_path):
    root = str(tmp_path / "penn")
    return root, fx.make_penn_tree(root)


def label(root, name):
    return os.path.join(root, "labels", f"{name}.mat")


def test_consistent_video_record(tree):
    root, exp = tree
    r = pa.read_label(label(root, "0002"), os.path.join(root, "frames"))
    e = exp["0002"]
    assert r["name"] == "0002" and r["action"] == "squat" and r["split"] == "train"
    assert r["view"] == "front" and r["image_size"] == (fx.H, fx.W)
    assert r["joints"].dtype == np.float32 and r["joints"].shape == (5, 13, 2)
    # 0-based = file value - 1, exactly
    np.testing.assert_array_equal(r["joints"][..., 0], e["fields"]["x"] - 1)
    np.testing.assert_array_equal(r["joints"][..., 1], e["fields"]["y"] - 1)
    assert r["visible"].dtype == bool and r["visible"].shape == (5, 13)
    np.testing.assert_array_equal(r["visible"], e["visible"])
    assert r["bbox"].dtype == np.float32 and r["bbox"].shape == (5, 4)
    np.testing.assert_array_equal(r["bbox"], e["fields"]["bbox"] - 1)
    assert r["frame_paths"] == e["frame_paths"] and all(map(os.path.isabs, r["frame_paths"]))
    assert r["repairs"] == []
    test = pa.read_label(label(root, "0003"))
    assert test["split"] == "test" and test["frame_paths"] == [] and test["repairs"] == []


def test_inconsistent_label_is_repaired_and_each_repair_recorded(tree):
    root, exp = tree
    e = exp["0004"]
    r = pa.read_label(label(root, "0004"), os.path.join(root, "frames"))
    # uint8 fields converted before arithmetic: a stored 0 (invisible) is -1, not 254/255
    assert r["joints"].shape == (fx.BAD_T, 13, 2)
    np.testing.assert_array_equal(r["joints"], e["joints"].astype(np.float32))
    assert r["joints"][~e["visible"]].min() == -1.0 and r["joints"].max() < fx.W
    np.testing.assert_array_equal(r["visible"], e["visible"])
    assert r["image_size"] == (fx.H, fx.W) and len(r["frame_paths"]) == fx.BAD_T
    rows = e["bbox_rows"]
    # untouched rows
    np.testing.assert_allclose(r["bbox"][[0, 2, 3]], rows[[0, 2, 3]], atol=1e-5)

    def joints_box(t):
        p = e["joints"][t][e["visible"][t]]
        lo, hi = p.min(0), p.max(0)
        m = 0.1 * (hi - lo).max()
        return np.array([max(lo[0] - m, 0), max(lo[1] - m, 0),
                         min(hi[0] + m, fx.W - 1), min(hi[1] + m, fx.H - 1)])

    np.testing.assert_allclose(r["bbox"][1], joints_box(1), atol=1e-4)  # zero-width rebuilt
    np.testing.assert_allclose(r["bbox"][4], joints_box(4), atol=1e-4)  # missing: from joints
    np.testing.assert_array_equal(r["bbox"][5], r["bbox"][4])  # 1 visible joint: copied
    assert len(r["repairs"]) == 3
    nfr, zero, fill = r["repairs"]
    assert "nframes is 5" in nfr and "6 rows" in nfr and "frames folder" in nfr
    assert "frame(s) 2 " in zero and "rebuilt" in zero
    assert "4 rows for 6 frames" in fill and "frame(s) 5 filled" in fill
    assert "frame 6 copied from frame 5" in fill


def _rewrite(root, name, **changes):
    from scipy.io import loadmat

    path = label(root, name)
    m = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    for k, v in changes.items():
        if v is None:
            del m[k]
        else:
            m[k] = v
    fx.write_mat(path, m)
    return path


def test_negative_box_without_joints_stays_zero_size_not_an_error(tree):
    root, exp = tree
    e = exp["0001"]
    vis = e["visible"].copy()
    vis[2] = False
    vis[2, 0] = True  # one visible joint: nothing to rebuild from
    bbox = e["fields"]["bbox"].copy()
    bbox[2] = [40, 30, 20, 10]  # negative width and height
    _rewrite(root, "0001", visibility=vis.astype(np.float64), bbox=bbox)
    r = pa.read_label(label(root, "0001"), os.path.join(root, "frames"))
    np.testing.assert_array_equal(r["bbox"][2], [39, 29, 39, 29])
    assert len(r["repairs"]) == 1 and "zero-size box" in r["repairs"][0]
    assert "frame(s) 3 " in r["repairs"][0]


def test_frames_folder_with_extra_frames_uses_the_first(tmp_path):
    root = str(tmp_path)
    fx.write_penn_video(root, "0007", 3, 7, n_frames=5)
    r = pa.read_label(label(root, "0007"), os.path.join(root, "frames"))
    assert len(r["frame_paths"]) == 3 and r["frame_paths"][-1].endswith("000003.jpg")
    assert r["repairs"] == ["the frames folder holds 5 frames but the labels cover 3; "
                            "using frames 1-3"]


def test_more_rows_than_nframes_without_frames_root_trusts_the_arrays(tree):
    root, _ = tree
    _rewrite(root, "0002", nframes=np.float64(3))
    r = pa.read_label(label(root, "0002"))
    assert r["joints"].shape[0] == 5
    assert r["repairs"] == ["nframes is 3 but x/y/visibility have 5 rows; using 5 frames "
                            "(frames folder not checked)"]


def test_extra_bbox_rows_dropped(tree):
    root, exp = tree
    bbox = np.concatenate([exp["0003"]["fields"]["bbox"], [[1, 1, 9, 9]]])
    _rewrite(root, "0003", bbox=bbox)
    r = pa.read_label(label(root, "0003"))
    assert r["bbox"].shape == (3, 4)
    assert r["repairs"] == ["bbox has 4 rows for 3 frames; dropped the last 1"]


def test_nan_of_invisible_joint_repaired(tree):
    root, exp = tree
    e = exp["0001"]
    t, k = np.argwhere(~e["visible"])[0]
    x = e["fields"]["x"].copy()
    x[t, k] = np.nan
    _rewrite(root, "0001", x=x)
    r = pa.read_label(label(root, "0001"))
    assert r["joints"][t, k, 0] == -1.0 and np.isfinite(r["joints"]).all()
    assert len(r["repairs"]) == 1 and "1 non-finite" in r["repairs"][0]


@pytest.mark.parametrize("name", ["action", "pose", "x", "visibility", "train", "bbox",
                                  "dimensions", "nframes"])
def test_missing_field_names_file_and_field(tree, name):
    root, _ = tree
    path = _rewrite(root, "0001", **{name: None})
    with pytest.raises(UserError) as ei:
        pa.read_label(path)
    assert str(ei.value) == f"{path}: field '{name}' is missing"


@pytest.mark.parametrize("change, words", [
    (dict(x=np.zeros((4, 12))), "field 'x' should be rows x 13, got shape (4, 12)"),
    (dict(y=np.zeros((3, 13))), "fields 'x' and 'y' differ in shape: (4, 13) vs (3, 13)"),
    (dict(visibility=np.ones((5, 13))), "field 'visibility' has shape (5, 13)"),
    (dict(visibility=np.full((4, 13), 2.0)), "field 'visibility' must be 0 or 1, found 2.0"),
    (dict(bbox=np.zeros((4, 5))), "field 'bbox' should be rows x 4, got shape (4, 5)"),
    (dict(dimensions=np.array([48.0, 64.0])), "field 'dimensions' should be [H W nframes]"),
    (dict(train=np.float64(0)), "field 'train' must be 1 (train) or -1 (test), got 0"),
    (dict(nframes=np.array([4.0, 4.0])), "field 'nframes' should be a single number"),
    (dict(action=np.zeros(3)), "field 'action' should be text"),
])
def test_wrongly_shaped_fields(tree, change, words):
    root, _ = tree
    path = _rewrite(root, "0001", **change)
    with pytest.raises(UserError) as ei:
        pa.read_label(path)
    assert str(ei.value).startswith(f"{path}: ") and words in str(ei.value)


def test_nan_of_visible_joint_is_an_error(tree):
    root, exp = tree
    y = exp["0001"]["fields"]["y"].copy()
    y[1, 0] = np.nan  # joint 0 (head) is visible in every fixture frame
    path = _rewrite(root, "0001", y=y)
    with pytest.raises(UserError, match=r"non-finite coordinate .* visible joint head in frame 2"):
        pa.read_label(path)


def test_fewer_frames_than_labels_is_an_error(tree):
    root, _ = tree
    os.remove(os.path.join(root, "frames", "0002", "000005.jpg"))
    with pytest.raises(UserError, match=r"0002.mat: the labels have 5 frames but .*0002 holds 4"):
        pa.read_label(label(root, "0002"), os.path.join(root, "frames"))


def test_unreadable_label_file(tree):
    root, _ = tree
    with open(label(root, "0003"), "wb") as f:
        f.write(b"not a mat file at all" * 10)
    with pytest.raises(UserError, match=r"0003.mat: not a readable MATLAB .mat file"):
        pa.read_label(label(root, "0003"))


def test_list_and_read_all(tree, tmp_path):
    root, exp = tree
    recs = pa.read_all(root)
    assert [r["name"] for r in recs] == ["0001", "0002", "0003", "0004"]
    assert [r["split"] for r in recs] == ["train", "train", "test", "train"]
    assert [r["joints"].shape[0] for r in recs] == [4, 5, 3, 6]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a Penn Action root"):
        pa.list_videos(str(tmp_path / "empty"))
    with pytest.raises(UserError, match="no such folder"):
        pa.list_videos(str(tmp_path / "nowhere"))
