"""The embedded default data set: synthetic videos of articulated figures in clutter.

Deterministic for (seed, video index), no downloads. Each video: one labelled figure (Penn
Action skeleton, one of `figure.ACTIONS`) on a textured background that the camera pans and
zooms over, moving background blobs, lighting drift, unlabelled people behind it or at the
side, in half the videos a person of its size walking past it (behind it, or in front and
hiding it: `SyntheticVideos._crosser`), optional occluders that hide joints (those joints
are marked invisible), motion blur and sensor noise. Joints outside the frame are invisible
too; the box spans the whole figure.

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
import dataclasses
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
from .human import HumanBody
from .scene import Scene

HELD_OUT_OFFSET = 1_000_000  # video indices of the held-out evaluation stream start here
VALIDATION_OFFSET = 2_000_000  # ... of the validation stream (tuning; dkd_tf.data.splits)
SMALL_PERSON_SHARE = 0.3     # videos with a small person somewhere in a wide frame
WALK_SHARE = 0.25            # videos forced to "walk" (on top of its 1/7 share of the rest)
CROSSING_SHARE = 0.5         # videos where a second person of the same size walks past


class SyntheticVideos:
    """Deterministic synthetic pose videos: `video(i)` is the same for the same seed and i."""

    def __init__(self, size: int = 128, num_frames: int = 40, seed: int = 0):
        self.size = int(size)
        self.num_frames = int(num_frames)
        self.seed = int(seed)

    def video(self, index: int) -> dict:
        """-> {"frames", "joints", "visible", "bbox", "action", "view", "index"} (module docs)."""
        rng = np.random.default_rng([self.seed, int(index)])
        S, T = self.size, self.num_frames
        # walking is what people in footage mostly do: a third of the videos
        walk = rng.random() < WALK_SHARE
        fig = Figure.random(rng, "walk" if walk else None)
        body = HumanBody(rng, fig)
        canvas = int(S * 1.6)
        # person size (torso length in px; the person is about 3.6 of them tall): mostly as
        # large as the runtime's region hands people to the network (box ~ 0.5-0.85 of the
        # input), sometimes small and off-centre, as in a whole real frame
        small = rng.random() < SMALL_PERSON_SHARE
        scale = S * (rng.uniform(0.06, 0.13) if small else rng.uniform(0.14, 0.24))
        spread = 0.3 if small else (rng.uniform(0.2, 0.4) if rng.random() < 0.12 else 0.1)
        origin0 = np.array([canvas / 2 + rng.choice([-1, 1]) * rng.uniform(0, spread) * S,
                            canvas / 2 + rng.uniform(-0.05, 0.1 + (0.2 if small else 0.0)) * S])
        scene = Scene(rng, S, origin0[1] + 1.9 * scale, 3.6 * scale)
        bg = scene.canvas
        drift = rng.uniform(-0.006, 0.006, 2) * S  # the person wandering, px per frame
        drift[1] *= 0.3                            # mostly along the ground
        cam_amp = rng.uniform(0, 0.1, 2) * S
        cam_per = rng.uniform(30, 90, 2)
        cam_ph = rng.uniform(0, 2 * np.pi, 2)
        zoom_amp, zoom_per, zoom_ph = rng.uniform(0, 0.12), rng.uniform(30, 90), rng.uniform(0, 6.3)
        light_amp, light_per, light_ph = rng.uniform(0, 0.25), rng.uniform(20, 60), rng.uniform(0, 6.3)
        lag = rng.uniform(0, 8)  # frames the camera trails the person by
        cast = rng.uniform(0.85, 1.15, 3)
        light = np.array([rng.uniform(-0.7, 0.7), rng.uniform(-0.8, -0.2), rng.uniform(0.45, 0.9)])
        light = (light / np.linalg.norm(light)).astype(np.float32)
        shadow = rng.uniform(0.15, 0.55) if scene.kind != "gym" else rng.uniform(0.05, 0.3)
        noise_sd = rng.uniform(0, 7)
        blur_p = rng.uniform(0, 0.4)
        defocus = rng.uniform(0.4, 1.0) * S / 128 if rng.random() < 0.2 else 0.0
        jpeg = int(rng.integers(30, 90)) if rng.random() < 0.6 else 0
        # other people, unlabelled: behind the person (smaller, nearer the horizon) or in
        # front of them at the side, partly in view
        others = []
        for _ in range(int(rng.choice(4, p=[0.4, 0.3, 0.2, 0.1]))):
            f = Figure.random(rng)
            near = rng.random() < 0.3
            yb = scene.ground_row(rng, near=near)
            s_o = scene.scale_at(yb) / 3.6
            x = origin0[0] + rng.choice([-1, 1]) * rng.uniform(0.2, 0.75) * S
            others.append(dict(body=HumanBody(rng, f), pelvis=np.array([x, yb - 1.9 * s_o]),
                               scale=s_o, front=yb > origin0[1] + 1.9 * scale,
                               drift=rng.uniform(-0.008, 0.008, 2) * S * np.array([1, 0.2])))
        others.sort(key=lambda o: o["pelvis"][1] + 1.9 * o["scale"])
        crosser = self._crosser(index, origin0, scale, drift, fig, scene)
        occluders = []
        # start times span [-15, T): as many occluders in view at frame 0 as at any frame
        for _ in range(int(rng.integers(0, 4)) if rng.random() < 0.4 else 0):
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
        cover = np.empty((S, S), np.float32)
        for t in range(T):
            zoom = 1.0 + zoom_amp * np.sin(2 * np.pi * t / zoom_per + zoom_ph)
            follow = drift * (t - lag) + scale * fig.travel(t - lag)  # canvas px
            cam = canvas / 2 + follow + cam_amp * np.sin(2 * np.pi * t / cam_per + cam_ph)
            # canvas -> image: scale by zoom about the camera centre
            A = np.array([[zoom, 0, S / 2 - zoom * cam[0]], [0, zoom, S / 2 - zoom * cam[1]]])
            img = cv2.warpAffine(bg, A, (S, S), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT)
            occ_mask = np.zeros((S, S), np.float32)
            for o in others:
                if o["front"]:
                    continue
                o["body"].draw(img, cover, t, A[:, :2] @ (o["pelvis"] + o["drift"] * t) + A[:, 2],
                               o["scale"] * zoom, light)
            if crosser is not None and not crosser["front"]:
                crosser["body"].draw(img, cover, t, A[:, :2] @ crosser["origin"](t) + A[:, 2],
                                     crosser["scale"] * zoom, light)
            origin = A[:, :2] @ (origin0 + drift * t) + A[:, 2]
            pts, _ = fig.project(t, origin, scale * zoom)
            scene.shadow(img, pts[[11, 12]], 0.5 * scale * zoom * body.build, light, shadow)
            cover[:] = 0
            pts = body.draw(img, cover, t, origin, scale * zoom, light)
            for o in others:
                if o["front"]:
                    o["body"].draw(img, occ_mask, t, A[:, :2] @ (o["pelvis"] + o["drift"] * t) + A[:, 2],
                                   o["scale"] * zoom, light)
            if crosser is not None and crosser["front"]:
                crosser["body"].draw(img, occ_mask, t, A[:, :2] @ crosser["origin"](t) + A[:, 2],
                                     crosser["scale"] * zoom, light)
            for o in occluders:
                if o["t0"] <= t < o["t1"]:
                    c = o["p0"] + o["v"] * (t - o["t0"])
                    box = cv2.boxPoints(((float(c[0]), float(c[1])),
                                         (float(o["wh"][0]), float(o["wh"][1])), o["ang"]))
                    cv2.fillConvexPoly(img, box.astype(np.int32), o["col"], cv2.LINE_AA)
                    cv2.fillConvexPoly(occ_mask, box.astype(np.int32), 1.0)
            gain = (1 + light_amp * np.sin(2 * np.pi * t / light_per + light_ph)) * cast
            img *= gain.astype(np.float32)
            if defocus > 0:
                img = cv2.GaussianBlur(img, (0, 0), defocus)
            if rng.random() < blur_p:
                k = int(rng.integers(3, 8))
                ker = np.zeros((k, k), np.float32)
                cv2.line(ker, (0, int(rng.integers(k))), (k - 1, int(rng.integers(k))), 1.0, 1)
                img = cv2.filter2D(img, -1, ker / ker.sum())
            if noise_sd > 0.5:
                img += rng.normal(0, noise_sd, img.shape).astype(np.float32)
            frame = np.clip(img, 0, 255).astype(np.uint8)
            if jpeg:  # compression artefacts, as in every real video
                ok, enc = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
                frame = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
            frames[t] = frame
            joints[t] = pts
            ix = np.clip(np.round(pts).astype(int), 0, S - 1)
            inside = np.all((pts >= 0) & (pts <= S - 1), axis=1)
            visible[t] = inside & (occ_mask[ix[:, 1], ix[:, 0]] < 0.5)
            margin = fig.thick["head"] * scale * zoom
            lo = np.clip(pts.min(0) - margin, 0, S - 1)
            hi = np.clip(pts.max(0) + margin, 0, S - 1)
            bbox[t] = [lo[0], lo[1], hi[0], hi[1]]
        view = "side" if abs(abs(fig.yaw) - np.pi / 2) < np.pi / 6 else "front" if abs(fig.yaw) < 1.2 else "back"
        return dict(frames=frames, joints=joints, visible=visible, bbox=bbox,
                    action=fig.action, view=view, index=int(index), scene=scene.kind)

    def _crosser(self, index, origin0, scale, drift, fig, scene) -> Optional[dict]:
        """A second person of about the labelled one's size who walks past them (behind, or
        in front and hiding them), or None: {"body", "origin": t -> canvas origin [2],
        "scale", "front"}.

        Why: in street footage people walk past each other all the time, and while two
        bodies overlap a per-frame detector cannot tell whose limbs are whose; the tracker's
        previous heatmap can. The crossing frame is uniform over [-8, T + 8), so crossings
        are as likely early in a video as late (no drift by construction). Drawn from its own
        random stream, so every other part of every video is what it was without it.
        """
        rng = np.random.default_rng([self.seed, int(index), 1])
        if rng.random() >= CROSSING_SHARE:
            return None
        S, T = self.size, self.num_frames
        front = bool(rng.random() < 0.35)
        ratio = rng.uniform(1.0, 1.15) if front else rng.uniform(0.8, 1.0)
        s_c = scale * ratio
        # feet on the ground row where the perspective gives that size
        feet = scene.horizon + ratio * (origin0[1] + 1.9 * scale - scene.horizon)
        sign = rng.choice([-1.0, 1.0])
        v = sign * rng.uniform(0.012, 0.03) * S   # image px per frame relative to the person
        t_c = rng.uniform(-8, T + 8)               # frame at which the two pelvises align
        dx = rng.normal(0, 0.08) * S               # how far off-centre they pass
        f = Figure.random(rng, "walk")
        # in profile, facing the way they walk (yaw > 0 walks towards the image's right)
        f = dataclasses.replace(f, yaw=sign * rng.uniform(1.1, 1.9))
        body = HumanBody(rng, f)

        def origin(t: float) -> np.ndarray:
            person = origin0 + drift * t + scale * fig.travel(t)
            target = np.array([person[0] + dx + v * (t - t_c), feet - 1.9 * s_c])
            return target - s_c * f.travel(t)      # so the pelvis walks the target path

        return dict(body=body, origin=origin, scale=s_c, front=front)

    def arrays(self, indices: Sequence[int]) -> dict:
        """Stacks several videos: frames [N, T, S, S, 3], joints [N, T, 13, 2], ..."""
        vids = [self.video(i) for i in indices]
        return {k: np.stack([v[k] for v in vids]) for k in ("frames", "joints", "visible", "bbox")}


# ---- Penn Action writer ----------------------------------------------------------------
_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by dkd_tf.data.synthetic"


def penn_label_bytes(video: dict, train: bool) -> bytes:
    """The video's labels as a Penn Action .mat file: every field of a real one (action,
    pose, x, y, visibility, train, bbox, dimensions, nframes; docs/design.md §3), 1-based
    pixels.

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
