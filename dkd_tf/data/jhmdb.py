"""JHMDB / Sub-JHMDB annotations -> video records (parse and validate only; no images read).

Layout under root:
  Rename_Images/<action>/<clip>/%05d.png                 frames (320 x 240 in the real set)
  joint_positions/<action>/<clip>/joint_positions.mat    `pos_img` 2 x 15 x T, 1-based pixels
                                                         (`pos_world`, `scale`, `viewpoint`
                                                         may be absent; they are not read)
  puppet_mask/<action>/<clip>/puppet_mask.mat            `part_mask` H x W x T (optional)
  sub_splits/<action>_test_split_<n>.txt                 lines `<clip>.avi 1|2` (1 train,
                                                         2 test), n = 1, 2, 3 (the name
                                                         <action>_test_split<n>.txt is
                                                         accepted too)
Only actions with a split file for the chosen split are read; other actions, puppet_mask/
and scale/viewpoint may be absent.

Record (as penn_action.read_label's; K = 15): name "<action>/<clip>", joints = pos_img - 1
as [T, K, 2], visible all True (Sub-JHMDB counts every joint), bbox [T, 4] 0-based:
  * from the puppet mask when present: the extent of its non-zero pixels in that frame
    (bbox_source "puppet_mask", image_size = the mask's H x W);
  * otherwise, and for mask frames that are empty or missing, the joints' box grown by
    BOX_MARGIN (10%) of its larger side on each side (bbox_source "joints"; image_size None
    until prepare reads the frames). This is an approximation of the usual protocol, which
    takes the person box from the puppet mask.
Repairs (recorded): more frames in the folder than in pos_img (the first T are used), a
mask with more frames than pos_img (the first T are used), empty or missing mask frames
(joints' box). Errors (UserError naming the file): a root without Rename_Images/,
joint_positions/ or a split file for the split, a malformed split line, a split file that
lists no clips, a listed clip without joint_positions.mat, `pos_img` missing, misshaped or
non-finite, a `part_mask` that is not H x W x T, and a frames folder with fewer frames than
pos_img.
"""
from __future__ import annotations

import os
import re
from typing import List, Optional, Tuple

import numpy as np

from ..errors import UserError
from ..joints import JHMDB
from .penn_action import (BOX_MARGIN, count_frames, field, frames_text, joints_box, load_mat,
                          numeric_field, zero_box)

K = JHMDB.num_joints
FRAME_RE = re.compile(r"^\d{5}\.png$")
SPLITS = (1, 2, 3)


def check_root(root: str, split: int = 1) -> List[str]:
    """The split files (sorted) of the chosen split; UserError if root is not JHMDB."""
    root = os.path.abspath(root)
    if split not in SPLITS:
        raise UserError(f"--split must be 1, 2 or 3 (got {split})")
    if not os.path.isdir(root):
        raise UserError(f"{root}: no such folder")
    for sub in ("Rename_Images", "joint_positions", "sub_splits"):
        if not os.path.isdir(os.path.join(root, sub)):
            raise UserError(f"{root}: not a JHMDB root (no {sub}/ folder; expected "
                            "Rename_Images/, joint_positions/ and sub_splits/)")
    folder = os.path.join(root, "sub_splits")
    files, actions = [], {}
    for f in sorted(os.listdir(folder)):
        mt = _split_re(split).match(f)
        if mt:
            if mt.group(1) in actions:
                raise UserError(f"{folder}: two split-{split} files for action {mt.group(1)}: "
                                f"{actions[mt.group(1)]} and {f}")
            actions[mt.group(1)] = f
            files.append(os.path.join(folder, f))
    if not files:
        raise UserError(f"{folder}: no *_test_split_{split}.txt files for split {split}")
    return files


def _split_re(split: int) -> re.Pattern:
    """<action>_test_split_<n>.txt (Sub-JHMDB); <action>_test_split<n>.txt (JHMDB's style)."""
    return re.compile(rf"^(.+)_test_split_?{split}\.txt$")


def read_split_file(path: str) -> List[Tuple[str, str]]:
    """[(clip, "train" | "test")] from a `<clip>.avi 1|2` file; UserError if malformed/empty."""
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    out = []
    for i, line in enumerate(lines, 1):
        s = line.strip()
        if not s:
            continue
        parts = s.split()
        if len(parts) != 2 or parts[1] not in ("1", "2"):
            raise UserError(f"{path}: line {i}: expected '<clip>.avi 1|2' (1 train, 2 test), "
                            f"got {s!r}")
        clip = parts[0][:-4] if parts[0].endswith(".avi") else parts[0]
        out.append((clip, "train" if parts[1] == "1" else "test"))
    if not out:
        raise UserError(f"{path}: the split lists no clips")
    return out


def list_videos(root: str, split: int = 1) -> List[Tuple[str, str, str, str]]:
    """[(action, clip, "train" | "test", split file)] sorted by action, clip."""
    out, seen = [], set()
    for path in check_root(root, split):
        action = _split_re(split).match(os.path.basename(path)).group(1)
        for clip, side in read_split_file(path):
            if (action, clip) in seen:
                raise UserError(f"{path}: clip {clip} is listed twice")
            seen.add((action, clip))
            out.append((action, clip, side, path))
    return sorted(out)


def _mask_boxes(mask: np.ndarray, T: int) -> Tuple[np.ndarray, np.ndarray]:
    """mask [H, W, M] -> (boxes [T, 4] 0-based pixel extents, ok [T]) for t < min(T, M)."""
    boxes = np.zeros((T, 4), np.float64)
    ok = np.zeros(T, bool)
    n = min(T, mask.shape[2])
    on = mask[..., :n] != 0
    rows, cols = on.any(axis=1), on.any(axis=0)  # [H, n], [W, n]
    for t in range(n):
        ys, xs = np.flatnonzero(rows[:, t]), np.flatnonzero(cols[:, t])
        if len(ys) and len(xs):
            boxes[t] = [xs[0], ys[0], xs[-1], ys[-1]]
            ok[t] = (xs[-1] > xs[0]) and (ys[-1] > ys[0])
    return boxes, ok


def read_clip(root: str, action: str, clip: str, split: str, listed_in: str = "") -> dict:
    """One clip -> a video record (module docs). split: "train" | "test"."""
    root = os.path.abspath(root)
    name = f"{action}/{clip}"
    label = os.path.join(root, "joint_positions", action, clip, "joint_positions.mat")
    if not os.path.isfile(label):
        where = f" (the clip is listed in {listed_in})" if listed_in else ""
        raise UserError(f"{label}: file not found{where}")
    m = load_mat(label)
    pos = numeric_field(m, "pos_img", label)
    if pos.ndim == 2 and pos.shape == (2, K):  # MATLAB drops a trailing singleton: T = 1
        pos = pos[:, :, None]
    if pos.ndim != 3 or pos.shape[:2] != (2, K):
        raise UserError(f"{label}: field 'pos_img' should be 2 x {K} x T, got shape {pos.shape}")
    T = pos.shape[2]
    bad = ~np.all(np.isfinite(pos), axis=0)  # [K, T]
    if bad.any():
        k, t = np.argwhere(bad)[0]
        raise UserError(f"{label}: field 'pos_img': non-finite coordinate for joint "
                        f"{JHMDB.names[k]} in frame {t + 1}")
    joints = np.transpose(pos, (2, 1, 0)) - 1.0  # [T, K, 2], 0-based
    visible = np.ones((T, K), bool)
    repairs: List[str] = []

    fdir = os.path.join(root, "Rename_Images", action, clip)
    n_dir = count_frames(fdir, FRAME_RE)
    if n_dir < T:
        raise UserError(f"{label}: pos_img has {T} frames but {fdir} holds {n_dir} frame files "
                        "(%05d.png)")
    if n_dir > T:
        repairs.append(f"{fdir} holds {n_dir} frames but pos_img covers {T}; using frames 1-{T}")
    frame_paths = [os.path.join(fdir, f"{t + 1:05d}.png") for t in range(T)]

    image_size: Optional[Tuple[int, int]] = None
    mpath = os.path.join(root, "puppet_mask", action, clip, "puppet_mask.mat")
    how = f"the joints' box + {BOX_MARGIN:.0%} of its larger side each way"
    if os.path.isfile(mpath):
        mask = np.asarray(field(load_mat(mpath), "part_mask", mpath))
        if mask.ndim == 2:
            mask = mask[:, :, None]
        if mask.ndim != 3 or mask.dtype.kind not in "biuf" or min(mask.shape[:2]) < 2:
            raise UserError(f"{mpath}: field 'part_mask' should be a numeric H x W x T array, "
                            f"got {mask.dtype} array of shape {mask.shape}")
        image_size = (int(mask.shape[0]), int(mask.shape[1]))
        bbox, ok = _mask_boxes(mask, T)
        bbox_source = "puppet_mask"
        if mask.shape[2] > T:
            repairs.append(f"puppet_mask.mat has {mask.shape[2]} frames but pos_img {T}; "
                           f"using mask frames 1-{T}")
        missing = [t for t in range(min(T, mask.shape[2]), T)]
        empty = [t for t in range(min(T, mask.shape[2])) if not ok[t]]
        fallback = missing + empty
    else:
        bbox, fallback, missing, empty = np.zeros((T, 4)), list(range(T)), [], []
        bbox_source = "joints"
    zeroed = []
    for t in fallback:
        jb = joints_box(joints[t], visible[t], image_size)
        if jb is None:
            bbox[t] = zero_box(bbox[t])
            zeroed.append(t)
        else:
            bbox[t] = jb
    if missing:
        repairs.append(f"puppet_mask.mat has {T - len(missing)} frames but pos_img {T}; "
                       f"frame(s) {frames_text(missing)} boxed by {how}")
    if empty:
        repairs.append(f"puppet_mask.mat is empty (or one pixel wide) in frame(s) "
                       f"{frames_text(empty)}; boxed by {how}")
    if zeroed:
        repairs.append(f"frame(s) {frames_text(zeroed)}: the joints span no area; left as "
                       "zero-size boxes (PCK does not count those frames)")
    return {
        "name": name, "label_file": label, "frame_paths": frame_paths,
        "joints": joints.astype(np.float32), "visible": visible,
        "bbox": bbox.astype(np.float32), "split": split, "action": action, "view": "",
        "repairs": repairs, "image_size": image_size,
        "image_size_source": "puppet_mask" if image_size else None,
        "bbox_source": bbox_source, "dataset": "jhmdb",
    }


def read_all(root: str, split: int = 1, progress: bool = False) -> List[dict]:
    """Records of every clip listed in the split's files, sorted by name (fails fast)."""
    from ..progress import progress_bar

    clips = list_videos(root, split)
    bar = progress_bar(clips, total=len(clips), desc="labels", unit="clip", disable=not progress)
    bar.leave = False  # transient: the caller reports; on error the error line stands alone
    try:
        return [read_clip(root, a, c, s, listed_in=f) for a, c, s, f in bar]
    finally:
        bar.close()
