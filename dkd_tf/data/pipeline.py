"""The one input pipeline for every source (synthetic, Penn Action, JHMDB).

Sources only parse annotations into video records; this module samples clips of T frames,
crops them with one clip-consistent augmentation (scale, rotation, horizontal flip with joint
swap, colour jitter), builds Gaussian targets with the codec, and feeds tf.data.

A video record: {"joints" [T, K, 2] frame pixels, "visible" [T, K] bool, "bbox" [T, 4],
and either "frames" uint8 [T, H, W, 3] RGB or "frames_encoded" [T] JPEG/PNG bytes, decoded
on demand so a whole real data set never has to fit in memory}.
A sample: image float32 [T, S, S, 3] normalised, target [T, m, m, K], weight [T, K]
(1 for visible in-crop joints), plus for evaluation joints [T, K, 2] in crop pixels and the
crop matrix [2, 3].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from ..codec import encode_heatmaps
from ..joints import joint_set_for
from .affine import apply_affine, crop_matrix, letterbox_matrix


def frame_of(rec: dict, t: int) -> np.ndarray:
    """Frame t of a record as uint8 [H, W, 3] RGB."""
    if "frames" in rec:
        return rec["frames"][t]
    img = cv2.imdecode(np.frombuffer(rec["frames_encoded"][t], np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{rec.get('name', '?')}: frame {t} does not decode")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def num_frames(rec: dict) -> int:
    return len(rec["joints"])


@dataclass(frozen=True)
class PipelineConfig:
    input_size: int = 128
    clip_len: int = 5
    stride: int = 1
    sigma: float = 2.0
    mean: Tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: Tuple[float, float, float] = (0.229, 0.224, 0.225)
    crop: str = "frame"          # "frame": letterbox the whole frame; "box": the clip's box
    box_margin: float = 1.25     # box side = margin x the larger side of the union box
    scale: Tuple[float, float] = (0.8, 1.2)
    rotation: float = 25.0
    flip: bool = True
    color: float = 0.25          # brightness/contrast/saturation jitter amplitude


class ClipPipeline:
    """Samples, crops and encodes clips from a list of video records."""

    def __init__(self, records: Sequence[dict], config: PipelineConfig):
        self.records = [r for r in records if num_frames(r) >= 1]
        self.cfg = config
        k = self.records[0]["joints"].shape[1] if self.records else 13
        self.flip_perm = np.array(joint_set_for(k).flip_permutation())
        self.num_joints = k

    # ---- geometry ----------------------------------------------------------------------
    def base_crop(self, rec: dict, ts) -> np.ndarray:
        """The un-augmented crop matrix for frames ts of a record (deterministic)."""
        c = self.cfg
        if c.crop == "frame":
            h, w = frame_of(rec, ts[0]).shape[:2] if "image_size" not in rec else rec["image_size"]
            return letterbox_matrix((h, w), c.input_size)
        b = np.asarray(rec["bbox"], np.float64)[list(ts)]
        ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        if not ok.any():  # no valid box in the clip: the visible joints' box instead
            pts = rec["joints"][list(ts)][rec["visible"][list(ts)]]
            if len(pts) == 0:
                pts = rec["joints"][list(ts)].reshape(-1, 2)
            b = np.array([[*pts.min(0), *pts.max(0)]])
            ok = np.array([True])
        lo, hi = b[ok, :2].min(0), b[ok, 2:].max(0)
        side = max(hi - lo) * c.box_margin
        return crop_matrix((lo + hi) / 2, max(side, 1.0), c.input_size)

    def sample(self, rec: dict, start: int, rng=None) -> dict:
        """One clip from frame `start` (rng None = no augmentation, for evaluation)."""
        c = self.cfg
        n = num_frames(rec)
        ts = [min(start + i * c.stride, n - 1) for i in range(c.clip_len)]
        A = self.base_crop(rec, ts)
        flip = False
        gain = np.ones(3)
        if rng is not None:
            s = rng.uniform(*c.scale)
            r = rng.uniform(-c.rotation, c.rotation) if rng.random() < 0.6 else 0.0
            flip = bool(c.flip and rng.random() < 0.5)
            half = (c.input_size - 1) / 2.0
            M = crop_matrix((half, half), c.input_size / s, c.input_size, r, flip)
            A = np.concatenate([M[:, :2] @ A[:, :2], (M[:, :2] @ A[:, 2] + M[:, 2])[:, None]], 1)
            gain = 1 + rng.uniform(-c.color, c.color, 3) * 0.5 + rng.uniform(-c.color, c.color)
        S = c.input_size
        imgs = np.empty((c.clip_len, S, S, 3), np.float32)
        joints = np.empty((c.clip_len, self.num_joints, 2), np.float32)
        vis = np.empty((c.clip_len, self.num_joints), bool)
        for i, t in enumerate(ts):
            im = cv2.warpAffine(frame_of(rec, t), A, (S, S), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            imgs[i] = im
            joints[i] = apply_affine(rec["joints"][t], A)
            vis[i] = rec["visible"][t]
        if flip:
            joints, vis = joints[:, self.flip_perm], vis[:, self.flip_perm]
        inside = np.all((joints >= 0) & (joints <= S - 1), axis=-1)
        weight = (vis & inside & np.all(np.isfinite(joints), -1)).astype(np.float32)
        imgs = np.clip(imgs * gain.astype(np.float32), 0, 255)
        imgs = (imgs / 255.0 - np.float32(c.mean)) / np.float32(c.std)
        target = encode_heatmaps(joints, weight > 0, S, S // 4, c.sigma)
        return dict(image=imgs.astype(np.float32), target=target, weight=weight,
                    joints=joints, crop=A.astype(np.float32))

    # ---- tf.data ----------------------------------------------------------------------
    def random_clips(self, seed: int):
        """Endless generator of augmented clips (uniform over videos, then start frame)."""
        rng = np.random.default_rng(seed)
        c = self.cfg
        while True:
            rec = self.records[rng.integers(len(self.records))]
            span = (c.clip_len - 1) * c.stride + 1
            start = int(rng.integers(0, max(1, num_frames(rec) - span + 1)))
            d = self.sample(rec, start, rng)
            yield d["image"], d["target"], d["weight"]

    def dataset(self, batch: int, seed: int = 0, squeeze_time: bool = False):
        """tf.data.Dataset of (image, target, weight) batches, prefetched; squeeze_time drops
        the T axis when clip_len is 1 (per-frame training of the initializer)."""
        from ..errors import import_tensorflow

        tf = import_tensorflow()
        c = self.cfg
        S, m, K, T = c.input_size, c.input_size // 4, self.num_joints, c.clip_len
        sig = (tf.TensorSpec((T, S, S, 3), tf.float32), tf.TensorSpec((T, m, m, K), tf.float32),
               tf.TensorSpec((T, K), tf.float32))
        ds = tf.data.Dataset.from_generator(lambda: self.random_clips(seed), output_signature=sig)
        if squeeze_time:
            ds = ds.map(lambda a, b, w: (a[0], b[0], w[0]))
        return ds.batch(batch, drop_remainder=True).prefetch(4)


def evaluation_inputs(records: Sequence[dict], config: PipelineConfig) -> List[dict]:
    """Deterministic whole-video inputs: per record image [T, S, S, 3] and crop [2, 3]."""
    out = []
    for rec in records:
        n = num_frames(rec)
        cfg = PipelineConfig(**{**config.__dict__, "clip_len": n, "stride": 1})
        out.append(ClipPipeline([rec], cfg).sample(rec, 0, rng=None))
    return out
