"""Per-face expression motion: keypoint displacement patterns and their weights over time.

A face's 68 landmarks move as ``L(t) = L + sum_k c_k(t) · P_k`` (photo pixels, x right, y down),
with a few fixed patterns ``P`` ``[K, 68, 2]`` per face and their coefficients ``c`` ``[T, K]``:

* one pattern per region (brows, lids, mouth with jaw): the displacement that takes the face's
  *own* expression to the target's in the expression model's basis (``B(e* − e₀)``, set, not
  added: a smiling face asked for fear loses its smile), with a slight left-right asymmetry;
* small noise patterns along the same regions (smooth, below 2 Hz, faded in), so the apex lives;
* a blink pattern (upper lids down onto the lower ones).

Timing: each region's weight rises with an eased onset of :data:`RISE_RANGE` seconds, brows first,
then lids, then the mouth (:data:`REGION_LAG`), and holds the apex to the last frame. Blinks close
the lids, none within :data:`editor.trajectory.NO_BLINK_TAIL` seconds of the end. Head motion stays within
:data:`HEAD_MAX_DEG`, with a small emotion-tied component (a drop for sadness, a lift for surprise).

Bounds: the expression is scaled down (never up) until the skin's area change J of the warp stays
within [:data:`J_MIN`, :data:`J_MAX`] (eyes and mouth openings excluded: their content is a layer)
and until brows and lids together close at most :data:`BROW_LID_SHARE` of the gap between them.
Faces narrower than :data:`FULL_EXPRESSION_WIDTH` pixels get a reduced expression: dlib's error
there is as large as the motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from editor.trajectory import as_rng, blink_curve, ease_in, frame_times, smooth_noise

REGIONS = ("brows", "lids", "mouth")
#: The mouth's index among :data:`REGIONS` (its pattern in a plan, its weight column).
MOUTH = REGIONS.index("mouth")
#: Seconds from the start of a region's motion to its apex.
RISE_RANGE = (0.4, 0.8)
#: How much later than the brows each region starts (seconds).
REGION_LAG = {"brows": 0.0, "lids": 0.04, "mouth": 0.12}
HEAD_MAX_DEG = 3.5
J_MIN, J_MAX = 0.5, 2.0
BROW_LID_SHARE = 0.45
FULL_EXPRESSION_WIDTH = 60.0
SMALLEST_EXPRESSION = 0.35
#: Head pose tied to the emotion at the apex: (rotation degrees, log scale, x, y in face widths).
EMOTION_HEAD = {
    "joy": (0.8, 0.004, 0.0, -0.004), "surprise": (0.0, -0.006, 0.0, -0.014),
    "fear": (0.0, -0.01, 0.0, -0.006), "sadness": (-0.5, -0.004, 0.0, 0.014),
    "anger": (0.0, 0.008, 0.0, 0.004), "disgust": (-1.0, -0.006, 0.0, -0.003),
}
#: Left-side landmarks (the face's own left, the photo's right) for the asymmetry.
_LEFT = np.array(list(range(9, 17)) + list(range(22, 27)) + list(range(42, 48)) + [52, 53, 54, 55, 56, 63, 64, 65])
_RIGHT = np.array(list(range(0, 8)) + list(range(17, 22)) + list(range(36, 42)) + [48, 49, 50, 58, 59, 60, 61, 67])


@dataclass(frozen=True)
class ExpressionPlan:
    """One face's motion: patterns ``[K, 68, 2]`` (photo px), coefficients ``[T, K]``, head ``[T, 4]``.

    ``head`` rows are (rotation rad, log scale, x, y in face widths), as
    :func:`editor.trajectory.head_transforms` takes them; ``scale`` is the factor the bounds left
    of the requested expression (1 = as asked), ``names`` name the patterns.
    """

    patterns: np.ndarray
    coefficients: np.ndarray
    head: np.ndarray
    names: tuple[str, ...]
    scale: float
    times: np.ndarray

    def half_strength_time(self) -> float:
        """The first time (seconds) the mouth reaches half its apex weight (nan when it never moves)."""
        mouth = self.coefficients[:, MOUTH]
        if mouth.max() <= 0:
            return float("nan")
        return float(self.times[int(np.argmax(mouth >= 0.5 * mouth.max()))])

    def landmarks(self, base: np.ndarray, index: int) -> np.ndarray:
        """The 68 landmarks in frame ``index`` before head motion (photo px)."""
        return np.asarray(base, np.float64) + np.tensordot(self.coefficients[index], self.patterns, axes=1)


def region_curves(rng: np.random.Generator, times: np.ndarray, onset: float) -> np.ndarray:
    """``[T, 3]`` weights in [0, 1] of brows, lids and mouth: eased rises after ``onset``, staggered, held."""
    rise = rng.uniform(*RISE_RANGE)
    curves = []
    for region in REGIONS:
        start = onset + REGION_LAG[region] * rng.uniform(0.7, 1.3)
        curves.append(ease_in(times - start, rise * rng.uniform(0.9, 1.1)))
    return np.stack(curves, axis=1)


def blink_pattern(landmarks: np.ndarray, closure: float = 0.92) -> np.ndarray:
    """``[68, 2]``: upper lids down ``closure`` of the way to the lower lids, lower lids up a little."""
    lm = np.asarray(landmarks, np.float64)
    out = np.zeros((68, 2))
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        gap = lm[lower] - lm[upper]
        out[upper] = 0.85 * closure * gap
        out[lower] = -0.15 * closure * gap
    return out


def asymmetric(pattern: np.ndarray, amount: float) -> np.ndarray:
    """The pattern with the face's left side ``1 + amount`` and right side ``1 − amount`` as strong."""
    out = np.array(pattern, np.float64)
    out[..., _LEFT, :] *= 1.0 + amount
    out[..., _RIGHT, :] *= 1.0 - amount
    return out


def size_factor(face_width: float) -> float:
    """The share of the expression a face of this width (px, jaw to jaw) gets: full from 60 px, less below."""
    x = (float(face_width) - 30.0) / (FULL_EXPRESSION_WIDTH - 30.0)
    return float(np.clip(x, SMALLEST_EXPRESSION, 1.0))


def brow_lid_limit(landmarks: np.ndarray, brows: np.ndarray, lids: np.ndarray) -> float:
    """The largest factor (≤ 1) for brow and lid patterns so they close at most BROW_LID_SHARE of their gap."""
    lm = np.asarray(landmarks, np.float64)
    worst = 1.0
    for brow, lid in ((19, 37), (20, 38), (23, 43), (24, 44)):
        gap = lm[lid, 1] - lm[brow, 1]
        closing = brows[brow, 1] - lids[lid, 1]  # brow down (+y) and lid up (-y) both close the gap
        if gap > 0 and closing > BROW_LID_SHARE * gap:
            worst = min(worst, BROW_LID_SHARE * gap / closing)
    return worst


def head_curve(rng: np.random.Generator, times: np.ndarray, emotion_weights: dict, apex: np.ndarray) -> np.ndarray:
    """``[T, 4]`` head motion: smooth noise (rotation ~1.2°) plus the emotion's pose times ``apex`` [T]."""
    sigma = np.array([np.deg2rad(1.2), 0.006, 0.008, 0.008])
    head = smooth_noise(rng, times, 4, knot_spacing=rng.uniform(0.7, 1.1)) * sigma * ease_in(times, 0.5)[:, None]
    pose = np.zeros(4)
    for name, weight in emotion_weights.items():
        rot, scale, x, y = EMOTION_HEAD.get(name, (0.0, 0.0, 0.0, 0.0))
        pose += weight * np.array([np.deg2rad(rot) * rng.choice([-1.0, 1.0]), scale, x, y])
    head += apex[:, None] * pose[None]
    limit = np.deg2rad(HEAD_MAX_DEG)
    head[:, 0] = limit * np.tanh(head[:, 0] / limit)
    return head


def plan_expression(seed, duration: float, fps: float, landmarks: np.ndarray, regions: np.ndarray,
                    emotion_weights: dict, onset_range: tuple[float, float], blink_rate_hz: float = 0.3,
                    noise: float = 0.06) -> ExpressionPlan:
    """Draw a face's plan (see the module docstring) before the fold bounds are applied.

    ``regions`` ``[3, 68, 2]`` the full displacement of brows, lids and mouth to the target (photo px,
    already scaled by intensity); ``onset_range`` in seconds.
    """
    rng = as_rng(seed)
    times = frame_times(duration, fps)
    onset = rng.uniform(*onset_range)
    curves = region_curves(rng, times, onset)
    amount = rng.uniform(-0.12, 0.12)
    regions = asymmetric(regions, amount)
    jitter = smooth_noise(rng, times, 3, knot_spacing=0.6) * noise * ease_in(times - onset, 0.6)[:, None]
    blinks = blink_curve(rng, times, blink_rate_hz)
    patterns = np.concatenate([regions, blink_pattern(landmarks)[None]])
    coefficients = np.concatenate([curves * (1.0 + jitter), blinks[:, None]], axis=1)
    head = head_curve(rng, times, emotion_weights, curves[:, 2])
    return ExpressionPlan(patterns, coefficients, head, REGIONS + ("blink",), 1.0, times)


def scaled(plan: ExpressionPlan, factor: float) -> ExpressionPlan:
    """The plan with its expression patterns (not the blink) scaled by ``factor``."""
    patterns = plan.patterns.copy()
    patterns[:3] *= factor
    return ExpressionPlan(patterns, plan.coefficients, plan.head, plan.names, plan.scale * factor, plan.times)
