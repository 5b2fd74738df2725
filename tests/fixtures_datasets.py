"""Tiny fake Penn Action and JHMDB trees in the exact real layouts, field shapes and dtypes.

Penn Action: root/frames/NNNN/%06d.jpg, root/labels/NNNN.mat with action, pose (text), x, y,
visibility (nframes x 13, 1-based), train (1 | -1), bbox (rows x 4, 1-based), dimensions
([H W nframes]), nframes. JHMDB: Rename_Images/<action>/<clip>/%05d.png,
joint_positions/<action>/<clip>/joint_positions.mat (pos_img 2 x 15 x T, 1-based, pos_world,
scale, viewpoint), puppet_mask/<action>/<clip>/puppet_mask.mat (part_mask H x W x T),
sub_splits/<action>_test_split_<n>.txt (`<clip>.avi 1|2`).

Every writer returns what it wrote (0-based expectations included), so tests compare the
loaders' output with numbers known here, not with the loaders' own logic.
"""
from __future__ import annotations

import os

import dkd_tf  # noqa: F401  (quiets OpenCV before cv2 is imported)
import cv2
import numpy as np
from scipy.io import savemat

W, H = 64, 48  # frame size of every fixture (the real sets: Penn up to 640x480, JHMDB 320x240)
PENN_K, JHMDB_K = 13, 15


def frame_image(seed: int, w: int = W, h: int = H) -> np.ndarray:
    """A deterministic RGB frame [h, w, 3] uint8 (gradient + blocks, JPEG-friendly)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                    np.full((h, w), rng.integers(0, 255))], -1).astype(np.uint8)
    for _ in range(3):
        x, y = rng.integers(0, w - 8), rng.integers(0, h - 8)
        img[y:y + 8, x:x + 8] = rng.integers(0, 255, 3)
    return img


def write_frames(folder: str, n: int, seed: int, ext: str, digits: int) -> list:
    """Writes n frames folder/%0{digits}d.{ext} (1-based); returns their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for t in range(n):
        p = os.path.join(folder, f"{t + 1:0{digits}d}.{ext}")
        cv2.imwrite(p, cv2.cvtColor(frame_image(seed * 1000 + t), cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths


def write_mat(path: str, fields: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    savemat(path, fields, do_compression=False, oned_as="row")


# ---- Penn Action -------------------------------------------------------------------------
def penn_joints(T: int, seed: int):
    """(joints [T, 13, 2] 0-based inside the frame, visible [T, 13]); invisible joints sit
    at -1 (the files store 0 there, as the real labels do)."""
    rng = np.random.default_rng(seed)
    joints = np.stack([rng.integers(4, W - 4, (T, PENN_K)), rng.integers(4, H - 4, (T, PENN_K))],
                      -1).astype(np.float64)
    visible = rng.random((T, PENN_K)) > 0.25
    visible[:, :3] = True
    joints[~visible] = -1.0
    return joints, visible


def penn_fields(joints, visible, bbox, action="tennis_serve", pose="front", train=True,
                nframes=None, dims=None) -> dict:
    """A label dict in the real field layout (float64; 1-based = 0-based + 1)."""
    T = joints.shape[0]
    return {
        "action": action, "pose": pose,
        "x": joints[..., 0] + 1.0, "y": joints[..., 1] + 1.0,
        "visibility": visible.astype(np.float64),
        "train": np.float64(1 if train else -1),
        "bbox": np.asarray(bbox, np.float64) + 1.0,
        "dimensions": np.array(dims if dims is not None else [H, W, T], np.float64),
        "nframes": np.float64(T if nframes is None else nframes),
    }


def tight_box(joints, visible):
    """The box the fixtures store for normal videos: visible joints' extent + 3 px [T, 4]."""
    out = np.zeros((joints.shape[0], 4))
    for t in range(joints.shape[0]):
        p = joints[t][visible[t]]
        out[t] = [p[:, 0].min() - 3, p[:, 1].min() - 3, p[:, 0].max() + 3, p[:, 1].max() + 3]
    return out


def write_penn_video(root: str, name: str, T: int, seed: int, train: bool = True,
                     action: str = "tennis_serve", n_frames: int = None) -> dict:
    """A consistent video: frames (n_frames files, default T) and labels; -> expectations."""
    joints, visible = penn_joints(T, seed)
    bbox = tight_box(joints, visible)
    fields = penn_fields(joints, visible, bbox, action=action, train=train)
    write_mat(os.path.join(root, "labels", f"{name}.mat"), fields)
    paths = write_frames(os.path.join(root, "frames", name), T if n_frames is None else n_frames,
                         seed, "jpg", 6)
    return {"name": name, "T": T, "joints": joints, "visible": visible, "bbox": bbox,
            "split": "train" if train else "test", "action": action, "frame_paths": paths[:T],
            "fields": fields}


# The inconsistent label (video 0004): exact numbers the tests check.
BAD_T = 6
BAD_BBOX_ROWS = 4


def write_penn_bad_video(root: str, name: str = "0004", seed: int = 44) -> dict:
    """A label like the inconsistent real ones, with 6 frames on disk:
      * numeric fields as unsigned integers: x, y, visibility, nframes, train uint8,
        bbox, dimensions uint16 (invisible joints stored as 0, so a uint8 '- 1' would give
        255);
      * nframes says 5 but x/y/visibility have 6 rows (the frames folder has 6);
      * bbox has 4 rows for 6 frames; frame 6 has a single visible joint (so its box must be
        copied from frame 5, whose box comes from the joints);
      * bbox row 2 has negative width (x2 = x1 - 5).
    """
    joints, visible = penn_joints(BAD_T, seed)
    joints = np.round(joints)
    visible[5] = False
    visible[5, 0] = True
    joints[5][~visible[5]] = -1.0
    bbox = tight_box(joints[:BAD_BBOX_ROWS], visible[:BAD_BBOX_ROWS])
    bbox[1, 2] = bbox[1, 0] - 5  # x2 < x1: in uint16, x2 - x1 would wrap to 65531
    fields = {
        "action": "baseball_pitch", "pose": "side",
        "x": (joints[..., 0] + 1).astype(np.uint8), "y": (joints[..., 1] + 1).astype(np.uint8),
        "visibility": visible.astype(np.uint8),
        "train": np.uint8(1),
        "bbox": (bbox + 1).astype(np.uint16),
        "dimensions": np.array([H, W, 5], np.uint16),
        "nframes": np.uint8(5),
    }
    write_mat(os.path.join(root, "labels", f"{name}.mat"), fields)
    paths = write_frames(os.path.join(root, "frames", name), BAD_T, seed, "jpg", 6)
    return {"name": name, "T": BAD_T, "joints": joints, "visible": visible, "bbox_rows": bbox,
            "split": "train", "action": "baseball_pitch", "frame_paths": paths,
            "fields": fields}


def make_penn_tree(root: str, with_bad: bool = True) -> dict:
    """0001, 0002 (train, 4 and 5 frames), 0003 (test, 3 frames) and, with_bad, the
    inconsistent 0004 (train, 6 frames). -> {name: expectations}."""
    vids = [write_penn_video(root, "0001", 4, 11, True, "tennis_serve"),
            write_penn_video(root, "0002", 5, 22, True, "squat"),
            write_penn_video(root, "0003", 3, 33, False, "tennis_serve")]
    if with_bad:
        vids.append(write_penn_bad_video(root))
    return {v["name"]: v for v in vids}


# ---- JHMDB -------------------------------------------------------------------------------
def jhmdb_pos(T: int, seed: int) -> np.ndarray:
    """pos_img [2, 15, T] 1-based pixels, all inside the frame."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(10, W - 10, (JHMDB_K, T))
    y = rng.uniform(8, H - 8, (JHMDB_K, T))
    return np.stack([x, y]) + 1.0


def person_mask(T: int, seed: int):
    """part_mask [H, W, T] uint8 with one rectangle (plus a second part) per frame ->
    (mask, expected boxes [T, 4] 0-based inclusive pixel extents)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((H, W, T), np.uint8)
    boxes = np.zeros((T, 4))
    for t in range(T):
        x1, y1 = int(rng.integers(2, 20)), int(rng.integers(2, 12))
        x2, y2 = x1 + int(rng.integers(10, 30)), y1 + int(rng.integers(10, 25))
        mask[y1:y2 + 1, x1:x2 + 1, t] = 1 + t % 3
        mask[y2 - 2:y2 + 1, x2:x2 + 3, t] = 7  # another part sticking out on the right
        boxes[t] = [x1, y1, x2 + 2, y2]
    return mask, boxes


def write_jhmdb_clip(root: str, action: str, clip: str, T: int, seed: int, mask: bool,
                     scale_viewpoint: bool = True, n_frames: int = None) -> dict:
    pos = jhmdb_pos(T, seed)
    fields = {"pos_img": pos, "pos_world": (pos - 30.0) / 50.0}
    if scale_viewpoint:
        fields["scale"] = np.full((1, T), 1.7)
        fields["viewpoint"] = "E"
    write_mat(os.path.join(root, "joint_positions", action, clip, "joint_positions.mat"), fields)
    paths = write_frames(os.path.join(root, "Rename_Images", action, clip),
                         T if n_frames is None else n_frames, seed, "png", 5)
    out = {"name": f"{action}/{clip}", "T": T, "joints": np.transpose(pos, (2, 1, 0)) - 1.0,
           "action": action, "frame_paths": paths[:T]}
    if mask:
        m, boxes = person_mask(T, seed + 1)
        write_mat(os.path.join(root, "puppet_mask", action, clip, "puppet_mask.mat"),
                  {"part_mask": m})
        out["mask_boxes"] = boxes
    return out


def write_split(root: str, action: str, n: int, lines) -> str:
    path = os.path.join(root, "sub_splits", f"{action}_test_split_{n}.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(lines))
    return path


def make_jhmdb_tree(root: str) -> dict:
    """catch/clipA (mask, scale+viewpoint, 4 frames), catch/clipB (no mask, no scale or
    viewpoint, 3 frames), walk/clipC (mask, 5 frames); run/clipD has frames and joints but
    no split file (must be ignored). Split 1: clipA train, clipB test, clipC train.
    Split 2: clipA test, clipB train (walk has no split-2 file). -> {name: expectations}."""
    clips = [write_jhmdb_clip(root, "catch", "clipA", 4, 101, mask=True),
             write_jhmdb_clip(root, "catch", "clipB", 3, 202, mask=False, scale_viewpoint=False),
             write_jhmdb_clip(root, "walk", "clipC", 5, 303, mask=True),
             write_jhmdb_clip(root, "run", "clipD", 2, 404, mask=True)]
    # a trailing space on a line is tolerated
    write_split(root, "catch", 1, ["clipA.avi 1 \n", "clipB.avi 2 \n"])
    write_split(root, "walk", 1, ["clipC.avi 1\n", "\n"])
    write_split(root, "catch", 2, ["clipA.avi 2\n", "clipB.avi 1\n"])
    return {c["name"]: c for c in clips}
