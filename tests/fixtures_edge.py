"""Shared fixtures of the edge runtime, video CLI and benchmark tests (import them by name).

One small untrained DKD is exported once per test process (fp32 only) with the export
library; tests that change files copy the folder first. (A session fixture imported into
several test modules is set up once per module, so the export itself is cached here.)
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

SMALL_MODEL = {"input_size": 64, "initializer_width": 0.25, "deconv_filters": 32,
               "encoder_width": 0.25, "feature_channels": 8, "kernel_size": 3,
               "distillator_filters": 16}


_CACHE: dict = {}  # one export per process, shared by every test module that imports this


@pytest.fixture(scope="session")
def edge_export(tmp_path_factory):
    """(assets folder, Keras model) of the small model exported at fp32 (read-only: copy
    it with copy_assets before changing anything)."""
    if "export" not in _CACHE:
        _CACHE["export"] = _export_small(tmp_path_factory)
    return _CACHE["export"]


def _export_small(tmp_path_factory):
    pytest.importorskip("tensorflow")
    from dkd_tf.errors import import_tensorflow

    import_tensorflow()
    from dkd_tf.config import tiny, with_overrides
    from dkd_tf.edge.exporter import export_model
    from dkd_tf.models.dkd import DKD

    import keras

    cfg = with_overrides(tiny(), model=SMALL_MODEL)
    keras.utils.set_random_seed(3)  # one fixed network: a failure reproduces
    model = DKD(SMALL_MODEL).build_all(1)
    out = str(tmp_path_factory.mktemp("edge_assets"))
    export_model(model, cfg, out, precisions=("fp32",), checkpoint="", golden=False,
                 gpu_check=False, progress=False, reference_videos=0)
    return out, model


@pytest.fixture(scope="session")
def edge_assets(edge_export) -> str:
    return edge_export[0]


def copy_assets(src: str, dst) -> str:
    """A private copy of an assets folder (for tests that damage it)."""
    dst = str(dst)
    shutil.copytree(src, dst)
    return dst


def edit_manifest(folder: str, fn) -> None:
    path = os.path.join(folder, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    fn(m)
    with open(path, "w") as f:
        json.dump(m, f)


def synthetic_clip(size: int = 64, frames: int = 8, index: int = 0, seed: int = 0) -> dict:
    from dkd_tf.heldout import heldout_video

    return heldout_video(size, frames, seed, index)


def write_video(path: str, frames_rgb, fps: float = 25.0, fourcc: str = "mp4v",
                pad_to=None) -> str:
    """Writes RGB frames with cv2.VideoWriter (BGR on disk); pad_to=(w, h) places each frame
    at the top-left of a larger grey canvas (a non-square video)."""
    import cv2

    h, w = frames_rgb[0].shape[:2]
    W, H = pad_to or (w, h)
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    assert vw.isOpened(), path
    for fr in frames_rgb:
        canvas = np.full((H, W, 3), 90, np.uint8)
        canvas[:h, :w] = fr[..., ::-1]
        vw.write(canvas)
    vw.release()
    return path


def read_video(path: str):
    """All frames (BGR) of a video, as OpenCV decodes them."""
    import cv2

    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(fr)
    cap.release()
    return frames
