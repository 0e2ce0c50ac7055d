"""The warp motion model end to end: from detected faces and an emotion to the video's frames.

Each face's 68 landmarks give its own expression in the expression model's basis
(:mod:`directions.expression_basis`); the target emotion's coefficients replace it (set, not added)
region by region, timed and bounded by :mod:`editor.expression_motion`, and the photo's own pixels
move under one smooth field per frame (:mod:`editor.warp_compositor`). The generator is not used:
at 64 px its mouth is a few pixels wide (see the model card of the expression basis), so the
mouth's interior is built from the photo's own teeth and lips and a plausible palette instead.

Usage (a 2 s clip at 10 fps of the astronaut's smile; ``facelatent animate`` with its defaults)::

    >>> import tempfile
    >>> from pathlib import Path
    >>> from editor.animate_job import AnimateOptions
    >>> from editor.emotion_spec import parse_emotion_spec
    >>> from inversion.common.images import read_photo
    >>> out = Path(tempfile.mkdtemp()) / "joy.mp4"
    >>> options = AnimateOptions(parse_emotion_spec("joy"), seed=1, duration=2.0, fps=10.0)
    >>> result = animate_with_warp(read_photo("docs/examples/astronaut.jpg"), out, options)
    >>> result.num_frames, result.animated, out.is_file()
    (20, [0], True)

Randomness: the run seed is spawned into one child seed per face (plus one that orders the
faces' onsets), so the same seed gives the same video bit for bit and faces never move in step.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from directions.expression_basis import ExpressionBasis, load_default, load_targets
from directions.facs_targets import facs_target, opening_coefficient, smile_coefficient
from editor.animate_job import (
    AnimateOptions, AnimateResult, Progress, check_options, detect_and_shrink, no_progress, shrink_latents, too_small,
)
from editor.emotion_spec import EmotionSpec
from editor.expression_motion import MOUTH, ExpressionPlan, plan_expression, size_factor
from editor.smile_folds import relaxing_share
from editor.trajectory import DEFAULT_INTENSITY, ONSET_RANGE, head_transforms
from editor.video import encode_frames
from editor.warp_compositor import WarpCompositor
from editor.warp_face import WarpFace, prepare_warp_face
from inversion.common.errors import FaceLatentError

#: The apex is the target expression itself at the default intensity; other intensities scale it.
APEX_AT_DEFAULT = 1.0
#: How much of what sets an emotion's target apart from the six emotions' mean is added to it
#: (0 = the data's mean of strong examples). Chosen on faces128 training faces, never on benchmark faces.
DISTINCTIVENESS = 1.0
SIX_EMOTIONS = ("joy", "fear", "anger", "sadness", "disgust", "surprise")
#: Where each emotion's target comes from: the data's, as the bake-off of data and generator decided
#: (``scripts/bakeoff_targets.py``, docs/BENCHMARKS.md), except fear, sadness and disgust, whose FACS prototypes
#: (:mod:`directions.facs_targets`) the judges read better on training faces, and anger, searched for what
#: the shipped classifier reads best on training faces (``scripts/search_targets.py``).
TARGET_SOURCES = {"fear": "facs", "sadness": "facs", "disgust": "facs", "anger": "classifier"}
#: Target sources whose goal a face keeps region by region where it already goes further (:func:`keep_stronger`):
#: the data's targets are means of strong examples, which many of those examples exceed in one region or another
#: (a smile's narrowed eyes). Kept as one vector, a smiling face asked for joy had its lids and brows taken back to
#: the mean's (on the benchmark's 2008_002079 face the brows and lids alone took the judges' p(joy) 0.98 -> 0.93);
#: region by region the judges saw joy on 83 % of the realism benchmark's faces against 79 %, the same on training
#: faces (94 / 96 %) and surprise (the other data target) the same everywhere. The prototypes and the searched
#: target are set whole: kept region by region, fear, sadness and disgust each lost a face or two on the benchmark
#: (62, 83, 33 %) and sadness on training faces (88 -> 85 %).
REGION_BY_REGION_SOURCES = ("data",)
#: The widest the lips part at the apex, in mouth widths: beyond it a fearful or surprised mouth reads as
#: a scream, and most of what shows is a synthesised cavity rather than the photo.
MAX_MOUTH_OPENING = 0.5
#: Emotions whose lips part less: fear stretches the mouth sideways more than it drops the jaw.
MOUTH_OPENING_OF = {"fear": 0.35}
#: The range the full emotion keeps the eyes' opening in, as multiples of their own opening. A smiling face
#: narrows its eyes; asked for fear, 1.6 kept them narrowed: on 48 faces128 training faces (rows 200-247)
#: the judges saw fear on 75 % of faces with 1.6, 85 % with 2.0 (the same with 2.5).
MIN_EYE_NARROWING, MAX_EYE_WIDENING = 0.5, 2.0
#: How open a smile may stay, on the expression model's opening coefficient (:func:`directions.facs_targets.
#: opening_coefficient`): the 90th percentile over the 6,489 strong FER+ joy training faces the model was fitted on
#: (3.03; 10th -0.86, median 0.71), a laugh. Joy's target is their mean, a smile with the lips barely parted;
#: closing a parted smile hides the teeth that make it read, so asked for joy a face keeps its own opening up to
#: this (:func:`keep_open_smile`), and a wider mouth (a shout) closes to it.
LAUGH_OPENING = 3.0
#: Skin that slides with the muscle next to it, over landmarks the expression model keeps still: the nose
#: root's skin follows this share of the inner brows' motion when they come down (the procerus pulls it down
#: with brows that lower and draw together, and it bunches into the nose root's lines, :mod:`editor.creases`).
SKIN_CARRY = {27: ((21, 22), 0.6), 28: ((21, 22), 0.3)}
#: Blinks per second (people blink 15-20 times a minute).
BLINK_RATE_HZ = 0.3
#: Faces reach half their expression at least this many seconds apart.
MIN_GAP = 0.05
#: Seconds at the end of the clip by which every face has reached its apex.
APEX_HELD = 0.35


class Targets(dict):
    """``{emotion: t_e [K]}`` (expression coefficients) that knows where each came from: ``sources``
    ``{emotion: source}`` (see :func:`distinctive_targets`), which decides how a face keeps them
    (:func:`kept_by_region`)."""

    def __init__(self, coefficients: dict, sources: dict):
        super().__init__(coefficients)
        self.sources = dict(sources)


def distinctive_targets(model: ExpressionBasis, generator: Optional[dict] = None,
                        sources: Optional[dict] = None, classifier: Optional[dict] = None) -> Targets:
    """``{emotion: t_e [K]}`` for the six emotions, each from its source, made distinctive within that source.

    Sources: "data" (the model's targets, means of strong FER+ examples), "generator" (``generator``
    ``{emotion: e* [K]}``, what the generator's edits do to landmarks: :func:`directions.expression_basis.
    load_targets`), "facs" (a prototype of the emotion's action units: :func:`directions.facs_targets.
    facs_target`) or "classifier" (``classifier`` ``{emotion: e* [K]}``, the coefficients the shipped
    classifier reads best on training faces: ``scripts/search_targets.py``); ``sources`` ``{emotion:
    source}`` (default :data:`TARGET_SOURCES`, missing emotions "data"). The last two are taken as they are.
    For the first two, ``t_e = e*_e + DISTINCTIVENESS · (e*_e − mean of the six e* of the same source)``:
    the means of strong examples share a part (every one parts the lips); emphasising what sets an
    emotion apart from the others, as a caricature does, is what makes it read.
    """
    sources = TARGET_SOURCES if sources is None else sources
    sets = {"data": {name: model.target(name) for name in SIX_EMOTIONS}, "generator": generator}
    out = {name: facs_target(model, name) for name in SIX_EMOTIONS if sources.get(name) == "facs"}
    for name in (name for name in SIX_EMOTIONS if sources.get(name) == "classifier"):
        if classifier is None or name not in classifier:
            raise FaceLatentError(f"no classifier-searched expression target for {name}")
        out[name] = np.clip(np.asarray(classifier[name], np.float64), model.low, model.high)
    for source, targets in sets.items():
        wanted = [name for name in SIX_EMOTIONS if sources.get(name, "data") == source]
        if not wanted:
            continue
        if targets is None or not set(SIX_EMOTIONS) <= set(targets):
            raise FaceLatentError(f"no {source}-driven expression targets for {', '.join(wanted)}")
        common = np.mean([targets[name] for name in SIX_EMOTIONS], axis=0)
        out.update({name: (1 + DISTINCTIVENESS) * targets[name] - DISTINCTIVENESS * common for name in wanted})
    return Targets(out, {name: sources.get(name, "data") for name in SIX_EMOTIONS})


@functools.lru_cache(maxsize=1)
def shipped_targets() -> Targets:
    """The shipped targets: :func:`distinctive_targets` of the default model with :data:`TARGET_SOURCES`."""
    model = load_default()
    external = {source: load_targets(source) if source in TARGET_SOURCES.values() else None
                for source in ("generator", "classifier")}
    return distinctive_targets(model, external["generator"], classifier=external["classifier"])


def target_coefficients(model: ExpressionBasis, spec: EmotionSpec, targets: Optional[dict] = None) -> np.ndarray:
    """The blend's target ``[K]``: ``sum_e weight_e · t_e`` (``targets`` from :func:`distinctive_targets`,
    default :func:`shipped_targets`), never weaker than the face's own expression ``e0`` along it.

    The blend's weights sum to 1 here; how strong it is as a whole (``spec.amount``) scales the motion
    (:func:`expression_regions`).
    """
    targets = shipped_targets() if targets is None else targets
    return sum(w * targets[name] for name, w in zip(spec.names, spec.weights))


def keep_stronger(model: ExpressionBasis, own: np.ndarray, goal: np.ndarray, by_region: bool = False) -> np.ndarray:
    """``goal``, moved on along its own axis (from neutral) as far as ``own`` already lies beyond it.

    Setting the expression to the mean of strong examples would weaken a face that already shows
    more of it (a broad smile asked for joy): the part of ``own`` beyond the goal, along the goal's
    axis, is kept. With ``by_region`` each region (brows, lids, mouth) is kept on its own, along the
    goal's part in it: a face that narrows its eyes more than the target but smiles less keeps its
    narrowed eyes while its smile grows (see :data:`REGION_BY_REGION_SOURCES`).
    """
    axis = goal - model.target("neutral")
    out = np.array(goal, np.float64)
    groups = [np.flatnonzero(model.region_of == r) for r in np.unique(model.region_of)] if by_region \
        else [np.arange(len(goal))]
    for idx in groups:
        norm = float(np.linalg.norm(axis[idx]))
        if norm > 0:
            beyond = float((own[idx] - goal[idx]) @ axis[idx]) / norm
            out[idx] = goal[idx] + max(beyond, 0.0) * axis[idx] / norm
    return out


def kept_by_region(spec: EmotionSpec, sources: Optional[dict] = None) -> bool:
    """Whether a blend's goal is kept region by region (:func:`keep_stronger`): when each of its emotions'
    targets comes from one of :data:`REGION_BY_REGION_SOURCES`, by ``sources`` ``{emotion: source}`` (the
    targets' own, :attr:`Targets.sources`; default the shipped :data:`TARGET_SOURCES`)."""
    sources = TARGET_SOURCES if sources is None else sources
    return all(sources.get(name, "data") in REGION_BY_REGION_SOURCES for name in spec.names)


def keep_open_smile(model: ExpressionBasis, own: np.ndarray, goal: np.ndarray, joy_weight: float) -> np.ndarray:
    """``goal`` ``[K]`` with its opening coefficient raised towards the face's own ``own`` (capped at
    :data:`LAUGH_OPENING`) by the blend's share of joy ``joy_weight`` in [0, 1]: a talking or laughing face
    asked for joy smiles with its lips as parted as they are, a shout's close to a laugh's, and a goal that
    parts the lips wider already (a blend with surprise) is kept."""
    out = np.array(goal, np.float64)
    if joy_weight <= 0:
        return out
    k = opening_coefficient(model)
    sign = 1.0 if model.target("surprise")[k] >= model.target("neutral")[k] else -1.0  # + parts the lips
    kept = sign * min(sign * float(own[k]), LAUGH_OPENING)
    wanted = joy_weight * kept + (1.0 - joy_weight) * out[k]
    out[k] = sign * max(sign * out[k], sign * wanted)
    return out


def expression_regions(model: ExpressionBasis, landmarks: np.ndarray, spec: EmotionSpec,
                       intensity: float, targets: Optional[dict] = None) -> np.ndarray:
    """``[3, 68, 2]`` photo px: brows, lids and mouth moving from the face's own expression to the target's.

    The goal is the target, kept where the face already goes further (:func:`keep_stronger`; region by region
    for the data's targets, :func:`kept_by_region` by ``targets``' own sources, a plain dict's by the shipped
    ones) and, for joy, as open as the face's own mouth up to a laugh (:func:`keep_open_smile`). The mouth's
    part is first cut so that the full emotion at the default intensity parts the lips at most
    :data:`MAX_MOUTH_OPENING` (:data:`MOUTH_OPENING_OF` for some emotions), and the lids' so that the eyes'
    opening stays between :data:`MIN_EYE_NARROWING` and :data:`MAX_EYE_WIDENING` times their own; then all is
    scaled by ``intensity / DEFAULT_INTENSITY``, by the blend's strength ``spec.amount`` (``joy:0.5`` moves half
    as far as ``joy``) and by :func:`editor.expression_motion.size_factor`.
    """
    lm = np.asarray(landmarks, np.float64)
    amount = APEX_AT_DEFAULT * spec.amount * intensity / DEFAULT_INTENSITY
    amount *= size_factor(float(np.linalg.norm(lm[16] - lm[0])))
    own = model.coefficients(lm)
    goal = keep_stronger(model, own, target_coefficients(model, spec, targets),
                         kept_by_region(spec, getattr(targets, "sources", None)))
    goal = keep_open_smile(model, own, goal, spec.as_dict().get("joy", 0.0))
    regions = carry_skin(model.region_displacements(lm, own, goal), lm)
    limit = MOUTH_OPENING_OF.get(spec.dominant, MAX_MOUTH_OPENING)
    regions[2] *= opening_limit(lm, APEX_AT_DEFAULT * regions[2], limit)  # the full emotion's apex: blends scale it
    regions[1] *= widening_limit(lm, APEX_AT_DEFAULT * regions[1])
    return amount * regions


def smile_lost(model: ExpressionBasis, landmarks: np.ndarray, mouth: np.ndarray) -> float:
    """The share of a full smile (joy's target from neutral, along :func:`directions.facs_targets.
    smile_coefficient`) that the mouth's displacement ``mouth`` ``[68, 2]`` (photo px) takes away from the
    face; negative where it adds to its smile."""
    k = smile_coefficient(model)
    full = float(model.target("joy")[k] - model.target("neutral")[k])
    lm = np.asarray(landmarks, np.float64)
    before, after = model.project(lm)[k], model.project(lm + mouth)[k]
    return float((before - after) * model.shrink[k] / full) if full else 0.0


def carry_skin(regions: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``[R, 68, 2]`` region displacements with :data:`SKIN_CARRY`'s landmarks moved by their share of the
    mean motion of the landmarks they follow, region by region, where that motion goes down the face (from
    the nose root towards the chin, landmarks 27 to 8)."""
    lm = np.asarray(landmarks, np.float64)
    down = (lm[8] - lm[27]) / (float(np.linalg.norm(lm[8] - lm[27])) or 1.0)
    out = np.array(regions, np.float64)
    for target, (sources, share) in SKIN_CARRY.items():
        motion = out[:, list(sources)].mean(axis=1)  # [R, 2]
        out[:, target] += share * motion * (motion @ down > 0)[:, None]
    return out


def mouth_opening(landmarks: np.ndarray) -> float:
    """The inner lips' gap (mean of the three pairs 61/67, 62/66, 63/65) in mouth widths (corner 48 to 54)."""
    lm = np.asarray(landmarks, np.float64)
    width = float(np.linalg.norm(lm[54] - lm[48])) or 1.0
    return float(np.mean([lm[b] - lm[a] for a, b in ((61, 67), (62, 66), (63, 65))], axis=0)[1]) / width


def eye_opening(landmarks: np.ndarray) -> float:
    """Both eyes' lid gap (upper 37/38, 43/44 to lower 41/40, 47/46), summed, in eye widths (summed)."""
    lm = np.asarray(landmarks, np.float64)
    gap = sum(lm[b, 1] - lm[a, 1] for a, b in ((37, 41), (38, 40), (43, 47), (44, 46)))
    width = float(np.linalg.norm(lm[39] - lm[36]) + np.linalg.norm(lm[45] - lm[42])) or 1.0
    return float(gap) / width


def widening_limit(landmarks: np.ndarray, lids: np.ndarray) -> float:
    """The largest factor (≤ 1) for the lid pattern ``[68, 2]`` that keeps the eyes' opening between
    MIN_EYE_NARROWING and MAX_EYE_WIDENING times their own: an eye opened further shows mostly synthesised
    white and iris, one narrowed further reads as shut rather than squinting."""
    lm = np.asarray(landmarks, np.float64)
    own, apex = eye_opening(lm), eye_opening(lm + lids)
    if own <= 0 or MIN_EYE_NARROWING * own <= apex <= MAX_EYE_WIDENING * own:
        return 1.0
    bound = MAX_EYE_WIDENING if apex > own else MIN_EYE_NARROWING
    return float(np.clip((bound - 1.0) * own / (apex - own), 0.0, 1.0))


def opening_limit(landmarks: np.ndarray, mouth: np.ndarray, limit: float = MAX_MOUTH_OPENING) -> float:
    """The largest factor (≤ 1) for the mouth pattern ``[68, 2]`` that opens the lips at most ``limit`` mouth widths."""
    lm = np.asarray(landmarks, np.float64)
    if mouth_opening(lm + mouth) <= limit:
        return 1.0
    low, high = 0.0, 1.0  # the opening is measured in the moved mouth's width, so search for the factor
    for _ in range(20):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if mouth_opening(lm + mid * mouth) <= limit else (low, mid)
    return low


def onset_windows(run_seed: int, count: int, duration: float) -> tuple[list[np.random.SeedSequence], list]:
    """(a child seed per face, its onset window in seconds): the onset range cut into slices in a seeded order."""
    *children, order_seed = np.random.SeedSequence(int(run_seed)).spawn(count + 1)
    order = np.random.default_rng(order_seed).permutation(count)
    lo, hi = ONSET_RANGE[0] * duration, min(ONSET_RANGE[1] * duration, duration - 1.2 - APEX_HELD)
    hi = max(hi, lo)
    step = (hi - lo) / max(count, 1)
    return children, [(lo + k * step, lo + (k + 1) * step) for k in order]


def plan_warp_faces(photo: np.ndarray, landmarks: Sequence[np.ndarray], model: ExpressionBasis, spec: EmotionSpec,
                    seed: int, duration: float, fps: float, intensity: float,
                    targets: Optional[dict] = None) -> list[WarpFace]:
    """Every face's plan, head motion and prepared warp (see the module docstring); ``targets`` from
    :func:`distinctive_targets` (default: the shipped ones)."""
    children, windows = onset_windows(seed, len(landmarks), duration)
    faces: list[WarpFace] = []
    for lm, child, window in zip(landmarks, children, windows):
        lm = np.asarray(lm, np.float64)
        regions = expression_regions(model, lm, spec, intensity, targets)
        for _ in range(16):  # faces never reach half their expression together: redraw (seeded) if one would
            child, draw = child.spawn(2)
            plan: ExpressionPlan = plan_expression(draw, duration, fps, lm, regions, spec.as_dict(), window,
                                                   blink_rate_hz=BLINK_RATE_HZ)
            half = plan.half_strength_time()
            if all(not abs(half - f.plan.half_strength_time()) < MIN_GAP for f in faces):
                break
        head = head_transforms(plan.head, lm[17:68].mean(axis=0), float(np.linalg.norm(lm[16] - lm[0])))
        lost = smile_lost(model, lm, plan.patterns[MOUTH]) * relaxing_share(spec.as_dict())
        faces.append(prepare_warp_face(photo, lm, plan, head, smile_drop=lost))
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

    def frames():
        made = compositor.frames(num_frames)
        for _ in range(num_frames):
            clock = time.perf_counter()  # the wait for the next frame: compositing's share of the wall time
            frame = next(made)
            spent["composite"] += time.perf_counter() - clock
            yield frame

    count, sheet = encode_frames(frames(), out, fps, num_frames, crf=crf, preset=preset,
                                 preview_frames=preview_frames, progress=progress, spent=spent)
    if timings is not None:
        timings.update(spent)
    lows = [compositor.jacobian[0]] + [f.jacobian[0] for f in faces]
    highs = [compositor.jacobian[1]] + [f.jacobian[1] for f in faces]
    stats = {"jacobian_min": float(min(lows)), "jacobian_max": float(max(highs)),
             "expression_scale": [float(f.plan.scale) for f in faces]}
    return count, sheet, stats


def animate_with_warp(photo: np.ndarray, out: Path, options: AnimateOptions, *, latents=None,
                      progress: Progress = no_progress) -> AnimateResult:
    """The warp motion model (:mod:`editor.warp_pipeline`): detection (or a latents file's faces), plan, frames."""
    check_options(options)
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
        photo, found, animated, still = detect_and_shrink(photo, options, progress)
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
