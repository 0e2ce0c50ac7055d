"""What every motion model of ``facelatent animate`` shares: options, result, which faces, the video's size.

A photo's faces are detected (:func:`inversion.faces.detection.find_faces`), chosen (``--faces``; those
under :data:`MIN_ANIMATED_FACE` px stay still) and, with the photo, shrunk to the video's size
(:func:`output_size`: the photo's own, or its long side at most ``max_side``; area interpolation,
pixel centres at integers). Nothing here imports torch: the warp motion model starts without it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from editor.emotion_spec import EmotionSpec
from editor.trajectory import DEFAULT_DURATION, DEFAULT_FPS, DEFAULT_INTENSITY, validate_timing
from inversion.common.errors import FaceLatentError
from inversion.faces.detection import chosen_indices, find_faces

Progress = Callable[[str, int, int], None]
#: Faces whose detector box is smaller than this (longer side, px) are left still.
MIN_ANIMATED_FACE = 28
#: Projector steps per face after the encoder (flow and paste).
DEFAULT_STEPS = 40
#: Motion models: "warp" moves the photo's pixels with a keypoint-driven warp (editor.warp_pipeline);
#: "flow" carries the generator's optical flow onto the photo; "paste" pastes the generator's face.
MOTION_MODELS = ("auto", "warp", "flow", "paste")
#: The video's long side at most (4K UHD); larger photos are shrunk after detection. 0: no limit.
DEFAULT_MAX_SIDE = 3840
#: Seeds lie in [0, SEED_MAX] for every command (numpy's and the official generate.py's range).
SEED_MAX = 2 ** 32 - 1




class NoFaceError(FaceLatentError):
    """The photo has no face to animate."""


@dataclass
class AnimateOptions:
    """What to make: emotion blend, timing, seed, faces, inversion effort, video quality."""

    emotion: EmotionSpec
    seed: int
    duration: float = DEFAULT_DURATION
    fps: float = DEFAULT_FPS
    intensity: float = DEFAULT_INTENSITY
    faces: Optional[Sequence[int]] = None
    steps: int = DEFAULT_STEPS
    invert_seed: int = 0
    crf: int = 18
    preset: str = "veryfast"
    preview_frames: int = 8
    min_face: float = MIN_ANIMATED_FACE
    chunk: int = 24
    max_side: int = DEFAULT_MAX_SIDE
    motion: str = "auto"


@dataclass
class AnimateResult:
    """What a run made: the video, the animated and still faces, plans, and seconds per stage.

    ``motions`` are the faces' plans (:class:`editor.trajectory.FaceMotion` for flow and paste,
    :class:`editor.expression_motion.ExpressionPlan` for the warp); ``faces`` have a detector ``box``.
    """

    video: Path
    num_frames: int
    size: tuple[int, int]
    animated: list[int]
    still: list[int]
    motions: list
    faces: list
    timings: dict = field(default_factory=dict)
    preview: Optional[np.ndarray] = None
    motion: str = "warp"
    warp_stats: dict = field(default_factory=dict)


def check_options(options: AnimateOptions) -> None:
    """Refuse a seed outside [0, SEED_MAX] and a duration, fps or intensity out of range (one line each)."""
    if not 0 <= int(options.seed) <= SEED_MAX:
        raise FaceLatentError(f"seeds run from 0 to {SEED_MAX}, got {options.seed}")
    validate_timing(options.duration, options.fps, options.intensity)


def no_progress(stage: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""
    return None


def choose_faces(found: list, wanted: Optional[Sequence[int]], min_face: float) -> tuple[list[int], list[int]]:
    """(indices to animate, indices that stay still because they are too small) of the detections."""
    indices = chosen_indices(wanted, len(found))
    small = [i for i in indices if too_small(found[i].box, min_face)]
    return [i for i in indices if i not in small], small


def detect_stage(photo: np.ndarray, options: AnimateOptions):
    """Detect faces; returns (all detections, indices to animate, indices left still)."""
    detection = find_faces(photo)
    found = detection.faces
    if not found:
        raise NoFaceError("no face found in the photo: nothing to animate")
    animated, still = choose_faces(found, options.faces, options.min_face)
    return found, animated, still


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The video's (width, height) for a photo: the photo's own size, or shrunk (aspect kept) so that
    the long side is ``max_side`` when it is larger (``max_side`` 0: no limit)."""
    if max_side <= 0 or max(width, height) <= max_side:
        return int(width), int(height)
    scale = max_side / max(width, height)
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def _shrink(photo: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, float]:
    """``photo`` resized to ``size`` (area interpolation) and the x, y scale factors."""
    h, w = photo.shape[:2]
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    return small, size[0] / w, size[1] / h


def _scale_points(points, sx: float, sy: float) -> np.ndarray:
    """Pixel-centre coordinates (x right, y down) in a photo -> the same points in its resized copy."""
    p = np.asarray(points, dtype=np.float64)
    return (p + 0.5) * np.array([sx, sy]) - 0.5


def shrink_detections(photo: np.ndarray, found: list, max_side: int) -> tuple[np.ndarray, list]:
    """The photo at :func:`output_size` and its detections (``inversion.faces.detection.Face``) scaled with it."""
    size = output_size(photo.shape[1], photo.shape[0], max_side)
    if size == (photo.shape[1], photo.shape[0]):
        return photo, found
    small, sx, sy = _shrink(photo, size)
    edges = np.array([sx, sy, sx, sy])
    scaled = [dataclasses.replace(
        f, box=tuple(float(v) for v in np.asarray(f.box) * edges), keypoints5=_scale_points(f.keypoints5, sx, sy),
        landmarks68=_scale_points(f.landmarks68, sx, sy),
        landmark_box=None if f.landmark_box is None else tuple(float(v) for v in np.asarray(f.landmark_box) * edges))
        for f in found]
    return small, scaled


def shrink_latents(photo: np.ndarray, data, max_side: int):
    """The photo at :func:`output_size` and a latents file of it with boxes and landmarks scaled to match."""
    size = output_size(photo.shape[1], photo.shape[0], max_side)
    if size == (photo.shape[1], photo.shape[0]) or tuple(data.photo_size) != (photo.shape[1], photo.shape[0]):
        return photo, data  # (a size mismatch is refused, with its own message, by faces_from_latents_file)
    import torch  # noqa: PLC0415 (a latents file's landmarks are tensors; only --latents comes here)

    small, sx, sy = _shrink(photo, size)
    faces = [dataclasses.replace(f, box=[float(v) for v in np.asarray(f.box, dtype=np.float64) * [sx, sy, sx, sy]],
                                 landmarks=torch.from_numpy(_scale_points(f.landmarks.numpy(), sx, sy)).float())
             for f in data.faces]
    return small, dataclasses.replace(data, photo_size=size, faces=faces)


def detect_and_shrink(photo: np.ndarray, options: AnimateOptions, progress: Progress):
    """:func:`detect_stage`, then the photo and its detections at the video's size (:func:`shrink_detections`).

    Returns (photo, detections, indices to animate, indices left still)."""
    progress("detecting", 0, 1)
    found, animated, still = detect_stage(photo, options)
    photo, found = shrink_detections(photo, found, options.max_side)
    progress("detecting", 1, 1)
    return photo, found, animated, still


def too_small(box, min_size: float = MIN_ANIMATED_FACE) -> bool:
    """True when a detector box (x0, y0, x1, y1) is too small to animate (longer side < ``min_size`` px)."""
    return max(box[2] - box[0], box[3] - box[1]) < min_size
