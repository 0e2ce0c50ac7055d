"""The end-to-end animate pipeline: photo -> video in which every face performs an emotion.

Motion models (``options.motion``, :func:`choose_motion`):

* **warp** (the default for the embedded 64 px grey generator): detect, then
  :mod:`editor.warp_pipeline` sets each face's landmarks to the emotion with the expression model and
  moves the photo's own pixels with one smooth field per frame; no generator, no inversion;
* **flow** and **paste** (a user's sharp colour generator): the stages below, the generator's
  rendering carried onto the photo by optical flow or pasted.

Stages of flow and paste (each a plain function of explicit inputs; the CLI only wires options and
prints):

1. **detect** faces and 68 landmarks (:func:`inversion.faces.detection.find_faces`); faces smaller than
   :data:`editor.face_edit.MIN_ANIMATED_FACE` stay still;
2. **align** each chosen face with the generator's ``config["alignment"]`` variant, at the
   generator's resolution (to invert) and at the face's own size (to composite);
3. **invert**: encoder (when the generator has one) + a few projector steps
   (:func:`inversion.photo_inversion.invert_photo`, whose record is what ``facelatent invert``
   saves), or the latents file of ``facelatent invert`` (``latents``); either record gives the
   editable faces (:func:`editor.face_edit.faces_from_latents_file`);
4. **plan**: per face a seeded motion plan (:func:`editor.trajectory.plan_faces`: onset, rise,
   apex, living hold, head motion) and latent noise restricted to the span of the direction set's
   emotion directions (the expression subspace, leaving identity alone); the latent path
   ``w(t) = w0 + s(t)·d + n(t) + b(t)·d_blink`` with ``d`` the (blended) direction at
   :data:`EDIT_SCALE` times its recommended strength (``s`` peaks near ``--intensity``, so the
   default intensity gives the recommended strength itself) and, when the direction set has an
   ``extras["blink"]`` direction, blinks ``b(t)`` in [0, 1] at :data:`BLINK_RATE_HZ` along it at
   its recommended strength (sets without one give no blinks);
5. **render + composite + encode**, streaming chunk by chunk (:mod:`editor.render`,
   :class:`editor.video.VideoWriter`): exactly ``round(duration · fps)`` frames, H.264 yuv420p.

Output size: a photo whose long side exceeds ``options.max_side`` (default
:data:`DEFAULT_MAX_SIDE`, 4K) is shrunk right after detection (area interpolation; boxes and
landmarks scaled with it, pixel centres at integers), so every later stage and the video work at
that size: memory and time stay bounded whatever the photo's size (:func:`output_size`).

Randomness: the run seed drives every motion plan; inversion uses seeds ``invert_seed + face
index`` (the same latent whatever the run seed), so the same seed gives the same video bit for bit.
``progress(stage, done, total)`` is called as the stages advance; :class:`AnimateResult` carries
the seconds each stage took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from directions.direction_file import DirectionSet
from editor.emotion_spec import EmotionSpec
from editor.face_edit import MIN_ANIMATED_FACE, EditableFace, faces_from_latents_file, too_small
from editor.render import FrameCompositor, render_frames
from editor.latent_path import blend_directions, latent_path
from editor.trajectory import (
    DEFAULT_DURATION, DEFAULT_FPS, DEFAULT_INTENSITY, FaceMotion, head_transforms, latent_noise, plan_faces,
    validate_timing,
)
from editor.video import encode_frames
from inversion.common.errors import FaceLatentError
from inversion.photo_inversion import InversionSettings, align_detections, chosen_indices, invert_photo

Progress = Callable[[str, int, int], None]
DEFAULT_STEPS = 40
#: Mapped samples for the projector's W statistics (fewer than ``facelatent invert``'s 10000: animate
#: runs a few steps from the encoder's start).
W_STATS_SAMPLES = 2000
#: The apex edit at --intensity 1, in units of the directions' recommended strengths. The default
#: directions' recommended strength is *measured*: the smallest edit at which three quarters of the
#: calibration faces are classified as the emotion (or the best share), capped where the mean dlib
#: identity drift reaches 0.5 (directions.calibration). So the default intensity (0.7) gives exactly
#: that strength and intensity 1 about 1.43 times it (more expression, more identity drift).
EDIT_SCALE = 1.0 / DEFAULT_INTENSITY
#: Blinks per second (a Poisson rate; people blink about 15-20 times a minute) when the direction
#: set has a blink direction.
BLINK_RATE_HZ = 0.3
#: Latent noise: expected norm as a fraction of the direction's recommended strength.
NOISE_FRACTION = 0.12
#: Motion models: "warp" moves the photo's pixels with a keypoint-driven warp (editor.warp_pipeline);
#: "flow" carries the generator's optical flow onto the photo; "paste" pastes the generator's face.
MOTION_MODELS = ("auto", "warp", "flow", "paste")
#: ``auto`` pastes a colour generator's faces from this resolution up; below it, it warps.
PASTE_MIN_RESOLUTION = 256
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
    """What a run made: the video, the animated and still faces, plans, and seconds per stage."""

    video: Path
    num_frames: int
    size: tuple[int, int]
    animated: list[int]
    still: list[int]
    motions: list[FaceMotion]
    faces: list[EditableFace]
    timings: dict = field(default_factory=dict)
    preview: Optional[np.ndarray] = None
    motion: str = "warp"
    warp_stats: dict = field(default_factory=dict)


def _noop(stage: str, done: int, total: int) -> None:
    return None


def choose_faces(found: list, wanted: Optional[Sequence[int]], min_face: float) -> tuple[list[int], list[int]]:
    """(indices to animate, indices that stay still because they are too small) of the detections."""
    indices = chosen_indices(wanted, len(found))
    small = [i for i in indices if too_small(found[i].box, min_face)]
    return [i for i in indices if i not in small], small


def detect_stage(photo: np.ndarray, options: AnimateOptions, device: str):
    """Detect faces; returns (all detections, indices to animate, indices left still)."""
    from inversion.faces.detection import find_faces  # noqa: PLC0415

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
    import cv2  # noqa: PLC0415

    h, w = photo.shape[:2]
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    return small, size[0] / w, size[1] / h


def _scale_points(points, sx: float, sy: float) -> np.ndarray:
    """Pixel-centre coordinates (x right, y down) in a photo -> the same points in its resized copy."""
    p = np.asarray(points, dtype=np.float64)
    return (p + 0.5) * np.array([sx, sy]) - 0.5


def shrink_detections(photo: np.ndarray, found: list, max_side: int) -> tuple[np.ndarray, list]:
    """The photo at :func:`output_size` and its detections (``inversion.faces.detection.Face``) scaled with it."""
    import dataclasses  # noqa: PLC0415

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
    import dataclasses  # noqa: PLC0415

    size = output_size(photo.shape[1], photo.shape[0], max_side)
    if size == (photo.shape[1], photo.shape[0]) or tuple(data.photo_size) != (photo.shape[1], photo.shape[0]):
        return photo, data  # (a size mismatch is refused, with its own message, by faces_from_latents_file)
    small, sx, sy = _shrink(photo, size)
    faces = [dataclasses.replace(f, box=[float(v) for v in np.asarray(f.box, dtype=np.float64) * [sx, sy, sx, sy]],
                                 landmarks=torch.from_numpy(_scale_points(f.landmarks.numpy(), sx, sy)).float())
             for f in data.faces]
    return small, dataclasses.replace(data, photo_size=size, faces=faces)


def detect_and_shrink(photo: np.ndarray, options: AnimateOptions, device: str, progress: Progress):
    """:func:`detect_stage`, then the photo and its detections at the video's size (:func:`shrink_detections`).

    Returns (photo, detections, indices to animate, indices left still)."""
    progress("detecting", 0, 1)
    found, animated, still = detect_stage(photo, options, device)
    photo, found = shrink_detections(photo, found, options.max_side)
    progress("detecting", 1, 1)
    return photo, found, animated, still


def direction_for(directions: DirectionSet, spec: EmotionSpec) -> torch.Tensor:
    """The blended W+ edit ``[num_ws, w_dim]``: :data:`EDIT_SCALE` times the directions' recommended strengths,
    times the blend's ``amount`` (``joy:0.5`` is half of ``joy``; see :mod:`editor.emotion_spec`)."""
    missing = [e for e in spec.names if e not in directions.directions]
    if missing:
        raise FaceLatentError(f"the direction file has no direction for {', '.join(missing)} "
                              f"(it has: {', '.join(directions.emotions) or 'none'})")
    vectors, strengths = directions.offsets(spec.names)
    return EDIT_SCALE * float(getattr(spec, "amount", 1.0)) * blend_directions(vectors, torch.tensor(spec.weights),
                                                                                  strengths)


def blink_offset(directions: DirectionSet) -> Optional[torch.Tensor]:
    """The closed-eyes W+ offset ``[num_ws, w_dim]`` (the blink direction at its recommended
    strength), or ``None`` when the direction set has no blink direction."""
    entry = directions.extra("blink")
    if entry is None:
        return None
    return float(entry.strength) * directions.offset("blink")


def plan_paths(faces: list[EditableFace], directions: DirectionSet,
               options: AnimateOptions) -> tuple[list[FaceMotion], list[torch.Tensor], list[np.ndarray]]:
    """Per face: motion plan, W+ latent path ``[T, num_ws, w_dim]`` and head motion ``[T, 3, 3]``.

    Blinks only when ``directions`` has an ``extras["blink"]`` direction (see the module docstring)."""
    edit = direction_for(directions, options.emotion)
    basis = torch.stack([directions.offset(e).reshape(-1) for e in directions.emotions]).numpy()
    blink = blink_offset(directions)
    plans = plan_faces(options.seed, len(faces), options.duration, options.fps, options.intensity,
                       blink_rate_hz=BLINK_RATE_HZ if blink is not None else 0.0)
    motions, paths, heads = [], [], []
    for face, (motion, noise_seed) in zip(faces, plans):
        noise = latent_noise(noise_seed, motion.times, basis, NOISE_FRACTION * float(edit.norm()))
        noise = noise.reshape(len(motion.times), *face.latent.shape)
        paths.append(latent_path(face.latent.cpu(), edit, motion.strength, noise, blink, motion.blink))
        heads.append(head_transforms(motion.head, face.landmarks[17:68].mean(axis=0), face.width))
        motions.append(motion)
    return motions, paths, heads


def write_video(G: nn.Module, photo: np.ndarray, faces: list[EditableFace], paths, heads, out: Path,
                options: AnimateOptions, progress: Progress, timings: Optional[dict] = None, motion: str = "auto"):
    """Render, composite and encode every frame (streaming); returns (frames written, preview sheet).

    ``timings`` (when given) gets the seconds spent in each: "render" (synthesis), "composite"
    (motion transfer, deformation, paste) and "encode" (waiting on ffmpeg, which runs alongside).
    """
    num_frames = int(round(options.duration * options.fps))
    spent = {"render": 0.0, "composite": 0.0, "encode": 0.0}
    clock = time.perf_counter()
    compositor = FrameCompositor(G, photo, faces, heads, mode=motion)
    spent["composite"] += time.perf_counter() - clock

    def frames():
        renderings = render_frames(G, faces, paths, options.chunk)
        for i in range(num_frames):
            t0 = time.perf_counter()
            rendered = next(renderings) if faces else []
            t1 = time.perf_counter()
            frame = compositor.frame(i, rendered) if faces else photo
            spent["render"] += t1 - t0
            spent["composite"] += time.perf_counter() - t1
            yield frame

    result = encode_frames(frames(), out, options.fps, num_frames, crf=options.crf, preset=options.preset,
                           preview_frames=options.preview_frames, progress=progress, spent=spent)
    if timings is not None:
        timings.update(spent)
    return result


def animate_photo(photo: np.ndarray, G: Optional[nn.Module], directions: Optional[DirectionSet], out: Path,
                  options: AnimateOptions, *, lpips: Optional[nn.Module] = None, encoder=None, latents=None, device: str = "cpu",
                  progress: Optional[Progress] = None) -> AnimateResult:
    """Run every stage on a uint8 RGB photo and write the video to ``out`` (atomic); see the module docstring.

    ``latents``: a loaded latents file of this photo (its faces replace detection and inversion).
    ``lpips`` is needed when ``options.steps > 0`` and no latents are given. ``G`` and ``directions``
    may be None for the warp motion model, which uses neither (:func:`choose_motion`).
    """
    from inversion.checkpoints import generator_identity  # noqa: PLC0415

    progress = progress or _noop
    if not 0 <= int(options.seed) <= SEED_MAX:
        raise FaceLatentError(f"seeds run from 0 to {SEED_MAX}, got {options.seed}")
    validate_timing(options.duration, options.fps, options.intensity)
    motion = choose_motion(options.motion, G)
    if motion == "warp":
        return animate_with_warp(photo, out, options, latents=latents, device=device, progress=progress)
    directions.check_generator(generator_identity(G))
    timings: dict[str, float] = {}
    variant = G.config.get("alignment", "ffhq")
    clock = time.perf_counter()
    if latents is not None:
        photo, latents = shrink_latents(photo, latents, options.max_side)
        faces = faces_from_latents_file(photo, G, latents, G.img_resolution)
        if options.faces is not None:
            missing = sorted(set(options.faces) - {f.index for f in faces})
            if missing:
                raise FaceLatentError(f"--faces {missing[0]}: the latents file has faces "
                                      f"{', '.join(str(f.index) for f in faces)} only")
            faces = [f for f in faces if f.index in set(options.faces)]
        still = [f.index for f in faces if too_small(f.box, options.min_face)]
        faces = [f for f in faces if f.index not in still]
        timings["latents file"] = time.perf_counter() - clock
    else:
        photo, found, animated, still = detect_and_shrink(photo, options, device, progress)
        timings["detect"] = time.perf_counter() - clock
        clock = time.perf_counter()
        aligned = align_detections(photo, found, animated, variant, G.img_resolution, mask_outside=True)
        timings["align"] = time.perf_counter() - clock
        clock = time.perf_counter()
        steps = options.steps
        settings = InversionSettings(space="w+", steps=steps, seed=options.invert_seed, mask_outside=True,
                                     w_stats_samples=W_STATS_SAMPLES)
        record, _ = invert_photo(photo, G, aligned, lpips, settings, encoder=encoder,
                                 progress=lambda description, step: progress("inverting", step.step + 1, steps))
        faces = faces_from_latents_file(photo, G, record, G.img_resolution)
        timings["invert"] = time.perf_counter() - clock
    clock = time.perf_counter()
    motions, paths, heads = plan_paths(faces, directions, options) if faces else ([], [], [])
    timings["plan"] = time.perf_counter() - clock
    count, sheet = write_video(G, photo, faces, paths, heads, Path(out), options, progress, timings, motion)
    return AnimateResult(video=Path(out), num_frames=count, size=(photo.shape[1], photo.shape[0]),
                         animated=[f.index for f in faces], still=list(still), motions=motions, faces=faces,
                         timings=timings, preview=sheet, motion=motion)


def choose_motion(requested: str, G: Optional[nn.Module]) -> str:
    """The motion model to use: "warp", "flow" or "paste" (see :data:`MOTION_MODELS`).

    ``auto`` is the keypoint warp of the photo for a grey generator or one below
    :data:`PASTE_MIN_RESOLUTION` (the embedded default), else "paste": a user's sharp colour
    generator paints the faces (faces larger than its resolution still fall back to flow).
    ``G`` None (no generator loaded) allows the warp only.
    """
    if requested not in MOTION_MODELS:
        raise FaceLatentError(f"--motion must be one of {', '.join(MOTION_MODELS)}, not {requested!r}")
    if G is None:  # no generator loaded: only the warp can move the faces
        if requested not in ("auto", "warp"):
            raise FaceLatentError(f"--motion {requested} needs a generator")
        return "warp"
    if requested != "auto":
        return requested
    return "warp" if G.img_channels == 1 or G.img_resolution < PASTE_MIN_RESOLUTION else "paste"


def animate_with_warp(photo: np.ndarray, out: Path, options: AnimateOptions, *, latents=None, device: str = "cpu",
                      progress: Progress = _noop) -> AnimateResult:
    """The warp motion model (:mod:`editor.warp_pipeline`): detection (or a latents file's faces), plan, frames."""
    from directions.expression_basis import load_default  # noqa: PLC0415
    from editor.warp_pipeline import plan_warp_faces, write_warp_video  # noqa: PLC0415

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    if latents is not None:
        photo, latents = shrink_latents(photo, latents, options.max_side)
        found = sorted(latents.faces, key=lambda f: f.index)
        indices = [f.index for f in found] if options.faces is None else list(options.faces)
        missing = sorted(set(indices) - {f.index for f in found})
        if missing:
            raise FaceLatentError(f"--faces {missing[0]}: the latents file has faces "
                                  f"{', '.join(str(f.index) for f in found)} only")
        chosen = [f for f in found if f.index in set(indices)]
        still = [f.index for f in chosen if too_small(f.box, options.min_face)]
        chosen = [f for f in chosen if f.index not in still]
        if any(tuple(f.landmarks.shape) != (68, 2) for f in chosen):
            raise FaceLatentError("the latents file has a face without 68 landmarks (an aligned crop): "
                                  "the warp needs detected faces")
        faces = [(f.index, f.box, np.asarray(f.landmarks, np.float64)) for f in chosen]
        timings["latents file"] = time.perf_counter() - clock
    else:
        photo, found, animated, still = detect_and_shrink(photo, options, device, progress)
        faces = [(i, found[i].box, found[i].landmarks68) for i in animated]
        timings["detect"] = time.perf_counter() - clock
    clock = time.perf_counter()
    prepared = plan_warp_faces(photo, [f[2] for f in faces], load_default(), options.emotion, options.seed,
                               options.duration, options.fps, options.intensity)
    timings["plan"] = time.perf_counter() - clock
    num_frames = int(round(options.duration * options.fps))
    count, sheet, stats = write_warp_video(photo, prepared, Path(out), fps=options.fps, num_frames=num_frames,
                                           crf=options.crf, preset=options.preset,
                                           preview_frames=options.preview_frames, progress=progress, timings=timings)
    return AnimateResult(video=Path(out), num_frames=count, size=(photo.shape[1], photo.shape[0]),
                         animated=[f[0] for f in faces], still=list(still), motions=[p.plan for p in prepared],
                         faces=[_Box(f[1]) for f in faces], timings=timings, preview=sheet, motion="warp",
                         warp_stats=stats)


@dataclass(frozen=True)
class _Box:
    """A face of a warp run as the result reports it: its detector box (x0, y0, x1, y1)."""

    box: tuple
