"""Verification of an exported set: PCK@0.2 of the LiteRT loop on held-out synthetic videos.

The protocol (which videos, how many frames, how they are scored) is dkd_tf.heldout's, the
one `python -m dkd_tf.evaluate` uses for the synthetic set: held-out videos from
FIRST_VIDEO at the input size, whole frames letterboxed (the identity), PCK@0.2 of the box's
larger side over visible joints. The exporter stores the Keras model's PCK under this
protocol in the manifest ("reference"), so verification needs no TensorFlow unless asked for
another protocol.

Everything here is NumPy + OpenCV + the runtime (LiteRT or onnxruntime), except `keras_pck`
(TensorFlow, lazily).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..heldout import FIRST_VIDEO, METRIC, heldout_arrays, pck_of
from .host_loop import HostLoop


def protocol(input_size: int, videos: int, frames: int, seed: int) -> dict:
    """The manifest's "reference" protocol: `videos` held-out videos of `frames` frames."""
    return {"dataset": "synthetic", "first_video": FIRST_VIDEO, "videos": int(videos),
            "frames": int(frames), "seed": int(seed), "size": int(input_size),
            "metric": METRIC}


def same_protocol(a: Optional[dict], b: dict) -> bool:
    keys = ("first_video", "videos", "frames", "seed", "size")
    return a is not None and all(a.get(k) == b.get(k) for k in keys)


def protocol_videos(proto: dict) -> dict:
    """A protocol's videos: {"frames" uint8 [N, T, S, S, 3], "joints" [N, T, K, 2],
    "visible", "bbox"}."""
    return heldout_arrays(proto["size"], proto["videos"], proto["frames"], proto["seed"],
                          proto["first_video"])


def runtime_pck(manifest: dict, folder: str, precision: str, data: dict,
                num_threads: Optional[int] = 2, backend: str = "litert") -> dict:
    """{"pck", "ms": {graph: median ms per call}, "ms_tracked_frame", "ms_first_frame",
    "device"} of the runtime's loop on one backend (litert or onnxruntime)."""
    loop = HostLoop(manifest, folder, precision, num_threads, backend)
    kps = np.stack([loop.video(v)[0] for v in data["frames"]])
    ms = loop.ms_per_call()
    return {"pck": pck_of(kps, data), "ms": ms,
            "ms_tracked_frame": ms["frame_encoder"] + ms["dynamic_conv"],
            "ms_first_frame": ms["frame_encoder"] + ms["pose_initializer"],
            "device": loop.tracker.describe()}


def litert_pck(manifest: dict, folder: str, precision: str, data: dict,
               num_threads: Optional[int] = 2) -> dict:
    """runtime_pck on LiteRT."""
    return runtime_pck(manifest, folder, precision, data, num_threads, "litert")


def keras_keypoints(model, cfg, frames: np.ndarray, method: str = "dark") -> np.ndarray:
    """The Keras tracker (the exported per-frame functions, float) on uint8 frames
    [N, T, S, S, 3] at the input size -> keypoints [N, T, K, 2]."""
    from ..codec import decode_heatmaps
    from ..prediction import predict_videos
    from .calibration import normalise

    images = normalise(frames, cfg.mean, cfg.std)
    heat = predict_videos(model, images)
    kp, _ = decode_heatmaps(heat, cfg.model.input_size, method)
    return kp


def keras_pck(model, cfg, data: dict, method: str = "dark") -> float:
    return pck_of(keras_keypoints(model, cfg, data["frames"], method), data)


def format_table(rows: Dict[str, dict], keras: Optional[float]) -> str:
    """One line per precision: PCK, drop from Keras, ms per call of each graph."""
    head = ("precision", "PCK@0.2", "drop", "pose_initializer", "frame_encoder",
            "dynamic_conv", "tracked frame", "gpu")
    lines = [head]
    if keras is not None:
        lines.append(("keras", f"{keras:.3f}", "-", "-", "-", "-", "-", "-"))
    for prec, r in rows.items():
        drop = "n/a" if keras is None else f"{keras - r['pck']:+.3f}"
        ms = r["ms"]
        lines.append((prec, f"{r['pck']:.3f}", drop,
                      *[f"{ms[g]:.2f} ms" for g in ("pose_initializer", "frame_encoder",
                                                    "dynamic_conv")],
                      f"{r['ms_tracked_frame']:.2f} ms", r.get("gpu", "-")))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths)))
                     for line in lines)
