"""The prepared-data format (one tf.train.SequenceExample per video) and its readers.

Files in a prepared folder O: `O/<split>-NNNNN-of-NNNNN.tfrecord` (split = train | test;
a video is never cut across shards) and `O/summary.json` (see prepare.py).

SequenceExample, per video:
  context   name, action, split, dataset, view, image_format ("jpeg" | "png"): bytes
            height, width, num_frames (T), num_joints (K): int64
  per frame image/encoded  bytes: the frame file's bytes as stored (never re-encoded)
            joints         float [2K]: x0, y0, x1, y1, ... 0-based pixels
            visible        int64 [K]: 0 | 1
            bbox           float [4]: x1, y1, x2, y2 0-based pixels

Readers:
  read_videos(dir_or_pattern, split) -> iterator of records (NumPy): frames uint8
      [T, H, W, 3] RGB, joints float32 [T, K, 2], visible bool [T, K], bbox float32 [T, 4],
      name, action, split, dataset, view (str), image_size (H, W).
  video_dataset(dir, split) -> tf.data.Dataset of dicts of tensors with the same keys
      (frames uint8 [T, H, W, 3], decoded in the graph with the same pixels as read_videos;
      image_size int32 [2]; strings as tf.string).
  read_summary(dir) -> the summary dict.
"""
from __future__ import annotations

import glob
import json
import os
import re
from typing import Iterator, List, Optional, Sequence

import numpy as np

from ..errors import UserError, import_tensorflow

SHARD_RE = re.compile(r"^(train|test)-(\d{5})-of-(\d{5})\.tfrecord$")
SPLITS = ("train", "test")
_TEXT = ("name", "action", "split", "dataset", "view", "image_format")
_INTS = ("height", "width", "num_frames", "num_joints")


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def encode_video(tf, record: dict, frame_bytes: Sequence[bytes], image_size, image_format: str,
                 ) -> bytes:
    """A video record + its frames' file bytes -> a serialized SequenceExample."""
    tr = tf.train
    joints = np.asarray(record["joints"], np.float32)
    T, K = joints.shape[:2]
    if len(frame_bytes) != T:
        raise ValueError(f"{record['name']}: {len(frame_bytes)} frames for {T} label rows")

    def text(s):
        return tr.Feature(bytes_list=tr.BytesList(value=[str(s or "").encode("utf-8")]))

    def i64(v):
        return tr.Feature(int64_list=tr.Int64List(value=[int(v)]))

    meta = {k: record.get(k, "") for k in ("name", "action", "split", "dataset", "view")}
    ctx = {k: text(v) for k, v in meta.items()}
    ctx["image_format"] = text(image_format)
    for k, v in zip(_INTS, (image_size[0], image_size[1], T, K)):
        ctx[k] = i64(v)
    vis = np.asarray(record["visible"]).astype(np.int64)
    bbox = np.asarray(record["bbox"], np.float32)
    fl = {
        "image/encoded": [tr.Feature(bytes_list=tr.BytesList(value=[b])) for b in frame_bytes],
        "joints": [tr.Feature(float_list=tr.FloatList(value=j.ravel().tolist())) for j in joints],
        "visible": [tr.Feature(int64_list=tr.Int64List(value=v.tolist())) for v in vis],
        "bbox": [tr.Feature(float_list=tr.FloatList(value=b.tolist())) for b in bbox],
    }
    ex = tr.SequenceExample(
        context=tr.Features(feature=ctx),
        feature_lists=tr.FeatureLists(feature_list={
            k: tr.FeatureList(feature=v) for k, v in fl.items()}))
    return ex.SerializeToString()


def decode_frame(data: bytes) -> Optional[np.ndarray]:
    """Encoded JPEG/PNG bytes -> uint8 [H, W, 3] RGB, or None when OpenCV cannot decode it."""
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def decode_video(serialized: bytes, decode_frames: bool = True, where: str = "") -> dict:
    """A serialized SequenceExample -> a NumPy record (module docs); with
    decode_frames=False, "frames_encoded" holds the frames' bytes instead of "frames"."""
    tf = import_tensorflow()
    ex = tf.train.SequenceExample.FromString(serialized)
    c, fl = ex.context.feature, ex.feature_lists.feature_list
    rec = {k: c[k].bytes_list.value[0].decode("utf-8") for k in _TEXT}
    H, W, T, K = (int(c[k].int64_list.value[0]) for k in _INTS)
    rec["image_size"] = (H, W)
    rec["joints"] = np.array([f.float_list.value for f in fl["joints"].feature],
                             np.float32).reshape(T, K, 2)
    rec["visible"] = np.array([f.int64_list.value for f in fl["visible"].feature],
                              np.int64).reshape(T, K) > 0
    rec["bbox"] = np.array([f.float_list.value for f in fl["bbox"].feature],
                           np.float32).reshape(T, 4)
    encoded = [f.bytes_list.value[0] for f in fl["image/encoded"].feature]
    if not decode_frames:
        rec["frames_encoded"] = encoded
        return rec
    frames = np.empty((T, H, W, 3), np.uint8)
    for t, b in enumerate(encoded):
        img = decode_frame(b)
        if img is None or img.shape[:2] != (H, W):
            raise UserError(f"{where or rec['name']}: video {rec['name']} frame {t + 1} does not "
                            f"decode to {H}x{W}")
        frames[t] = img
    rec["frames"] = frames
    return rec


def read_summary(directory: str) -> dict:
    """O/summary.json as a dict; UserError when missing or unreadable."""
    path = os.path.join(os.path.abspath(directory), "summary.json")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found (run python -m dkd_tf.data.prepare first; "
                        "a run that did not finish writes none)")
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable ({e})") from None
    if not isinstance(summary, dict) or not all(s in summary for s in SPLITS):
        raise UserError(f"{path}: not a prepare summary (expected 'train' and 'test')")
    return summary


def shard_files(dir_or_pattern: str, split: Optional[str] = None) -> List[str]:
    """The shard files of a split in a prepared folder (checked complete), or those matching
    a glob pattern. An empty list when the folder's summary reports no videos for split."""
    if os.path.isdir(dir_or_pattern):
        d = os.path.abspath(dir_or_pattern)
        if split not in SPLITS:
            raise UserError(f"split must be 'train' or 'test' (got {split!r})")
        found = {}
        for f in os.listdir(d):
            mt = SHARD_RE.match(f)
            if mt and mt.group(1) == split:
                found.setdefault(int(mt.group(3)), []).append(f)
        if not found:
            if os.path.isfile(os.path.join(d, "summary.json")) and \
                    read_summary(d)[split].get("videos", 0) == 0:
                return []
            raise UserError(f"{d}: no {split} shards ({split}-NNNNN-of-NNNNN.tfrecord); "
                            "run python -m dkd_tf.data.prepare first")
        if len(found) > 1:
            raise UserError(f"{d}: {split} shards of different sets (of-" +
                            ", of-".join(f"{n:05d}" for n in sorted(found)) + "); rerun prepare")
        (n, files), = found.items()
        if len(files) != n:
            raise UserError(f"{d}: {len(files)} of {n} {split} shards present; rerun prepare "
                            "to finish")
        return [os.path.join(d, f) for f in sorted(files)]
    files = sorted(glob.glob(dir_or_pattern))
    if split is not None:
        files = [f for f in files if not SHARD_RE.match(os.path.basename(f))
                 or SHARD_RE.match(os.path.basename(f)).group(1) == split]
    if not files:
        raise UserError(f"{dir_or_pattern}: no such shard files")
    return files


def read_videos(dir_or_pattern: str, split: Optional[str] = None,
                decode_frames: bool = True) -> Iterator[dict]:
    """An iterator over the videos of a split, in shard order (records: module docs). The
    shard files are looked up now (UserError here if there are none); read as iterated."""
    files = shard_files(dir_or_pattern, split)

    def videos():
        if not files:
            return
        tf = import_tensorflow()
        for path in files:
            try:
                for raw in tf.data.TFRecordDataset(path):
                    yield decode_video(raw.numpy(), decode_frames, where=path)
            except (tf.errors.DataLossError, tf.errors.NotFoundError) as e:
                msg = (str(e.message).strip().splitlines() or ["corrupt"])[0]
                raise UserError(f"{path}: unreadable TFRecord ({msg})") from None

    return videos()


def video_dataset(directory: str, split: str, decode_frames: bool = True):
    """A tf.data.Dataset of videos (module docs); frames decoded in the graph.
    With decode_frames=False, "frames_encoded" (tf.string [T]) replaces "frames"."""
    tf = import_tensorflow()
    files = shard_files(directory, split)
    ctx_spec = {k: tf.io.FixedLenFeature([], tf.string) for k in _TEXT}
    ctx_spec.update({k: tf.io.FixedLenFeature([], tf.int64) for k in _INTS})
    seq_spec = {
        "image/encoded": tf.io.FixedLenSequenceFeature([], tf.string),
        "joints": tf.io.VarLenFeature(tf.float32),
        "visible": tf.io.VarLenFeature(tf.int64),
        "bbox": tf.io.FixedLenSequenceFeature([4], tf.float32),
    }

    def parse(raw):
        c, s = tf.io.parse_single_sequence_example(raw, ctx_spec, seq_spec)
        T, K = tf.cast(c["num_frames"], tf.int32), tf.cast(c["num_joints"], tf.int32)
        H, W = tf.cast(c["height"], tf.int32), tf.cast(c["width"], tf.int32)
        out = {k: c[k] for k in _TEXT if k != "image_format"}
        out["image_size"] = tf.stack([H, W])
        out["joints"] = tf.reshape(tf.sparse.to_dense(s["joints"]), [T, K, 2])
        out["visible"] = tf.reshape(tf.sparse.to_dense(s["visible"]), [T, K]) > 0
        out["bbox"] = s["bbox"]
        if decode_frames:
            spec = tf.TensorSpec([None, None, 3], tf.uint8)
            enc = s["image/encoded"]
            # INTEGER_ACCURATE: the same pixels as OpenCV's decoder (read_videos)
            frames = tf.cond(
                tf.equal(c["image_format"], "jpeg"),
                lambda: tf.map_fn(lambda b: tf.io.decode_jpeg(
                    b, channels=3, dct_method="INTEGER_ACCURATE"), enc, fn_output_signature=spec),
                lambda: tf.map_fn(lambda b: tf.io.decode_png(b, channels=3), enc,
                                  fn_output_signature=spec))
            out["frames"] = tf.ensure_shape(tf.reshape(frames, [T, H, W, 3]),
                                            [None, None, None, 3])
        else:
            out["frames_encoded"] = s["image/encoded"]
        return out

    ds = tf.data.TFRecordDataset(tf.constant(files, tf.string))
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
