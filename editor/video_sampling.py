"""Frames of a video file or a camera, one every ``every`` seconds, as ``(time in seconds, BGR frame)``.

A file is sampled on its own clock (frame ``k`` at ``k / fps``; the first frame at or after each
multiple of ``every``, within half a frame); a camera on the wall clock, until the caller stops.
Frames are OpenCV's uint8 ``H x W x 3`` BGR.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from inversion.common.errors import FaceLatentError, ImageReadError


def _check_every(every: float) -> None:
    if not every > 0:
        raise FaceLatentError(f"--every must be a positive number of seconds, not {every}")


def video_samples(path: Path, every: float) -> Iterator[tuple[float, np.ndarray]]:
    """One frame of the video at ``path`` every ``every`` seconds; one clear error for a bad file."""
    _check_every(every)
    # FFmpeg's own log lines (e.g. "moov atom not found") never reach the user: the errors below say it once.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ImageReadError(f"cannot read video {path}: not a video, or a truncated or damaged one")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    if fps <= 0:
        raise ImageReadError(f"video {path} does not say its frame rate")
    index, next_time = 0, 0.0
    try:
        while True:
            ok = capture.grab()
            if not ok:
                break
            t = index / fps
            index += 1
            if t + 0.5 / fps < next_time:
                continue
            ok, frame = capture.retrieve()
            if not ok:
                break
            next_time += every
            yield t, frame
    finally:
        capture.release()
    if index == 0:
        raise ImageReadError(f"cannot read video {path}: no frame could be decoded (truncated or damaged)")


def camera_samples(index: int, every: float) -> Iterator[tuple[float, np.ndarray]]:
    """Frames of camera ``index`` every ``every`` seconds of wall-clock time, until the caller stops."""
    _check_every(every)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our one-line error instead of WARN lines
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise ImageReadError(f"cannot open camera {index} (webcam:{index})")
    start = time.monotonic()
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                raise ImageReadError(f"camera {index} stopped delivering frames")
            t = time.monotonic() - start
            yield t, frame
            time.sleep(max(0.0, every - (time.monotonic() - start - t)))
    finally:
        capture.release()
