"""Deformation around a moving face: matches the motion inside, fades to exactly nothing outside."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.deformation import apply_deformation, displacement_field, falloff_weights, moved_forward
from editor.masks import transform_points
from editor.trajectory import head_transforms


def textured(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    noise = rng.uniform(0, 255, (h // 4, w // 4, 3)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def disc(h, w, cx, cy, r):
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def test_falloff_profile():
    region = disc(200, 240, 120, 100, 30)
    weights = falloff_weights(region, falloff=60)
    assert weights.dtype == np.float32
    assert np.all(weights[region] == 1.0)
    yy, xx = np.mgrid[0:200, 0:240]
    dist = np.sqrt((xx - 120) ** 2 + (yy - 100) ** 2) - 30
    assert np.all(weights[dist > 61] == 0.0)
    assert 0.3 < weights[100, 120 + 30 + 30] < 0.7  # half-way out: about half
    # Monotone and smooth along a ray: no step anywhere.
    ray = weights[100, 120:]
    assert np.all(np.diff(ray) <= 1e-6) and np.abs(np.diff(ray)).max() < 0.03
    assert not falloff_weights(np.zeros((5, 5), bool), 10).any()


def test_deformation_follows_motion_inside_and_is_zero_far_away():
    h, w = 200, 240
    photo = textured(h, w)
    region = disc(h, w, 120, 100, 30)
    weights = falloff_weights(region, falloff=60)
    motion = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -2.0], [0.0, 0.0, 1.0]])  # 3 px right, 2 px up
    field = displacement_field(weights, motion)
    np.testing.assert_allclose(field[100, 120], [-3.0, 2.0], atol=1e-6)
    assert np.all(field[weights == 0] == 0)
    out = apply_deformation(photo, weights, motion)
    # At the face: the frame shows the photo's content moved by the motion.
    np.testing.assert_array_equal(out[85:115, 105:135], photo[87:117, 102:132])
    # Far away: bit-identical.
    far = weights == 0
    assert far.sum() > 0.4 * h * w
    np.testing.assert_array_equal(out[far], photo[far])
    # In between, the motion fades: displacement magnitude decreases outward.
    mags = np.linalg.norm(field[100, 150:215], axis=1)
    assert mags[0] == pytest.approx(np.hypot(3, 2), abs=1e-5) and mags[-1] == 0
    assert np.all(np.diff(mags) <= 1e-6)


def test_rotation_about_face_centre_and_moved_forward():
    h, w = 160, 160
    photo = textured(h, w)
    region = disc(h, w, 80, 80, 25)
    head = np.array([[np.deg2rad(4.0), 0.02, 0.03, 0.0]])
    motion = head_transforms(head, center=(80, 80), face_width=50)[0]
    out = apply_deformation(photo, falloff_weights(region, 50), motion)
    # Inside the region the frame equals the photo warped by the motion (same interpolation).
    expected = cv2.warpAffine(photo, motion[:2], (w, h), flags=cv2.INTER_LINEAR)
    inner = disc(h, w, 80, 80, 20)
    assert np.abs(out[inner].astype(int) - expected[inner].astype(int)).max() <= 1
    # A crop that was cut with `forward` and is pasted with `moved_forward` lands where the face moved.
    forward = np.array([[2.0, 0.0, -100.0], [0.0, 2.0, -100.0], [0, 0, 1.0]])
    new_forward = moved_forward(forward, motion)
    p = np.array([[70.0, 90.0]])
    np.testing.assert_allclose(transform_points(new_forward, transform_points(motion, p)),
                               transform_points(forward, p), atol=1e-9)


def test_identity_motion_changes_nothing():
    photo = textured(64, 64)
    weights = falloff_weights(disc(64, 64, 32, 32, 10), 20)
    np.testing.assert_array_equal(apply_deformation(photo, weights, np.eye(3)), photo)
