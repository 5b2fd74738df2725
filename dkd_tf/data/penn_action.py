"""Penn Action annotations -> video records (parse and validate only; no images are read).

Layout: root/frames/NNNN/%06d.jpg and root/labels/NNNN.mat. A label file holds `action`,
`pose` (view), `x`, `y`, `visibility` (nframes x 13, 1-based pixels), `train` (1 | -1),
`bbox` (rows x 4: x1 y1 x2 y2, 1-based), `dimensions` ([H W nframes]) and `nframes`.

Record (a plain dict; shapes: T frames, K = 13 joints):
  name str ("0001"), label_file str, frame_paths [T] str (absolute; [] without a frames root),
  joints float32 [T, K, 2] 0-based pixels (x, y) = file value - 1, visible bool [T, K],
  bbox float32 [T, 4] x1, y1, x2, y2 0-based, split "train" | "test", action str, view str,
  repairs [str] (what the validator changed, human-readable), image_size (H, W) ints,
  image_size_source "dimensions", bbox_source "labels", dataset "penn".

Validation. Every numeric field is converted to float64 before any arithmetic (real files
store some fields as uint8/uint16: 1 - 2 in uint8 is 255). Repairs (each recorded):
  * nframes (or dimensions[2]) disagrees with the rows of x/y/visibility: the arrays' common
    length T is used, provided the frames folder (when given) has at least T frames;
  * the frames folder has more frames than the labels: the first T frames are used;
  * bbox has more rows than T: the extra rows are dropped;
  * bbox has fewer rows than T: each missing row is the visible joints' box grown by
    BOX_MARGIN of its larger side on each side (clipped to the image), else a copy of the
    nearest valid row, else a zero-size box;
  * a box of zero or negative size (or non-finite): rebuilt from the visible joints as above,
    else left as a zero-size box (x1 = x2, y1 = y2), which PCK does not count;
  * non-finite coordinates of an invisible joint: set to the file's "not annotated" value 0
    (-1 after the 0-based shift), since NaN would poison any arithmetic downstream.
Errors (UserError naming the file and the field): an unreadable file, a missing field, a
field of the wrong type or shape, x/y/visibility of different shapes, visibility other than
0/1, `train` other than 1/-1, non-finite coordinates of a visible joint, and a frames folder
with fewer frames than the labels. Joints outside the image, or at 0 when not visible, are
kept as they are (they are valid data). A video with zero annotated frames is returned with
T = 0; `prepare` skips it and says so.
"""
from __future__ import annotations

import os
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError
from ..joints import PENN_ACTION

K = PENN_ACTION.num_joints
BOX_MARGIN = 0.1  # rebuilt boxes: joints' box + 10% of its larger side on each side
FRAME_RE = re.compile(r"^\d{6}\.jpg$")
FIELDS = ("action", "pose", "x", "y", "visibility", "train", "bbox", "dimensions", "nframes")


# ---- helpers shared with jhmdb.py --------------------------------------------------------
def load_mat(path: str) -> dict:
    """The variables of a MATLAB v5 file (unsqueezed arrays); UserError if unreadable."""
    from scipy.io import loadmat

    if not os.path.isfile(path):
        raise UserError(f"{path}: file not found")
    try:
        m = loadmat(path, squeeze_me=False, chars_as_strings=True)
    except Exception as e:  # scipy raises ValueError, TypeError, NotImplementedError, ...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{path}: not a readable MATLAB .mat file ({first})") from None
    return {k: v for k, v in m.items() if not k.startswith("__")}


def field(m: dict, name: str, path: str):
    if name not in m:
        raise UserError(f"{path}: field '{name}' is missing")
    return m[name]


def numeric_field(m: dict, name: str, path: str) -> np.ndarray:
    """The field as float64 (converted before any arithmetic: uint8 1 - 2 is 255)."""
    v = np.asarray(field(m, name, path))
    if v.dtype.kind not in "biuf":
        raise UserError(f"{path}: field '{name}' should be numeric, got {_describe(v)}")
    return v.astype(np.float64)


def rows_field(m: dict, name: str, path: str, ncols: int) -> np.ndarray:
    """A rows x ncols numeric field as float64 [R, ncols] (one row may come as a vector)."""
    v = numeric_field(m, name, path)
    if v.size == 0:
        return np.zeros((0, ncols))
    if v.ndim == 2 and v.shape[1] == ncols:
        return v
    if v.size == ncols and sum(d > 1 for d in v.shape) <= 1:
        return v.reshape(1, ncols)
    raise UserError(f"{path}: field '{name}' should be rows x {ncols}, got shape {v.shape}")


def count_frames(folder: str, pattern: re.Pattern) -> int:
    """Number of files in folder whose names match pattern (0 if there is no folder)."""
    if not os.path.isdir(folder):
        return 0
    return sum(1 for f in os.listdir(folder) if pattern.match(f))


def frames_text(idx: Sequence[int]) -> str:
    """0-based frame indices -> '1-3, 7' (1-based, as in the files)."""
    idx = sorted(int(i) + 1 for i in idx)
    parts, start = [], None
    for a, b in zip(idx, idx[1:] + [None]):
        start = a if start is None else start
        if b != a + 1:
            parts.append(f"{start}" if start == a else f"{start}-{a}")
            start = None
    return ", ".join(parts)


def joints_box(pts: np.ndarray, vis: np.ndarray, image_size: Optional[Tuple[int, int]] = None,
               margin: float = BOX_MARGIN) -> Optional[np.ndarray]:
    """Box [4] around the visible finite joints, grown by margin * larger side on each side
    and clipped to the image (H, W) when known; None when it would have no area (fewer than
    two distinct joints)."""
    p = pts[np.asarray(vis, bool) & np.all(np.isfinite(pts), axis=-1)]
    if len(p) < 2:
        return None
    lo, hi = p.min(0).astype(np.float64), p.max(0).astype(np.float64)
    side = float(np.max(hi - lo))
    if side <= 0:
        return None
    lo, hi = lo - margin * side, hi + margin * side
    if image_size is not None:
        lim = np.array([image_size[1] - 1, image_size[0] - 1], np.float64)
        lo, hi = np.clip(lo, 0, lim), np.clip(hi, 0, lim)
    if np.any(hi <= lo):
        return None
    return np.array([lo[0], lo[1], hi[0], hi[1]])


def box_ok(b: np.ndarray) -> np.ndarray:
    """[N] True where the box [N, 4] is finite with positive width and height."""
    return np.all(np.isfinite(b), axis=-1) & (b[..., 2] > b[..., 0]) & (b[..., 3] > b[..., 1])


def zero_box(b: np.ndarray) -> np.ndarray:
    """A zero-size box at the corner of b when finite, else at the origin."""
    x, y = (b[0], b[1]) if np.all(np.isfinite(b[:2])) else (0.0, 0.0)
    return np.array([x, y, x, y], np.float64)


def _describe(v: np.ndarray) -> str:
    return f"{v.dtype} array of shape {v.shape}"


def _text_field(m: dict, name: str, path: str) -> str:
    v = field(m, name, path)
    if isinstance(v, str):
        return v.strip()
    v = np.asarray(v)
    if v.dtype.kind == "U" and v.size <= 1:
        return str(v.ravel()[0]).strip() if v.size else ""
    if v.dtype.kind == "O" and v.size == 1:
        return _text_field({name: v.ravel()[0]}, name, path)
    raise UserError(f"{path}: field '{name}' should be text, got {_describe(v)}")


def _scalar_field(m: dict, name: str, path: str) -> float:
    v = numeric_field(m, name, path)
    if v.size != 1:
        raise UserError(f"{path}: field '{name}' should be a single number, got shape {v.shape}")
    return float(v.ravel()[0])


# ---- boxes -------------------------------------------------------------------------------
def repair_boxes(rows: np.ndarray, joints: np.ndarray, visible: np.ndarray,
                 image_size: Optional[Tuple[int, int]]) -> Tuple[np.ndarray, List[str]]:
    """rows [R, 4] 0-based, joints [T, K, 2], visible [T, K] -> (bbox [T, 4], repair notes)."""
    T = joints.shape[0]
    notes: List[str] = []
    R = rows.shape[0]
    if R > T:
        notes.append(f"bbox has {R} rows for {T} frames; dropped the last {R - T}")
        rows, R = rows[:T], T
    out = np.zeros((T, 4), np.float64)
    out[:R] = rows
    valid = np.zeros(T, bool)
    valid[:R] = box_ok(rows)
    rebuilt, zeroed = [], []
    for t in np.flatnonzero(~valid[:R]):
        jb = joints_box(joints[t], visible[t], image_size)
        if jb is not None:
            out[t], valid[t] = jb, True
            rebuilt.append(t)
        else:
            out[t] = zero_box(rows[t])
            zeroed.append(t)
    how = f"the visible joints' box + {BOX_MARGIN:.0%} of its larger side each way"
    if rebuilt:
        notes.append(f"bbox of frame(s) {frames_text(rebuilt)} had zero or negative size; "
                     f"rebuilt from {how}")
    if zeroed:
        notes.append(f"bbox of frame(s) {frames_text(zeroed)} had zero or negative size and too "
                     "few visible joints to rebuild it; left as a zero-size box "
                     "(PCK does not count those frames)")
    if R < T:
        from_joints, copied, none = [], [], []
        for t in range(R, T):
            jb = joints_box(joints[t], visible[t], image_size)
            if jb is not None:
                out[t], valid[t] = jb, True
                from_joints.append(t)
        good = np.flatnonzero(valid)
        for t in range(R, T):
            if valid[t]:
                continue
            if len(good):
                s = int(good[np.argmin(np.abs(good - t))])  # ties: the earlier frame
                out[t] = out[s]
                copied.append((t, s))
            else:
                none.append(t)
        msg = f"bbox has {R} rows for {T} frames"
        if from_joints:
            msg += f"; frame(s) {frames_text(from_joints)} filled from {how}"
        if copied:
            msg += "; " + ", ".join(f"frame {t + 1} copied from frame {s + 1}" for t, s in copied)
            msg += " (too few visible joints)"
        if none:
            msg += (f"; frame(s) {frames_text(none)} left as zero-size boxes (no visible joints "
                    "and no valid box to copy; PCK does not count them)")
        notes.append(msg)
    return out, notes


# ---- the reader --------------------------------------------------------------------------
def read_label(path: str, frames_root: Optional[str] = None) -> dict:
    """One Penn Action label file -> a video record (module docs). frames_root: the
    `frames` folder; when given, the video's frame count is checked against it."""
    path = os.path.abspath(path)
    name = os.path.splitext(os.path.basename(path))[0]
    m = load_mat(path)
    for f in FIELDS:
        field(m, f, path)
    action = _text_field(m, "action", path)
    view = _text_field(m, "pose", path)
    x = rows_field(m, "x", path, K)
    y = rows_field(m, "y", path, K)
    vis = rows_field(m, "visibility", path, K)
    if x.shape != y.shape:
        raise UserError(f"{path}: fields 'x' and 'y' differ in shape: {x.shape} vs {y.shape}")
    if vis.shape != x.shape:
        raise UserError(f"{path}: field 'visibility' has shape {vis.shape} but 'x' has {x.shape}")
    bad = ~np.isin(vis, (0.0, 1.0))
    if bad.any():
        t, k = np.argwhere(bad)[0]
        raise UserError(f"{path}: field 'visibility' must be 0 or 1, found {vis[t, k]} "
                        f"(frame {t + 1}, joint {PENN_ACTION.names[k]})")
    visible = vis == 1.0
    train = _scalar_field(m, "train", path)
    if train not in (1.0, -1.0):
        raise UserError(f"{path}: field 'train' must be 1 (train) or -1 (test), got {train:g}")
    bbox_rows = rows_field(m, "bbox", path, 4)
    dims = numeric_field(m, "dimensions", path).ravel()
    if dims.size != 3:
        raise UserError(f"{path}: field 'dimensions' should be [H W nframes], got shape "
                        f"{np.shape(m['dimensions'])}")
    if not (np.all(np.isfinite(dims)) and np.all(dims[:2] >= 1) and np.all(dims == np.round(dims))):
        raise UserError(f"{path}: field 'dimensions' should hold positive whole numbers "
                        f"[H W nframes], got {dims.tolist()}")
    image_size = (int(dims[0]), int(dims[1]))
    nframes = _scalar_field(m, "nframes", path)
    if not (np.isfinite(nframes) and nframes >= 0 and nframes == round(nframes)):
        raise UserError(f"{path}: field 'nframes' should be a whole number >= 0, got {nframes}")
    nframes = int(nframes)

    repairs: List[str] = []
    T = x.shape[0]
    nonfinite = ~(np.isfinite(x) & np.isfinite(y))
    if (nonfinite & visible).any():
        t, k = np.argwhere(nonfinite & visible)[0]
        raise UserError(f"{path}: fields 'x'/'y': non-finite coordinate ({x[t, k]}, {y[t, k]}) "
                        f"for visible joint {PENN_ACTION.names[k]} in frame {t + 1}")
    if nonfinite.any():
        x, y = np.where(nonfinite, 0.0, x), np.where(nonfinite, 0.0, y)
        repairs.append(f"x/y: {int(nonfinite.sum())} non-finite coordinate(s) of invisible joints "
                       "set to 0 (the files' value for joints that are not annotated)")

    frame_paths: List[str] = []
    n_dir = None
    if frames_root is not None:
        fdir = os.path.join(os.path.abspath(frames_root), name)
        n_dir = count_frames(fdir, FRAME_RE)
        if n_dir < T:
            raise UserError(f"{path}: the labels have {T} frames but {fdir} holds {n_dir} "
                            "frame files (%06d.jpg)")
        frame_paths = [os.path.join(fdir, f"{t + 1:06d}.jpg") for t in range(T)]
    where = ("" if n_dir is None else ", as many as the frames folder holds" if n_dir == T
             else f" (the frames folder holds {n_dir})")
    if nframes != T:
        unchecked = " (frames folder not checked)" if n_dir is None else ""
        repairs.append(f"nframes is {nframes} but x/y/visibility have {T} rows{where}; "
                       f"using {T} frames{unchecked}")
    if int(dims[2]) != T and int(dims[2]) != nframes:
        repairs.append(f"the frame count in 'dimensions' is {int(dims[2])} but x/y/visibility "
                       f"have {T} rows; using {T} frames")
    if n_dir is not None and n_dir > T:
        repairs.append(f"the frames folder holds {n_dir} frames but the labels cover {T}; "
                       f"using frames 1-{T}")

    joints = np.stack([x, y], axis=-1) - 1.0
    bbox, notes = repair_boxes(bbox_rows - 1.0, joints, visible, image_size)
    repairs += notes
    return {
        "name": name, "label_file": path, "frame_paths": frame_paths,
        "joints": joints.astype(np.float32), "visible": visible,
        "bbox": bbox.astype(np.float32), "split": "train" if train == 1.0 else "test",
        "action": action, "view": view, "repairs": repairs, "image_size": image_size,
        "image_size_source": "dimensions", "bbox_source": "labels", "dataset": "penn",
    }


def list_videos(root: str) -> List[str]:
    """The label files (sorted) of a Penn Action root; UserError if root is not one."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise UserError(f"{root}: no such folder")
    labels, frames = os.path.join(root, "labels"), os.path.join(root, "frames")
    if not (os.path.isdir(labels) and os.path.isdir(frames)):
        raise UserError(f"{root}: not a Penn Action root (expected frames/ and labels/ folders)")
    mats = sorted(f for f in os.listdir(labels) if f.endswith(".mat"))
    if not mats:
        raise UserError(f"{labels}: no .mat label files (not a Penn Action root?)")
    return [os.path.join(labels, f) for f in mats]


def read_all(root: str, progress: bool = False) -> List[dict]:
    """Records of every video under root, in name order (fails on the first bad file)."""
    from ..progress import progress_bar

    paths = list_videos(root)
    frames_root = os.path.join(os.path.abspath(root), "frames")
    bar = progress_bar(paths, total=len(paths), desc="labels", unit="file", disable=not progress)
    bar.leave = False  # transient: the caller reports; on error the error line stands alone
    try:
        return [read_label(p, frames_root) for p in bar]
    finally:
        bar.close()
