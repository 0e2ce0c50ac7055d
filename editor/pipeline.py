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
that size: memory and time stay bounded whatever the photo's size (:func:`editor.animate_job.output_size`).

Randomness: the run seed drives every motion plan; inversion uses seeds ``invert_seed + face
index`` (the same latent whatever the run seed), so the same seed gives the same video bit for bit.
``progress(stage, done, total)`` is called as the stages advance; :class:`AnimateResult` carries
the seconds each stage took.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from directions.direction_file import DirectionSet
from editor.animate_job import (
    MOTION_MODELS, AnimateOptions, AnimateResult, Progress, check_options, detect_and_shrink, no_progress,
    shrink_latents, too_small,
)
from editor.emotion_spec import EmotionSpec
from editor.face_edit import EditableFace, faces_from_latents_file
from editor.latent_path import blend_directions, latent_path
from editor.render import FrameCompositor, render_frames
from editor.trajectory import DEFAULT_INTENSITY, FaceMotion, head_transforms, latent_noise, plan_faces
from editor.video import encode_frames
from editor.warp_pipeline import animate_with_warp
from inversion.common.errors import FaceLatentError
from inversion.photo_inversion import InversionSettings, align_detections, invert_photo
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
#: ``auto`` pastes a colour generator's faces from this resolution up; below it, it warps.
PASTE_MIN_RESOLUTION = 256


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

    progress = progress or no_progress
    check_options(options)
    motion = choose_motion(options.motion, G)
    if motion == "warp":
        return animate_with_warp(photo, out, options, latents=latents, progress=progress)
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
        photo, found, animated, still = detect_and_shrink(photo, options, progress)
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
