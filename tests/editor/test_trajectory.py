"""Trajectories: strength curves, blinks, head motion, subspace noise and latent paths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from editor.trajectory import (
    NO_BLINK_TAIL, face_seeds, frame_times, fresh_seed, head_transforms, latent_noise, natural_cubic_spline,
    plan_face_motion, plan_faces, project_onto_subspace, smooth_noise, validate_timing,
)
from inversion.common.errors import FaceLatentError


def test_frame_times_count_and_spacing():
    t = frame_times(2.0, 60)
    assert t.shape == (120,) and t[0] == 0 and t[1] == pytest.approx(1 / 60)
    assert frame_times(4.0, 30).shape == (120,)
    assert frame_times(2.5, 24).shape == (60,)


def test_validate_timing_rejects_out_of_range():
    validate_timing(4.0, 60, 0.7)
    for args in [(1.0, 60, 0.5), (11, 60, 0.5), (4, 0, 0.5), (4, 60, 1.5), (4, 60, -0.1), (float("nan"), 60, 0.5)]:
        with pytest.raises(FaceLatentError):
            validate_timing(*args)


def test_same_seed_same_plan_and_children_differ():
    a = plan_face_motion(7, 2.0, 60, 0.7)
    b = plan_face_motion(7, 2.0, 60, 0.7)
    for field in ("strength", "blink", "head"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    seeds = face_seeds(1, 3)
    plans = [plan_face_motion(s, 2.0, 60, 0.7) for s in seeds]
    again = [plan_face_motion(s, 2.0, 60, 0.7) for s in face_seeds(1, 3)]
    np.testing.assert_array_equal(plans[2].strength, again[2].strength)
    halves = [p.half_strength_time() for p in plans]
    assert len(set(halves)) == 3, halves
    assert not np.allclose(plans[0].head, plans[1].head)


def test_strength_curve_shape():
    intensity = 0.8
    for seed in range(12):
        m = plan_face_motion(seed, 4.0, 60, intensity)
        s, t = m.strength, m.times
        assert s[0] == 0.0 and s.min() >= 0.0
        assert s.max() <= 1.3 * intensity
        # At rest before the onset, then a rise that is not a linear ramp: it starts and ends slowly.
        assert np.all(s[t <= m.onset] < 1e-9)
        rise = (t > m.onset) & (t < m.onset + m.rise)
        slope = np.gradient(s, t)
        peak_slope = slope[rise].max()
        assert slope[rise][:2].max() < 0.35 * peak_slope
        mean_slope = m.amplitude / m.rise
        assert peak_slope > 1.2 * mean_slope
        # Reaches its apex, and keeps living: the hold is not constant.
        hold = s[t >= m.onset + m.rise]
        assert hold.size > 10 and hold.mean() == pytest.approx(m.amplitude, rel=0.15)
        assert hold.std() > 1e-3
        # Smooth: no jumps between frames.
        assert np.abs(np.diff(s)).max() < 0.05


def test_intensity_scales_amplitude():
    weak = plan_face_motion(3, 4.0, 60, 0.3).strength.max()
    strong = plan_face_motion(3, 4.0, 60, 0.9).strength.max()
    assert strong == pytest.approx(3 * weak, rel=1e-6)
    assert plan_face_motion(3, 4.0, 60, 0.0).strength.max() == 0.0


def test_blinks_and_switches():
    m = plan_face_motion(5, 10.0, 60, 0.7, blink_rate_hz=0.5)
    assert m.blink.min() >= 0 and m.blink.max() <= 1 and m.blink.max() > 0.9
    starts = np.flatnonzero((m.blink[1:] > 0.5) & (m.blink[:-1] <= 0.5))
    assert 1 <= starts.size <= 12
    closed = np.mean(m.blink > 0.5)
    assert closed < 0.15
    off = plan_face_motion(5, 10.0, 60, 0.7, blink_rate_hz=0, head_rotation_deg=0, head_translation=0,
                           head_scale=0)
    assert not off.blink.any() and not off.head.any()


def test_no_blink_in_a_clips_last_moments():
    # The clip ends on open eyes: frequent blinks over many seeds, none within NO_BLINK_TAIL of the end.
    plans = [plan_face_motion(seed, 3.0, 60, 0.7, blink_rate_hz=2.0) for seed in range(20)]
    assert sum(m.blink.max() > 0.9 for m in plans) >= 15
    for m in plans:
        assert m.blink[m.times >= m.times[-1] - NO_BLINK_TAIL].max() == 0.0


def test_head_motion_is_small_smooth_and_starts_at_identity():
    m = plan_face_motion(11, 4.0, 60, 0.7)
    assert np.all(m.head[0] == 0)
    mats = head_transforms(m.head, center=(100.0, 80.0), face_width=50.0)
    assert mats.shape == (m.num_frames, 3, 3)
    np.testing.assert_array_equal(mats[0], np.eye(3))
    # The face centre moves by at most a few pixels of a 50-px face and changes slowly.
    centre = mats[:, :2, :] @ np.array([100.0, 80.0, 1.0])
    shift = np.linalg.norm(centre - [100.0, 80.0], axis=1)
    assert shift.max() < 0.1 * 50 and shift.max() > 0
    assert np.abs(np.diff(centre, axis=0)).max() < 0.5
    # A similarity: the linear part is a scaled rotation.
    lin = mats[:, :2, :2]
    np.testing.assert_allclose(lin[:, 0, 0], lin[:, 1, 1])
    np.testing.assert_allclose(lin[:, 0, 1], -lin[:, 1, 0])


def test_head_transform_geometry():
    head = np.array([[np.pi / 2, np.log(2.0), 0.1, 0.0]])
    mat = head_transforms(head, center=(10.0, 20.0), face_width=30.0)[0]
    # The centre stays, up to the translation; a point 1 px right goes to 2 px "down" (y down).
    np.testing.assert_allclose(mat @ [10, 20, 1], [13, 20, 1], atol=1e-12)
    np.testing.assert_allclose(mat @ [11, 20, 1], [13, 22, 1], atol=1e-12)


def test_smooth_noise_is_low_frequency():
    rng = np.random.default_rng(0)
    t = frame_times(10.0, 60)
    n = smooth_noise(rng, t, 3, knot_spacing=0.8)
    spectrum = np.abs(np.fft.rfft(n - n.mean(0), axis=0)) ** 2
    freqs = np.fft.rfftfreq(t.size, 1 / 60)
    assert spectrum[freqs > 2.0].sum() < 0.01 * spectrum.sum()


def test_latent_noise_stays_in_subspace():
    rng = np.random.default_rng(1)
    basis = rng.standard_normal((3, 32))  # not orthonormal on purpose
    t = frame_times(2.0, 60)
    noise = latent_noise(4, t, basis, scale=0.5)
    assert noise.shape == (120, 32)
    np.testing.assert_array_equal(noise[0], 0)
    np.testing.assert_allclose(project_onto_subspace(noise, basis), noise, atol=1e-10)
    # Orthogonal to anything outside the span.
    other = rng.standard_normal(32)
    other -= project_onto_subspace(other, basis)
    assert np.abs(noise @ other).max() < 1e-9
    norm = np.linalg.norm(noise[t > 0.5], axis=1)
    assert 0.1 < norm.mean() < 1.5
    np.testing.assert_array_equal(noise, latent_noise(4, t, basis, scale=0.5))
    assert not np.allclose(noise, latent_noise(5, t, basis, scale=0.5))


def test_plan_faces_reproducible_and_never_in_step():
    a = plan_faces(1, 3, 2.0, 60, 0.7)
    b = plan_faces(1, 3, 2.0, 60, 0.7)
    assert len(a) == 3
    for (ma, na), (mb, nb) in zip(a, b):
        np.testing.assert_array_equal(ma.strength, mb.strength)
        np.testing.assert_array_equal(ma.head, mb.head)
        t = ma.times
        np.testing.assert_array_equal(latent_noise(na, t, np.eye(4), 1.0), latent_noise(nb, t, np.eye(4), 1.0))
    noises = [latent_noise(n, a[0][0].times, np.eye(4), 1.0) for _, n in a]
    assert not np.allclose(noises[0], noises[1])
    other = plan_faces(2, 3, 2.0, 60, 0.7)
    assert not np.allclose(a[0][0].strength, other[0][0].strength)
    for seed in range(40):
        halves = sorted(m.half_strength_time() for m, _ in plan_faces(seed, 4, 2.0, 60, 0.7))
        assert np.diff(halves).min() >= 0.05, (seed, halves)
    assert plan_faces(0, 0) == []
    s = fresh_seed()
    assert isinstance(s, int) and 0 <= s < 2 ** 31


@pytest.mark.parametrize("count", [3, 4, 9])
def test_natural_cubic_spline_is_scipys(count):
    """The numpy spline behind smooth_noise is SciPy's natural cubic spline, between the knots and beyond them."""
    rng = np.random.default_rng(count)
    knots = np.cumsum(rng.uniform(0.3, 1.2, count))
    values = rng.standard_normal((count, 3))
    times = np.linspace(knots[0] - 0.3, knots[-1] + 0.3, 400)
    expected = CubicSpline(knots, values, axis=0, bc_type="natural")(times)
    assert np.allclose(natural_cubic_spline(knots, values, times), expected, rtol=0, atol=1e-12)
