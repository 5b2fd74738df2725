"""Validate a Penn Action or JHMDB copy and write it as sharded TFRecords.

  python -m dkd_tf.data.prepare {penn,jhmdb} --root R --out O [--split N] [--check]
                                [--shard-frames N]

Output: O/<split>-NNNNN-of-NNNNN.tfrecord (split = train | test), one SequenceExample per
video holding every frame's file bytes as stored (format: tfrecords.py), so no video is cut
across shards, and O/summary.json:
  {"train": {"videos": n, "frames": n, "shards": n, "repairs": [{"file", "what"}],
             "skipped": [{"video", "reason"}]}, "test": {...}}   (a side with no videos: 0)

Order of work: read and validate every label (penn_action / jhmdb loaders), check that every
frame file exists, then read and decode every frame of the shards still to write (format,
end marker, decodes, one size per video), and only then import TensorFlow and write. Any bad
input stops the run before anything is written, with one line naming the file and the
problem (exit 2): a root that is not the dataset, a label with a missing or misshaped field,
non-finite coordinates of a visible joint, a frames folder with fewer frames than the labels,
a missing, unreadable or truncated image, frames of different sizes in one video, a split
that lists no clips. Fail fast, not skip: a silently smaller benchmark is worse than a clear
error. `skipped` lists only videos skipped on purpose: those with zero annotated frames.
`repairs` lists what the loaders repaired (their module docs) and frame sizes that disagree
with Penn Action's `dimensions` field (the frames win).

Resumable: videos are assigned to shards deterministically (sorted by name, filled in order
up to --shard-frames frames; a longer video gets a shard of its own). Each shard is written
under a temporary name in O and renamed when complete, and O/.prepare-state.json records a
fingerprint of its content (labels, frame file names, sizes and mtimes). A rerun keeps every
shard whose file exists with the same fingerprint (not rewritten, not re-decoded) and writes
the rest; shards of an older plan are removed once the new set is complete. summary.json is
written last, so it exists only for a complete set.

--check validates everything (all frames decoded), prints the report and writes nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError, import_tensorflow, quiet_libraries, run_cli
from ..io_utils import atomic_write_json, ensure_writable_dir
from ..progress import progress_bar
from .tfrecords import SHARD_RE, SPLITS, encode_video, shard_name

FORMAT_VERSION = 1
STATE_FILE = ".prepare-state.json"
PARTIAL_RE = re.compile(r"^\.partial-(\d+)-.+\.tfrecord$")
DEFAULT_SHARD_FRAMES = 2000
REPORT_LINES = 20  # repairs printed after a write (all of them with --check)


@contextmanager
def _bar(total: int, desc: str, unit: str, show: bool):
    bar = progress_bar(total=total, desc=desc, unit=unit, disable=not show)
    bar.leave = False  # transient: the report follows; on error the error line stands alone
    try:
        yield bar
    finally:
        bar.close()


def load_records(dataset: str, root: str, split: Optional[int], show: bool) -> List[dict]:
    if dataset == "penn":
        from .penn_action import read_all

        return read_all(root, progress=show)
    from .jhmdb import read_all

    return read_all(root, split=split, progress=show)


def pack_shards(videos: Sequence[dict], shard_frames: int) -> List[List[dict]]:
    """Videos sorted by name, filled in order into shards of at most shard_frames frames
    (a longer video alone in its shard)."""
    shards: List[List[dict]] = []
    n = shard_frames + 1
    for v in sorted(videos, key=lambda r: r["name"]):
        T = len(v["frame_paths"])
        if not shards or n + T > shard_frames:
            shards.append([])
            n = 0
        shards[-1].append(v)
        n += T
    return shards


def _fingerprint(dataset: str, videos: Sequence[dict]) -> str:
    """sha1 of the shard's content: labels and each frame file's name (folder/file, so a
    moved dataset still matches), size and mtime; UserError for a missing frame file."""
    h = hashlib.sha1(f"{FORMAT_VERSION}|{dataset}".encode())
    for v in videos:
        h.update(json.dumps([v["name"], v["split"], v["action"], v.get("view", "")]).encode())
        for k in ("joints", "visible", "bbox"):
            h.update(np.ascontiguousarray(v[k]).tobytes())
        for p in v["frame_paths"]:
            try:
                st = os.stat(p)
            except FileNotFoundError:
                raise UserError(f"{p}: frame file missing (video {v['name']} has "
                                f"{len(v['frame_paths'])} labelled frames)") from None
            rel = os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p))
            h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _image_kind(data: bytes) -> Optional[str]:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def check_frames(video: dict, bar) -> Tuple[Tuple[int, int], str, List[str]]:
    """Reads and decodes every frame -> ((H, W), image format, repair notes); UserError for
    a missing, unreadable or truncated image or frames of different sizes."""
    import cv2

    size, kind0 = None, None
    for t, p in enumerate(video["frame_paths"]):
        try:
            with open(p, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise UserError(f"{p}: frame file missing (video {video['name']})") from None
        except OSError as e:
            raise UserError(f"{p}: cannot read ({e.strerror})") from None
        kind = _image_kind(data)
        if kind is None:
            raise UserError(f"{p}: unreadable image (not a JPEG or PNG file)")
        end = b"\xff\xd9" if kind == "jpeg" else b"IEND"
        if end not in data[-1024:]:
            raise UserError(f"{p}: unreadable {kind.upper()} (truncated: no end marker)")
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise UserError(f"{p}: unreadable {kind.upper()} (does not decode)")
        if size is None:
            size, kind0 = img.shape[:2], kind
        elif img.shape[:2] != size or kind != kind0:
            raise UserError(f"{p}: frame is a {img.shape[0]}x{img.shape[1]} {kind.upper()} but "
                            f"frame 1 of video {video['name']} is a {size[0]}x{size[1]} "
                            f"{kind0.upper()}")
        bar.update(1)
    notes = []
    want = video.get("image_size")
    if want is not None and tuple(want) != tuple(size):
        if video.get("image_size_source") == "puppet_mask":
            raise UserError(f"{video['frame_paths'][0]}: frames are {size[0]}x{size[1]} but the "
                            f"puppet mask of {video['name']} is {want[0]}x{want[1]}")
        notes.append(f"dimensions say {want[0]}x{want[1]} (HxW) but the frames are "
                     f"{size[0]}x{size[1]}; using the frames' size")
    return (int(size[0]), int(size[1])), kind0, notes


def _load_state(out: str) -> dict:
    path = os.path.join(out, STATE_FILE)
    try:
        with open(path) as f:
            state = json.load(f)
        if state.get("version") == FORMAT_VERSION and isinstance(state.get("shards"), dict):
            return state
    except (OSError, ValueError, AttributeError):
        pass
    return {"version": FORMAT_VERSION, "shards": {}}


def _remove_dead_partials(out: str) -> None:
    """Removes temporary shard files left by runs that were killed."""
    for f in os.listdir(out):
        mt = PARTIAL_RE.match(f)
        if not mt:
            continue
        pid = int(mt.group(1))
        alive = pid == os.getpid()
        if not alive:
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        if not alive:
            try:
                os.unlink(os.path.join(out, f))
            except OSError:
                pass


def write_shard(tf, out: str, name: str, videos: Sequence[dict], info: Dict[str, tuple],
                bar) -> None:
    """Writes one shard under a temporary name and renames it when complete."""
    final = os.path.join(out, name)
    tmp = os.path.join(out, f".partial-{os.getpid()}-{name}")
    try:
        with tf.io.TFRecordWriter(tmp) as w:
            for v in videos:
                frames = []
                for p in v["frame_paths"]:
                    with open(p, "rb") as f:
                        frames.append(f.read())
                size, kind = info[v["name"]]
                w.write(encode_video(tf, v, frames, size, kind))
                bar.update(len(frames))
        os.replace(tmp, final)
    except (OSError, tf.errors.OpError) as e:
        why = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e)
        raise UserError(f"{final}: cannot write ({str(why).strip().splitlines()[0]})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def format_report(dataset: str, summary: dict, max_lines: Optional[int]) -> str:
    lines = []
    for side in SPLITS:
        s = summary[side]
        lines.append(f"{dataset} {side}: {s['videos']} videos, {s['frames']} frames, "
                     f"{len(s['repairs'])} repairs, {len(s['skipped'])} skipped")
    items = [f"  repaired {r['file']}: {r['what']}" for side in SPLITS
             for r in summary[side]["repairs"]]
    items += [f"  skipped {r['video']}: {r['reason']}" for side in SPLITS
              for r in summary[side]["skipped"]]
    if max_lines is not None and len(items) > max_lines:
        items = items[:max_lines] + [f"  ... {len(items) - max_lines} more in summary.json"]
    return "\n".join(lines + items)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m dkd_tf.data.prepare",
        description="Validate Penn Action or JHMDB and write sharded TFRecords + summary.json.")
    ap.add_argument("dataset", choices=("penn", "jhmdb"))
    ap.add_argument("--root", required=True, help="the dataset's folder")
    ap.add_argument("--out", help="output folder (not needed with --check)")
    ap.add_argument("--split", type=int, default=None,
                    help="JHMDB split 1, 2 or 3 (default 1); Penn Action has one fixed split")
    ap.add_argument("--check", action="store_true",
                    help="validate everything (decodes every frame), report, write nothing")
    ap.add_argument("--shard-frames", type=int, default=DEFAULT_SHARD_FRAMES,
                    help="frames per shard at most (a longer video gets its own shard)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    a = ap.parse_args(argv)
    quiet_libraries()
    if a.shard_frames < 1:
        raise UserError(f"--shard-frames must be at least 1 (got {a.shard_frames})")
    if a.dataset == "penn" and a.split is not None:
        raise UserError("--split applies to jhmdb only "
                        "(Penn Action has one fixed train/test split)")
    split = (1 if a.split is None else a.split) if a.dataset == "jhmdb" else None
    if not a.check and not a.out:
        raise UserError("--out is required (or use --check to validate only)")
    out = os.path.abspath(a.out) if a.out and not a.check else None
    if out and os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"{out}: exists and is not a folder")
    show = not a.no_progress and sys.stderr.isatty()
    t0 = time.perf_counter()

    # 1. labels (the loaders validate and repair), 2. the shard plan, frame files exist
    records = load_records(a.dataset, a.root, split, show)
    summary = {s: {"videos": 0, "frames": 0, "shards": 0, "repairs": [], "skipped": []}
               for s in SPLITS}
    kept_videos = {s: [] for s in SPLITS}
    for r in records:
        side = summary[r["split"]]
        side["repairs"] += [{"file": r["label_file"], "what": w} for w in r["repairs"]]
        if len(r["frame_paths"]) == 0:
            side["skipped"].append({"video": r["name"], "reason": "no annotated frames"})
        else:
            kept_videos[r["split"]].append(r)
    plan = []  # (side, shard file name, videos, fingerprint)
    for side in SPLITS:
        shards = pack_shards(kept_videos[side], a.shard_frames)
        for i, vids in enumerate(shards):
            plan.append((side, shard_name(side, i, len(shards)), vids,
                         _fingerprint(a.dataset, vids)))
        summary[side]["videos"] = len(kept_videos[side])
        summary[side]["frames"] = sum(len(v["frame_paths"]) for v in kept_videos[side])
        summary[side]["shards"] = len(shards)

    # 3. decode the frames of every shard still to write (all of them with --check)
    state = _load_state(out) if out and os.path.isdir(out) else {"version": FORMAT_VERSION,
                                                                  "shards": {}}
    done = {name for _, name, _, key in plan
            if out and state["shards"].get(name, {}).get("key") == key
            and os.path.isfile(os.path.join(out, name))}
    todo = [p for p in plan if p[1] not in done]
    info: Dict[str, tuple] = {}
    frame_repairs: Dict[str, List[dict]] = {}
    n_check = sum(len(v["frame_paths"]) for _, _, vids, _ in todo for v in vids)
    with _bar(n_check, "frames checked", "frame", show) as bar:
        for side, name, vids, _ in todo:
            frame_repairs[name] = []
            for v in vids:
                size, kind, notes = check_frames(v, bar)
                info[v["name"]] = (size, kind)
                frame_repairs[name] += [{"file": v["label_file"], "what": w} for w in notes]
    for side, name, _, _ in plan:
        reps = frame_repairs[name] if name in frame_repairs else \
            state["shards"][name].get("frame_repairs", [])
        summary[side]["repairs"] += reps
    if a.check:
        print(format_report(a.dataset, summary, None))
        dt = time.perf_counter() - t0
        total = summary["train"]["frames"] + summary["test"]["frames"]
        print(f"check passed: {len(records)} videos, {total} frames in {dt:.1f} s "
              f"({total / max(dt, 1e-9):.0f} frames/s); nothing written")
        return 0

    # 4. write: only now is TensorFlow imported
    out = ensure_writable_dir(out)
    _remove_dead_partials(out)
    plan_names = {name for _, name, _, _ in plan}
    stale = [f for f in os.listdir(out) if SHARD_RE.match(f) and f not in plan_names]
    summary_path = os.path.join(out, "summary.json")
    if (todo or stale) and os.path.exists(summary_path):
        os.unlink(summary_path)  # a summary exists only beside a complete set
    n_write = sum(len(v["frame_paths"]) for _, _, vids, _ in todo for v in vids)
    t_check = time.perf_counter() - t0
    t_tf = t_write = 0.0
    if todo:
        t1 = time.perf_counter()
        tf = import_tensorflow()
        t_tf = time.perf_counter() - t1
        state["shards"] = {k: v for k, v in state["shards"].items() if k in plan_names}
        with _bar(n_write, "frames written", "frame", show) as bar:
            for side, name, vids, key in todo:
                state["shards"].pop(name, None)
                atomic_write_json(os.path.join(out, STATE_FILE), state)
                write_shard(tf, out, name, vids, info, bar)
                state["shards"][name] = {"key": key, "videos": [v["name"] for v in vids],
                                         "frame_repairs": frame_repairs[name]}
                atomic_write_json(os.path.join(out, STATE_FILE), state)
        t_write = time.perf_counter() - t1 - t_tf
    for f in stale:
        os.unlink(os.path.join(out, f))
    state["shards"] = {k: v for k, v in state["shards"].items() if k in plan_names}
    atomic_write_json(os.path.join(out, STATE_FILE), state)
    atomic_write_json(summary_path, summary)
    dt = time.perf_counter() - t0
    print(format_report(a.dataset, summary, REPORT_LINES))
    total = summary["train"]["frames"] + summary["test"]["frames"]
    print(f"{out}: wrote {len(todo)} shard(s) ({n_write} frames), kept {len(done)}, removed "
          f"{len(stale)} stale; {total} frames in all. {dt:.1f} s: labels + frame checks "
          f"{t_check:.1f} s, TensorFlow import {t_tf:.1f} s, writing {t_write:.1f} s "
          f"({n_write / max(dt - t_tf, 1e-9):.0f} frames/s excluding the import)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
