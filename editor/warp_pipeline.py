"""The warp motion model end to end: from detected faces and an emotion to the video's frames.

Each face's 68 landmarks give its own expression in the expression model's basis
(:mod:`directions.expression_basis`); the target emotion's coefficients replace it (set, not added)
region by region, timed and bounded by :mod:`editor.expression_motion`, and the photo's own pixels
move under one smooth field per frame (:mod:`editor.warp_compositor`). The generator is not used:
at 64 px its mouth is a few pixels wide (see the model card of the expression basis), so the
mouth's interior is built from the photo's own teeth and lips and a plausible palette instead.

Randomness: the run seed is spawned into one child seed per face (plus one that orders the
faces' onsets), so the same seed gives the same video bit for bit and faces never move in step.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from directions.expression_basis import ExpressionBasis
from editor.emotion_spec import EmotionSpec
from editor.expression_motion import ExpressionPlan, plan_expression, size_factor
from editor.preview import PreviewCollector
from editor.trajectory import DEFAULT_INTENSITY, ONSET_RANGE, head_transforms
from editor.video import VideoWriter
from editor.warp_compositor import WarpCompositor
from editor.warp_face import WarpFace, prepare_warp_face

Progress = Callable[[str, int, int], None]
#: The apex is the target expression itself at the default intensity; other intensities scale it.
APEX_AT_DEFAULT = 1.0
#: How much of what sets an emotion's target apart from the six emotions' mean is added to it
#: (0 = the data's mean of strong examples). Chosen on faces128 training faces, never on benchmark faces.
DISTINCTIVENESS = 1.0
SIX_EMOTIONS = ("joy", "fear", "anger", "sadness", "disgust", "surprise")
#: Blinks per second (people blink 15-20 times a minute).
BLINK_RATE_HZ = 0.3
#: Faces reach half their expression at least this many seconds apart.
MIN_GAP = 0.05
#: Seconds at the end of the clip by which every face has reached its apex.
APEX_HELD = 0.35


def target_coefficients(model: ExpressionBasis, spec: EmotionSpec) -> np.ndarray:
    """The blend's target coefficients ``[K]``: ``sum_e weight_e · t_e`` with each emotion's target made
    distinctive, ``t_e = e*_e + DISTINCTIVENESS · (e*_e − mean of the six emotions' e*)``.

    The means of strong FER+ examples share a part (every one parts the lips); emphasising what sets
    an emotion apart from the others, as a caricature does, is what makes it read. The blend's weights
    sum to 1 here; how strong it is as a whole (``spec.amount``) scales the motion
    (:func:`expression_regions`).
    """
    common = np.mean([model.target(name) for name in SIX_EMOTIONS], axis=0)
    targets = [(1 + DISTINCTIVENESS) * model.target(name) - DISTINCTIVENESS * common for name in spec.names]
    return sum(w * t for w, t in zip(spec.weights, targets))


def expression_regions(model: ExpressionBasis, landmarks: np.ndarray, spec: EmotionSpec,
                       intensity: float) -> np.ndarray:
    """``[3, 68, 2]`` photo px: brows, lids and mouth moving from the face's own expression to the target's.

    Scaled by ``intensity / DEFAULT_INTENSITY``, by the blend's strength ``spec.amount`` (``joy:0.5`` moves
    half as far as ``joy``) and by :func:`editor.expression_motion.size_factor`.
    """
    lm = np.asarray(landmarks, np.float64)
    amount = APEX_AT_DEFAULT * spec.amount * intensity / DEFAULT_INTENSITY
    amount *= size_factor(float(np.linalg.norm(lm[16] - lm[0])))
    return amount * model.region_displacements(lm, model.coefficients(lm), target_coefficients(model, spec))


def onset_windows(run_seed: int, count: int, duration: float) -> tuple[list[np.random.SeedSequence], list]:
    """(a child seed per face, its onset window in seconds): the onset range cut into slices in a seeded order."""
    *children, order_seed = np.random.SeedSequence(int(run_seed)).spawn(count + 1)
    order = np.random.default_rng(order_seed).permutation(count)
    lo, hi = ONSET_RANGE[0] * duration, min(ONSET_RANGE[1] * duration, duration - 1.2 - APEX_HELD)
    hi = max(hi, lo)
    step = (hi - lo) / max(count, 1)
    return children, [(lo + k * step, lo + (k + 1) * step) for k in order]


def plan_warp_faces(photo: np.ndarray, landmarks: Sequence[np.ndarray], model: ExpressionBasis, spec: EmotionSpec,
                    seed: int, duration: float, fps: float, intensity: float) -> list[WarpFace]:
    """Every face's plan, head motion and prepared warp (see the module docstring)."""
    children, windows = onset_windows(seed, len(landmarks), duration)
    faces: list[WarpFace] = []
    for lm, child, window in zip(landmarks, children, windows):
        lm = np.asarray(lm, np.float64)
        regions = expression_regions(model, lm, spec, intensity)
        for _ in range(16):  # faces never reach half their expression together: redraw (seeded) if one would
            child, draw = child.spawn(2)
            plan: ExpressionPlan = plan_expression(draw, duration, fps, lm, regions, spec.as_dict(), window,
                                                   blink_rate_hz=BLINK_RATE_HZ)
            half = plan.half_strength_time()
            if all(not abs(half - f.plan.half_strength_time()) < MIN_GAP for f in faces):
                break
        head = head_transforms(plan.head, lm[17:68].mean(axis=0), float(np.linalg.norm(lm[16] - lm[0])))
        faces.append(prepare_warp_face(photo, lm, plan, head))
    return faces


def write_warp_video(photo: np.ndarray, faces: Sequence[WarpFace], out: Path, *, fps: float, num_frames: int,
                     crf: int, preset: str, preview_frames: int, progress: Progress,
                     timings: Optional[dict] = None):
    """Composite and encode every frame (streaming); returns (frames written, preview sheet, warp stats).

    Warp stats: ``jacobian_min`` / ``jacobian_max`` (area change of the skin, every 10th frame and
    the bound's worst case) and ``expression_scale`` per face (1 = as planned, less where the fold
    bounds cut it).
    """
    spent = {"composite": 0.0, "encode": 0.0}
    compositor = WarpCompositor(photo, faces)
    preview = PreviewCollector(num_frames, preview_frames, fps) if preview_frames else None
    with VideoWriter(out, fps, crf=crf, preset=preset, expected_frames=num_frames) as writer:
        for i in range(num_frames):
            t0 = time.perf_counter()
            frame = compositor.frame(i)
            if preview is not None:
                preview.offer(i, frame)
            t1 = time.perf_counter()
            writer.write(frame)
            spent["composite"] += t1 - t0
            spent["encode"] += time.perf_counter() - t1
            progress("rendering", i + 1, num_frames)
        t0 = time.perf_counter()
    spent["encode"] += time.perf_counter() - t0
    if timings is not None:
        timings.update(spent)
    lows = [compositor.jacobian[0]] + [f.jacobian[0] for f in faces]
    highs = [compositor.jacobian[1]] + [f.jacobian[1] for f in faces]
    stats = {"jacobian_min": float(min(lows)), "jacobian_max": float(max(highs)),
             "expression_scale": [float(f.plan.scale) for f in faces]}
    return writer.frames_written, (preview.sheet() if preview is not None else None), stats
