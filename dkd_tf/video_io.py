"""Streaming video in and out (OpenCV + the standard library): constant memory on long videos.

VideoSource yields BGR frames from a file or a camera and says how the stream ended.
Mp4Writer, JsonStreamWriter and CsvStreamWriter write under a temporary name in the target
folder and move it into place on close(), so an output is either absent or complete and
valid; close() after a stream that broke mid-way keeps what was written up to that frame
(a playable MP4, a JSON document with the frames so far).
"""
from __future__ import annotations

import csv
import json
import math
import os
from typing import Iterator, Optional, Tuple

from .errors import UserError
from .io_utils import temp_file

# OpenCV and NumPy are imported where first used, so that the CLI can check its arguments
# and files with this module before any heavy import.


def check_video_file(path: str) -> None:
    """Cheap checks before anything heavy: exists, is a file, is not empty, is readable."""
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not a file")
    if os.path.getsize(path) == 0:
        raise UserError(f"{path}: empty file")
    if not os.access(path, os.R_OK):
        raise UserError(f"{path}: not readable (permissions)")


class VideoSource:
    """Frames of a video file or a camera, one at a time.

    Iterating yields (index, frame uint8 [h, w, 3] BGR). After the loop, `problem` is None
    when the stream ended normally, else a sentence saying where and how it broke (a file
    that stops before the frame count its header declares: truncated or damaged).
    Opening checks that the first frame decodes (UserError otherwise).
    """

    def __init__(self, path: Optional[str] = None, camera: Optional[int] = None,
                 max_frames: Optional[int] = None):
        import cv2

        self._cap = None
        if (path is None) == (camera is None):
            raise ValueError("give exactly one of path or camera")
        self.path, self.camera, self.max_frames = path, camera, max_frames
        self.name = path if path is not None else f"camera {camera}"
        if path is not None:
            check_video_file(path)
            cap = cv2.VideoCapture(path)
            if not cap.isOpened():
                cap.release()
                raise UserError(f"{path}: not a readable video (OpenCV cannot open it: "
                                f"truncated, damaged or not a video)")
        else:
            cap = cv2.VideoCapture(int(camera))
            if not cap.isOpened():
                cap.release()
                raise UserError(f"camera {camera}: cannot open (no such device, or busy)")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise UserError(f"{self.name}: no frame decodes (truncated, damaged or not a video)")
        self._cap, self._first = cap, first
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if math.isfinite(fps) and 0 < fps < 1000 else 30.0
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT) if path is not None else -1
        self.declared_frames = int(n) if math.isfinite(n) and n > 0 else None
        self.size: Tuple[int, int] = (first.shape[1], first.shape[0])  # (w, h)
        self.frames_read = 0
        self.problem: Optional[str] = None

    @property
    def total(self) -> Optional[int]:
        """Frames expected (None when unknown, e.g. a camera)."""
        if self.declared_frames is None:
            return self.max_frames
        return min(self.declared_frames, self.max_frames or self.declared_frames)

    def __iter__(self) -> Iterator[Tuple[int, "np.ndarray"]]:
        frame = self._first
        self._first = None
        try:
            while frame is not None:
                if self.max_frames is not None and self.frames_read >= self.max_frames:
                    return
                if frame.shape[:2] != (self.size[1], self.size[0]):
                    self.problem = (f"frame {self.frames_read} changes size to "
                                    f"{frame.shape[1]}x{frame.shape[0]}")
                    return
                self.frames_read += 1
                yield self.frames_read - 1, frame
                ok, frame = self._cap.read()
                if not ok:
                    frame = None
            self._check_end()
        finally:
            self.release()

    def _check_end(self) -> None:
        want = self.total
        # OpenCV's count is exact for the containers we write (MP4, AVI); allow 1 frame of
        # slack for estimates from a duration.
        if self.path is not None and want is not None and self.frames_read < want - 1:
            self.problem = (f"stream ended after {self.frames_read} of {want} frames "
                            f"(truncated or damaged)")

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def check_output_path(path: str, suffix: Optional[str] = None) -> str:
    """The absolute path, after checking its folder exists and is writable."""
    path = os.path.abspath(path)
    if suffix and not path.lower().endswith(suffix):
        raise UserError(f"{path}: must end in {suffix}")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise UserError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{path}: folder {folder} is not writable")
    if os.path.isdir(path):
        raise UserError(f"{path}: is a folder")
    return path


def _temp_name(path: str, suffix: str) -> str:
    fd, tmp = temp_file(os.path.dirname(path), f".{os.path.basename(path)}.partial-", suffix)
    os.close(fd)
    return tmp


class Mp4Writer:
    """An MP4 (mp4v) written frame by frame; the file appears on close() if any frame was
    written."""

    def __init__(self, path: str, fps: float, size: Tuple[int, int]):
        import cv2

        self.path, self.frames = path, 0
        self._tmp = _temp_name(path, ".mp4")
        self._w = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                  tuple(int(v) for v in size))
        if not self._w.isOpened():
            os.unlink(self._tmp)
            raise UserError(f"{path}: cannot write an mp4v video here (OpenCV VideoWriter)")

    def write(self, frame) -> None:
        self._w.write(frame)
        self.frames += 1

    def close(self) -> Optional[str]:
        if self._w is None:
            return None
        self._w.release()
        self._w = None
        if self.frames == 0:
            os.unlink(self._tmp)
            return None
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        if self._w is not None:
            self._w.release()
            self._w = None
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)


class _TempFileStream:
    """A text file written under a temporary name: `_commit` renames it into place,
    `discard` removes it (subclasses set self.path, self._tmp and self._f)."""

    def _commit(self) -> str:
        self._f.close()
        self._f = None
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
            os.unlink(self._tmp)


class JsonStreamWriter(_TempFileStream):
    """{**header, "frames": [...], **footer} written one frame at a time."""

    def __init__(self, path: str, header: dict):
        self.path, self.frames = path, 0
        self._tmp = _temp_name(path, ".json")
        self._f = open(self._tmp, "w", encoding="utf-8")
        head = json.dumps(header, indent=1)
        self._f.write(head[:-1].rstrip() + (',\n' if header else '') + ' "frames": [')

    def write(self, record: dict) -> None:
        self._f.write(("\n  " if self.frames == 0 else ",\n  ") + json.dumps(record))
        self.frames += 1

    def close(self, footer: Optional[dict] = None) -> Optional[str]:
        if self._f is None:
            return None
        tail = "".join(f",\n {json.dumps(k)}: {json.dumps(v)}" for k, v in (footer or {}).items())
        self._f.write("\n ]" + tail + "\n}\n")
        return self._commit()


class CsvStreamWriter(_TempFileStream):
    """One row per frame and joint: frame, joint_index, joint, x, y, score, initializer."""

    COLUMNS = ("frame", "joint_index", "joint", "x", "y", "score", "initializer")

    def __init__(self, path: str, joints):
        self.path, self.joints, self.frames = path, list(joints), 0
        self._tmp = _temp_name(path, ".csv")
        self._f = open(self._tmp, "w", newline="", encoding="utf-8")
        self._w = csv.writer(self._f)
        self._w.writerow(self.COLUMNS)

    def write(self, index: int, keypoints, scores, initializer: bool) -> None:
        for j, name in enumerate(self.joints):
            self._w.writerow((index, j, name, f"{keypoints[j][0]:.3f}", f"{keypoints[j][1]:.3f}",
                              f"{scores[j]:.4f}", int(bool(initializer))))
        self.frames += 1

    def close(self) -> Optional[str]:
        if self._f is None:
            return None
        return self._commit()
