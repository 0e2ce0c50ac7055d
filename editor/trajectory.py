"""Per-face motion plans: emotion strength over time, blinks, head motion and latent noise (numpy; the
flow model's strength curve is SciPy's PCHIP, imported where it is drawn).

Time runs over the frame times ``t_i = i / fps`` for ``i in range(round(duration * fps))``.
Every plan starts from the face as it is in the photo: at ``t = 0`` the emotion strength, the
blink, the head motion and the latent noise are all zero, so frame 0 is the face's own
expression. A plan is drawn from a seed; :func:`plan_faces` gives each face of a photo its own
child seeds (motion and latent noise) from the run's seed, so the same run seed reproduces every
face, two faces never share a path, and no two reach half strength at the same moment.

The emotion strength ``s(t)`` (dimensionless, 0 = the photo, about the intensity at the apex; the
caller scales the direction, e.g. animate's ``EDIT_SCALE`` makes the default intensity apply the
direction's recommended strength) is a monotone cubic (PCHIP) through keyframes: a rest
until a random onset delay, a smooth ease-in/ease-out rise over a random duration (with a random
mid-point, so rises differ in shape), an apex and a living hold whose keyframes vary a little.
The latent path (:mod:`editor.latent_path`, torch) is ``w(t) = w0 + s(t) * scale * d + n(t) + b(t) * d_blink``
where ``d`` is the (blended) emotion direction and ``n(t)`` is smooth low-frequency noise restricted to
a subspace the caller provides (:func:`latent_noise`). This module does not import torch, so the warp
motion model (which plans with it) starts without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inversion.common.errors import FaceLatentError

DEFAULT_DURATION = 4.0
#: No blink starts or ends within this many seconds of a clip's end.
NO_BLINK_TAIL = 0.3
DEFAULT_FPS = 60.0
DEFAULT_INTENSITY = 0.7
DURATION_RANGE = (2.0, 10.0)
#: The onset delay's range, as fractions of the clip's duration.
ONSET_RANGE = (0.04, 0.22)
FPS_RANGE = (1.0, 240.0)


def validate_timing(duration: float, fps: float, intensity: float) -> None:
    """Raise :class:`FaceLatentError` (one line) unless the options are in their allowed ranges.

    ``duration`` in seconds within :data:`DURATION_RANGE`, ``fps`` within :data:`FPS_RANGE`,
    ``intensity`` within [0, 1].
    """
    lo, hi = DURATION_RANGE
    if not np.isfinite(duration) or not lo <= duration <= hi:
        raise FaceLatentError(f"--duration must be between {lo:g} and {hi:g} seconds, got {duration:g}")
    lo, hi = FPS_RANGE
    if not np.isfinite(fps) or not lo <= fps <= hi:
        raise FaceLatentError(f"--fps must be between {lo:g} and {hi:g}, got {fps:g}")
    if not np.isfinite(intensity) or not 0.0 <= intensity <= 1.0:
        raise FaceLatentError(f"--intensity must be between 0 and 1, got {intensity:g}")


def frame_times(duration: float, fps: float) -> np.ndarray:
    """The frame times ``i / fps`` (seconds, float64) for ``i in range(round(duration * fps))``."""
    if duration <= 0 or fps <= 0:
        raise ValueError(f"duration and fps must be positive, got {duration}, {fps}")
    return np.arange(int(round(duration * fps)), dtype=np.float64) / float(fps)


def face_seeds(run_seed: int, num_faces: int) -> list[np.random.SeedSequence]:
    """One independent child seed per face, spawned from the run's seed (numpy SeedSequence)."""
    return np.random.SeedSequence(int(run_seed)).spawn(int(num_faces))


def fresh_seed() -> int:
    """A new run seed from the operating system's entropy (print it, so the run can be repeated)."""
    return int(np.random.SeedSequence().entropy % (2 ** 31))


def as_rng(seed) -> np.random.Generator:
    """A numpy Generator from an int, a SeedSequence or a Generator (returned as is).

    ``None`` is refused: randomness must always be seeded explicitly.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise ValueError("a seed is required (an int, a numpy SeedSequence or Generator)")
    return np.random.default_rng(seed)


def ease_in(times: np.ndarray, length: float) -> np.ndarray:
    """Smoothstep envelope: 0 at t <= 0, 1 at t >= length, zero slope at both ends."""
    x = np.clip(np.asarray(times, dtype=np.float64) / max(length, 1e-9), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def smooth_noise(rng: np.random.Generator, times: np.ndarray, channels: int, knot_spacing: float) -> np.ndarray:
    """Smooth, low-frequency noise ``[T, channels]`` with unit standard deviation at the knots.

    A cubic spline through standard-normal values at knots ``knot_spacing`` seconds apart (the
    spectrum falls off above about ``1 / (2 * knot_spacing)`` Hz). Not enveloped: see
    :func:`ease_in`.
    """
    times = np.asarray(times, dtype=np.float64)
    end = float(times[-1]) if times.size else 0.0
    num_knots = max(4, int(np.ceil(end / knot_spacing)) + 2)
    knots = np.arange(num_knots, dtype=np.float64) * knot_spacing
    values = rng.standard_normal((num_knots, channels))
    return natural_cubic_spline(knots, values, times)


def natural_cubic_spline(knots: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``[T, C]``: the natural cubic spline (second derivative 0 at both ends) through ``values`` ``[K, C]``
    at the increasing ``knots`` ``[K]``, K >= 3, evaluated at ``times`` ``[T]``; beyond the knots it continues
    the end pieces. SciPy's ``CubicSpline(..., bc_type="natural")`` gives the same; written out so that the warp
    motion model, which plans with :func:`smooth_noise`, starts without importing SciPy (0.7 s).
    """
    x = np.asarray(knots, np.float64)
    y = np.asarray(values, np.float64)
    t = np.asarray(times, np.float64)
    h = np.diff(x)
    slopes = np.diff(y, axis=0) / h[:, None]
    # the second derivatives m_1 .. m_{K-2} (m_0 = m_{K-1} = 0) solve a tridiagonal system
    system = np.diag(2.0 * (h[:-1] + h[1:])) + np.diag(h[1:-1], 1) + np.diag(h[1:-1], -1)
    m = np.zeros_like(y)
    m[1:-1] = np.linalg.solve(system, 6.0 * np.diff(slopes, axis=0))
    i = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)  # the piece each time falls in
    a, b = (x[i + 1] - t)[:, None], (t - x[i])[:, None]
    width = h[i][:, None]
    return ((m[i] * a ** 3 + m[i + 1] * b ** 3) / (6.0 * width) + (y[i] / width - m[i] * width / 6.0) * a
            + (y[i + 1] / width - m[i + 1] * width / 6.0) * b)


@dataclass(frozen=True)
class FaceMotion:
    """One face's motion plan, sampled at the frame times.

    ``times`` [T] seconds; ``strength`` [T] emotion strength, 0 at t = 0, about ``amplitude`` at
    the apex; ``blink`` [T] in [0, 1] (1 = eyes closed); ``head`` [T, 4] small head motion as
    (rotation in radians, log scale, x and y translation in face widths), zero at t = 0 (see
    :func:`head_transforms`). The scalars record what was drawn.
    """

    times: np.ndarray
    strength: np.ndarray
    blink: np.ndarray
    head: np.ndarray
    onset: float
    rise: float
    amplitude: float

    @property
    def num_frames(self) -> int:
        return int(self.times.shape[0])

    def half_strength_time(self) -> float:
        """The first time (seconds) the strength reaches half its maximum (nan when never above 0)."""
        peak = float(self.strength.max())
        if peak <= 0:
            return float("nan")
        return float(self.times[int(np.argmax(self.strength >= 0.5 * peak))])


def _strength_keyframes(rng: np.random.Generator, duration: float, intensity: float, onset_range):
    onset = duration * rng.uniform(*onset_range)
    rise = duration * rng.uniform(0.22, 0.42) / rng.uniform(0.85, 1.2)
    rise = min(rise, 0.85 * duration - onset)
    amplitude = intensity * rng.uniform(0.85, 1.1)
    # A mid-point whose time and height vary: some faces start fast and settle, others build up.
    mid_t, mid_v = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)
    t_key = [0.0, onset, onset + mid_t * rise, onset + rise]
    v_key = [0.0, 0.0, mid_v * amplitude, amplitude]
    # Living hold: keyframes about every 0.6 s that wander a few percent around the apex.
    step = rng.uniform(0.45, 0.75)
    t = t_key[-1] + step
    while t < duration + step:
        t_key.append(t)
        v_key.append(amplitude * (1.0 + 0.07 * rng.standard_normal()))
        t += step * rng.uniform(0.8, 1.25)
    return np.array(t_key), np.clip(np.array(v_key), 0.0, None), onset, rise, amplitude


def blink_curve(rng: np.random.Generator, times: np.ndarray, rate_hz: float) -> np.ndarray:
    """``[T]`` in [0, 1] (1 = shut): blinks as a Poisson process of ``rate_hz`` per second, each closing in
    about 0.07 s and opening in about 0.13 s, at least 0.8 s apart, none within :data:`NO_BLINK_TAIL` seconds
    of the end (the clip ends on open eyes). Both motion models blink with it."""
    curve = np.zeros_like(times)
    end = float(times[-1]) if times.size else 0.0
    t = 0.4 + rng.exponential(1.0 / rate_hz) if rate_hz > 0 else np.inf
    while t + 0.2 < end - NO_BLINK_TAIL:
        close, reopen = rng.uniform(0.05, 0.09), rng.uniform(0.1, 0.16)
        shape = np.where(times <= t, np.clip((times - (t - close)) / close, 0, 1),
                         np.clip(((t + reopen) - times) / reopen, 0, 1))
        curve = np.maximum(curve, np.sin(0.5 * np.pi * shape) ** 2)
        t += max(0.8, rng.exponential(1.0 / rate_hz))
    return curve


def plan_face_motion(
    seed,
    duration: float = DEFAULT_DURATION,
    fps: float = DEFAULT_FPS,
    intensity: float = DEFAULT_INTENSITY,
    *,
    blink_rate_hz: float = 0.3,
    head_rotation_deg: float = 1.5,
    head_translation: float = 0.015,
    head_scale: float = 0.01,
    onset_range: tuple[float, float] = ONSET_RANGE,
) -> FaceMotion:
    """Draw one face's motion plan (see the module docstring) from ``seed``.

    ``seed``: int, SeedSequence or numpy Generator (e.g. one of :func:`face_seeds`).
    ``intensity`` in [0, 1] scales the apex strength. Head motion magnitudes are standard
    deviations: rotation in degrees, translation in face widths, scale as a relative change;
    ``blink_rate_hz = 0`` or magnitudes 0 switch those parts off. ``onset_range`` bounds the
    onset delay as fractions of the duration (:func:`plan_faces` gives each face its own slice).
    """
    rng = as_rng(seed)
    times = frame_times(duration, fps)
    t_key, v_key, onset, rise, amplitude = _strength_keyframes(rng, float(duration), float(intensity), onset_range)
    # Imported here: only the flow model draws these plans, and the warp model starts without SciPy.
    from scipy.interpolate import PchipInterpolator  # noqa: PLC0415

    strength = PchipInterpolator(t_key, v_key)(times)
    strength = np.clip(strength, 0.0, None)
    blink = blink_curve(rng, times, blink_rate_hz)
    sigma = np.array([np.deg2rad(head_rotation_deg), head_scale, head_translation, head_translation])
    head = smooth_noise(rng, times, 4, knot_spacing=rng.uniform(0.7, 1.1)) * sigma
    head *= ease_in(times, 0.5)[:, None]
    return FaceMotion(times=times, strength=strength, blink=blink, head=head,
                      onset=float(onset), rise=float(rise), amplitude=float(amplitude))


def plan_faces(run_seed: int, num_faces: int, duration: float = DEFAULT_DURATION, fps: float = DEFAULT_FPS,
               intensity: float = DEFAULT_INTENSITY, min_gap: float = 0.05,
               **options) -> list[tuple[FaceMotion, np.random.SeedSequence]]:
    """Every face's motion plan and a seed for its latent noise (:func:`latent_noise`), from one run seed.

    Each face gets its own child seed (:func:`face_seeds`), spawned again into a motion seed and
    a noise seed. The onset range is cut into ``num_faces`` slices dealt to the faces in an order
    drawn from the run seed, and a face whose half-strength time falls within ``min_gap`` seconds
    of an earlier face's is redrawn (from further deterministic child seeds, up to 16 times), so
    faces never move in step. ``options`` go to :func:`plan_face_motion`.
    """
    lo, hi = options.pop("onset_range", ONSET_RANGE)
    *children, order_seed = np.random.SeedSequence(int(run_seed)).spawn(num_faces + 1)
    order = np.random.default_rng(order_seed).permutation(num_faces)
    step = (hi - lo) / max(num_faces, 1)
    plans: list[tuple[FaceMotion, np.random.SeedSequence]] = []
    for child, k in zip(children, order):
        window = (lo + k * step, lo + (k + 1) * step)
        for attempt in range(16):
            motion_seed, noise_seed = child.spawn(2)
            motion = plan_face_motion(motion_seed, duration, fps, intensity, onset_range=window, **options)
            half = motion.half_strength_time()
            if all(not abs(half - other.half_strength_time()) < min_gap for other, _ in plans):
                break
        plans.append((motion, noise_seed))
    return plans


def head_transforms(head: np.ndarray, center, face_width: float) -> np.ndarray:
    """Per-frame 3x3 similarity matrices in photo pixels from :attr:`FaceMotion.head`.

    Each maps a point of the still photo to where it is in frame i (forward direction, x right,
    y down): rotation by ``head[i, 0]`` radians and scaling by ``exp(head[i, 1])`` about
    ``center`` (x, y), then a translation of ``head[i, 2:] * face_width`` pixels.
    Returns float64 ``[T, 3, 3]``; an all-zero row gives the identity exactly.
    """
    head = np.asarray(head, dtype=np.float64)
    cx, cy = float(center[0]), float(center[1])
    angle, scale = head[:, 0], np.exp(head[:, 1])
    a, b = scale * np.cos(angle), scale * np.sin(angle)
    out = np.zeros((head.shape[0], 3, 3))
    out[:, 0, 0], out[:, 0, 1] = a, -b
    out[:, 1, 0], out[:, 1, 1] = b, a
    out[:, 0, 2] = cx - a * cx + b * cy + head[:, 2] * face_width
    out[:, 1, 2] = cy - b * cx - a * cy + head[:, 3] * face_width
    out[:, 2, 2] = 1.0
    return out


def orthonormal_basis(basis) -> np.ndarray:
    """Orthonormal rows ``[k, D]`` spanning the rows of ``basis`` ([k, D] or [D]); rank-deficient rows dropped."""
    b = np.atleast_2d(np.asarray(basis, dtype=np.float64))
    u, s, vt = np.linalg.svd(b, full_matrices=False)
    keep = s > s.max() * 1e-8 if s.size and s.max() > 0 else np.zeros_like(s, dtype=bool)
    if not keep.any():
        raise ValueError("the noise basis spans nothing (all rows zero)")
    return vt[keep]


def project_onto_subspace(vectors, basis) -> np.ndarray:
    """Orthogonal projection of ``vectors`` [..., D] onto the span of the rows of ``basis`` [k, D]."""
    q = orthonormal_basis(basis)
    v = np.asarray(vectors, dtype=np.float64)
    return (v @ q.T) @ q


def latent_noise(seed, times: np.ndarray, basis, scale: float, knot_spacing: float = 0.8) -> np.ndarray:
    """Smooth low-frequency latent noise ``[T, D]`` that lies in the span of ``basis`` rows [k, D].

    Drawn as independent smooth noise along each orthonormal axis of the subspace (equivalent to
    projecting isotropic smooth noise onto it), scaled so its expected norm is about ``scale``
    (latent units), and faded in from exactly zero over the first 0.5 s.
    """
    rng = as_rng(seed)
    q = orthonormal_basis(basis)
    times = np.asarray(times, dtype=np.float64)
    coeffs = smooth_noise(rng, times, q.shape[0], knot_spacing) * (scale / np.sqrt(q.shape[0]))
    return (coeffs * ease_in(times, 0.5)[:, None]) @ q
