"""The embedded default data set: synthetic videos of articulated figures in clutter.

Deterministic for (seed, video index), no downloads. Each video: one labelled figure (Penn
Action skeleton, one of `figure.ACTIONS`) on a textured background that the camera pans and
zooms over, moving background blobs, lighting drift, optional distractor figure behind it,
optional occluders that hide joints (those joints are marked invisible), motion blur and
sensor noise. Joints outside the frame are invisible too; the box spans the whole figure.

Difficulty does not depend on the frame index (so a drop of PCK over a video measures a
tracker's drift, not the data): the camera follows the person's wandering and walking, with
a lag, as a camera operator does; lighting starts at a random phase; occluders may already
be in the scene at frame 0. (Before, the person wandered off-centre linearly in time and
every per-frame estimator lost about 0.02 PCK between frames 2-16 and 17-32.)

`python -m dkd_tf.data.synthetic --out DIR` writes the set in the real Penn Action layout
(frames/NNNN/%06d.jpg, labels/NNNN.mat, 1-based pixels) plus preview.png.

Shapes: frames uint8 [T, H, W, 3] RGB; joints float32 [T, 13, 2] 0-based pixels;
visible bool [T, 13]; bbox float32 [T, 4] x1, y1, x2, y2.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
from typing import Optional, Sequence

import cv2
import numpy as np

from ..errors import UserError, run_cli
from ..joints import PENN_ACTION
from .figure import Figure

HELD_OUT_OFFSET = 1_000_000  # video indices of the held-out evaluation stream start here
VALIDATION_OFFSET = 2_000_000  # ... of the validation stream (tuning; dkd_tf.data.splits)


def _texture(rng, h, w):
    """A smooth random pattern in [0.75, 1.25]: stripes, checks or blotches."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:
        ang, per = rng.uniform(0, np.pi), rng.uniform(3, 9)
        t = np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / per)
    elif kind == 1:
        per = rng.uniform(4, 10)
        t = np.sign(np.sin(xx * 2 * np.pi / per) * np.sin(yy * 2 * np.pi / per))
    else:
        t = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 2.0)
        t /= np.abs(t).max() + 1e-6
    return (1.0 + 0.25 * t).astype(np.float32)


def _background(rng, size):
    """A cluttered canvas [S, S, 3] float32, S = 1.6 * size, that the camera moves over."""
    s = int(size * 1.6)
    c0, c1 = rng.uniform(30, 220, 3), rng.uniform(30, 220, 3)
    g = np.linspace(0, 1, s, dtype=np.float32)[:, None, None]
    bg = np.ascontiguousarray(np.broadcast_to(c0 * (1 - g) + c1 * g, (s, s, 3))).astype(np.float32)
    for _ in range(int(rng.integers(15, 40))):
        col = tuple(float(v) for v in rng.uniform(0, 255, 3))
        x, y = (int(v) for v in rng.integers(0, s, 2))
        r = int(rng.integers(size // 30 + 2, size // 5))
        k = rng.integers(4)
        if k == 0:
            cv2.rectangle(bg, (x, y), (x + r, y + int(rng.integers(2, r + 3))), col, -1)
        elif k == 1:
            cv2.circle(bg, (x, y), r // 2 + 1, col, -1, cv2.LINE_AA)
        elif k == 2:  # limb-like bars: the clutter that confuses a per-frame detector
            x2, y2 = (int(v) for v in rng.integers(0, s, 2))
            cv2.line(bg, (x, y), (x + (x2 - x) // 4, y + (y2 - y) // 4), col,
                     int(rng.integers(2, max(3, size // 20))), cv2.LINE_AA)
        else:
            pts = rng.integers(-r, r, (5, 2)) + [x, y]
            cv2.fillPoly(bg, [pts.astype(np.int32)], col, cv2.LINE_AA)
    bg *= _texture(rng, s, s)[..., None]
    noise = cv2.GaussianBlur(rng.standard_normal((s, s)).astype(np.float32), (0, 0), 3)
    bg += 40 * noise[..., None]
    return bg


class SyntheticVideos:
    """Deterministic synthetic pose videos: `video(i)` is the same for the same seed and i."""

    def __init__(self, size: int = 128, num_frames: int = 40, seed: int = 0):
        self.size = int(size)
        self.num_frames = int(num_frames)
        self.seed = int(seed)

    def video(self, index: int) -> dict:
        """-> {"frames", "joints", "visible", "bbox", "action", "view", "index"} (module docs)."""
        rng = np.random.default_rng([self.seed, int(index)])
        # draws added later come from their own stream, so the other draws did not change
        aux = np.random.default_rng([self.seed, int(index), 1])
        S, T = self.size, self.num_frames
        fig = Figure.random(rng)
        bg = _background(rng, S)
        canvas = bg.shape[0]
        # figure placement in canvas pixels: torso length = scale, about 3.4 of them tall
        scale = S * rng.uniform(0.15, 0.23)
        origin0 = np.array([canvas / 2 + rng.uniform(-0.12, 0.12) * S,
                            canvas / 2 + rng.uniform(0.0, 0.1) * S])
        drift = rng.uniform(-0.006, 0.006, 2) * S  # the person wandering, px per frame
        cam_amp = rng.uniform(0, 0.12, 2) * S
        cam_per = rng.uniform(30, 90, 2)
        cam_ph = rng.uniform(0, 2 * np.pi, 2)
        zoom_amp, zoom_per, zoom_ph = rng.uniform(0, 0.15), rng.uniform(30, 90), rng.uniform(0, 6.3)
        light_amp, light_per = rng.uniform(0, 0.3), rng.uniform(20, 60)
        light_ph = aux.uniform(0, 2 * np.pi)
        lag = aux.uniform(0, 8)  # frames the camera trails the person by
        cast = rng.uniform(0.85, 1.15, 3)
        noise_sd = rng.uniform(0, 8)
        blur_p = rng.uniform(0, 0.4)
        fig_tex = _texture(rng, S, S)
        distractor = Figure.random(rng) if rng.random() < 0.35 else None
        d_off = np.array([rng.choice([-1, 1]) * rng.uniform(0.3, 0.55) * S, rng.uniform(-0.1, 0.1) * S])
        d_scale = scale * rng.uniform(0.7, 1.1)
        blobs = [(rng.uniform(0, S, 2), rng.uniform(-1.5, 1.5, 2), int(rng.integers(S // 16, S // 6)),
                  tuple(float(v) for v in rng.uniform(0, 255, 3))) for _ in range(int(rng.integers(0, 4)))]
        occluders = []
        # start times span [-15, T): as many occluders in view at frame 0 as at any frame
        for _ in range(int(rng.integers(0, 4)) if rng.random() < 0.6 else 0):
            t0 = int(rng.integers(-15, max(1, T)))
            occluders.append(dict(t0=t0, t1=t0 + int(rng.integers(4, 16)),
                                  p0=rng.uniform(0.2, 0.8, 2) * S, v=rng.uniform(-2, 2, 2),
                                  wh=rng.uniform(0.12, 0.35, 2) * S,
                                  col=tuple(float(v) for v in rng.uniform(0, 255, 3)),
                                  ang=rng.uniform(0, 180)))

        frames = np.empty((T, S, S, 3), np.uint8)
        joints = np.empty((T, 13, 2), np.float32)
        visible = np.empty((T, 13), bool)
        bbox = np.empty((T, 4), np.float32)
        mask = np.empty((S, S), np.uint8)
        for t in range(T):
            zoom = 1.0 + zoom_amp * np.sin(2 * np.pi * t / zoom_per + zoom_ph)
            follow = drift * (t - lag) + scale * fig.travel(t - lag)  # canvas px
            cam = canvas / 2 + follow + cam_amp * np.sin(2 * np.pi * t / cam_per + cam_ph)
            # canvas -> image: scale by zoom about the camera centre
            A = np.array([[zoom, 0, S / 2 - zoom * cam[0]], [0, zoom, S / 2 - zoom * cam[1]]])
            img = cv2.warpAffine(bg, A, (S, S), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT)
            for (p, v, r, col) in blobs:
                q = p + v * t
                cv2.circle(img, (int(q[0]) % S, int(q[1]) % S), r, col, -1, cv2.LINE_AA)
            if distractor is not None:
                dp, dd = distractor.project(t, A[:, :2] @ (origin0 + d_off + drift * t) + A[:, 2],
                                            d_scale * zoom)
                mask[:] = 0
                distractor.draw(img, mask, dp, dd, d_scale * zoom)
            origin = A[:, :2] @ (origin0 + drift * t) + A[:, 2]
            pts, depth = fig.project(t, origin, scale * zoom)
            mask[:] = 0
            layer = img.copy()
            fig.draw(layer, mask, pts, depth, scale * zoom)
            m = mask > 0
            tex = np.roll(fig_tex, (int(origin[1]), int(origin[0])), axis=(0, 1))
            img[m] = layer[m] * tex[m][:, None]
            occ_mask = np.zeros((S, S), np.uint8)
            for o in occluders:
                if o["t0"] <= t < o["t1"]:
                    c = o["p0"] + o["v"] * (t - o["t0"])
                    box = cv2.boxPoints(((float(c[0]), float(c[1])),
                                         (float(o["wh"][0]), float(o["wh"][1])), o["ang"]))
                    cv2.fillConvexPoly(img, box.astype(np.int32), o["col"], cv2.LINE_AA)
                    cv2.fillConvexPoly(occ_mask, box.astype(np.int32), 255)
            gain = (1 + light_amp * np.sin(2 * np.pi * t / light_per + light_ph)) * cast
            img *= gain.astype(np.float32)
            if rng.random() < blur_p:
                k = int(rng.integers(3, 8))
                ker = np.zeros((k, k), np.float32)
                cv2.line(ker, (0, int(rng.integers(k))), (k - 1, int(rng.integers(k))), 1.0, 1)
                img = cv2.filter2D(img, -1, ker / ker.sum())
            if noise_sd > 0.5:
                img += rng.normal(0, noise_sd, img.shape).astype(np.float32)
            frames[t] = np.clip(img, 0, 255).astype(np.uint8)
            joints[t] = pts
            ix = np.clip(np.round(pts).astype(int), 0, S - 1)
            inside = np.all((pts >= 0) & (pts <= S - 1), axis=1)
            visible[t] = inside & (occ_mask[ix[:, 1], ix[:, 0]] == 0)
            margin = fig.thick["head"] * scale * zoom
            lo = np.clip(pts.min(0) - margin, 0, S - 1)
            hi = np.clip(pts.max(0) + margin, 0, S - 1)
            bbox[t] = [lo[0], lo[1], hi[0], hi[1]]
        view = "side" if abs(abs(fig.yaw) - np.pi / 2) < np.pi / 6 else "front" if abs(fig.yaw) < 1.2 else "back"
        return dict(frames=frames, joints=joints, visible=visible, bbox=bbox,
                    action=fig.action, view=view, index=int(index))

    def arrays(self, indices: Sequence[int]) -> dict:
        """Stacks several videos: frames [N, T, S, S, 3], joints [N, T, 13, 2], ..."""
        vids = [self.video(i) for i in indices]
        return {k: np.stack([v[k] for v in vids]) for k in ("frames", "joints", "visible", "bbox")}


# ---- Penn Action writer ----------------------------------------------------------------
_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by dkd_tf.data.synthetic"


def penn_label_bytes(video: dict, train: bool) -> bytes:
    """The video's labels as a Penn Action .mat file (all DESIGN.md fields, 1-based pixels).

    scipy's savemat stamps the creation time into the 116-byte text header; it is replaced by
    a fixed text so the same seed gives byte-identical files.
    """
    from scipy.io import savemat

    T, S = video["frames"].shape[0], video["frames"].shape[1]
    buf = io.BytesIO()
    savemat(buf, {
        "action": video["action"], "pose": video["view"],
        "x": video["joints"][..., 0].astype(np.float64) + 1.0,
        "y": video["joints"][..., 1].astype(np.float64) + 1.0,
        "visibility": video["visible"].astype(np.float64),
        "train": np.float64(1 if train else -1),
        "bbox": video["bbox"].astype(np.float64) + 1.0,
        "dimensions": np.array([S, S, T], np.float64),
        "nframes": np.float64(T),
    }, do_compression=False, oned_as="row")
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_HEADER.ljust(116, b" ")
    return bytes(data)


def write_penn_layout(out: str, videos: int, frames: int, size: int, seed: int,
                      test_fraction: float = 0.2, progress: bool = True) -> dict:
    """Writes the set under out/ (frames/, labels/, preview.png); returns counts.

    Everything is built in a temporary sibling folder and moved in at the end, so a failure
    leaves out/ as it was.
    """
    from ..visualize import draw_skeleton, image_grid, write_png
    from ..progress import progress_bar

    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"{out}: exists and is not a folder")
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.partial-", dir=parent)
    except OSError as e:
        raise UserError(f"{out}: cannot write here ({e.strerror})") from None
    gen = SyntheticVideos(size, frames, seed)
    n_test = int(round(videos * test_fraction))
    tiles = []
    try:
        os.makedirs(os.path.join(tmp, "frames"))
        os.makedirs(os.path.join(tmp, "labels"))
        for i in progress_bar(range(videos), total=videos, desc="synthetic videos",
                              unit="video", disable=not progress):
            v = gen.video(i)
            name = f"{i + 1:04d}"
            fdir = os.path.join(tmp, "frames", name)
            os.makedirs(fdir)
            for t, fr in enumerate(v["frames"]):
                cv2.imwrite(os.path.join(fdir, f"{t + 1:06d}.jpg"),
                            cv2.cvtColor(fr, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
            with open(os.path.join(tmp, "labels", f"{name}.mat"), "wb") as f:
                f.write(penn_label_bytes(v, train=i < videos - n_test))
            if len(tiles) < 16:
                t = (len(tiles) * 7) % frames
                tiles.append(draw_skeleton(v["frames"][t].copy(), v["joints"][t], PENN_ACTION,
                                           v["visible"][t]))
        if tiles:
            write_png(os.path.join(tmp, "preview.png"), image_grid(tiles, cols=4))
        os.makedirs(out, exist_ok=True)
        for entry in ("frames", "labels", "preview.png"):
            src = os.path.join(tmp, entry)
            if not os.path.exists(src):
                continue
            dst = os.path.join(out, entry)
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            os.replace(src, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"videos": videos, "frames": videos * frames, "train": videos - n_test, "test": n_test}


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dkd_tf.data.synthetic",
                                 description="Write the synthetic video set in the Penn Action layout.")
    ap.add_argument("--out", default="data/synthetic_penn", help="output folder")
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--frames", type=int, default=40, help="frames per video")
    ap.add_argument("--size", type=int, default=256, help="frame side in pixels, a multiple of 32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-fraction", type=float, default=0.2,
                    help="share of videos marked test (train = -1), taken from the end")
    a = ap.parse_args(argv)
    if a.videos <= 0 or a.frames <= 0:
        raise UserError(f"--videos and --frames must be positive (got {a.videos}, {a.frames})")
    if a.size <= 0 or a.size % 32:
        raise UserError(f"--size must be a positive multiple of 32 (got {a.size})")
    if not 0.0 <= a.test_fraction <= 1.0:
        raise UserError(f"--test-fraction must lie in [0, 1] (got {a.test_fraction})")
    import time

    t0 = time.perf_counter()
    info = write_penn_layout(a.out, a.videos, a.frames, a.size, a.seed, a.test_fraction)
    dt = time.perf_counter() - t0
    print(f"wrote {info['videos']} videos ({info['train']} train, {info['test']} test), "
          f"{info['frames']} frames to {os.path.abspath(a.out)} in {dt:.1f} s "
          f"({info['frames'] / dt:.0f} frames/s); preview: {os.path.join(a.out, 'preview.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
