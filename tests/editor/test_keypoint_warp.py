"""The thin-plate spline fields: keypoints land where asked, the inverse inverts, J measures folds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.keypoint_warp import SplineBasis, area_change, combine_fields, ellipse_window, invert_field


def _basis(points, box=(0, 0, 200, 200)):
    centre = np.array([100.0, 100.0])
    ring = centre + 90 * np.stack([np.cos(np.linspace(0, 2 * np.pi, 20, endpoint=False)),
                                   np.sin(np.linspace(0, 2 * np.pi, 20, endpoint=False))], axis=1)
    window = ellipse_window(box, centre, (70.0, 70.0), 0.0, 1.05, 1.25)
    return SplineBasis.fit(points, ring, box, window)


def _points(count=30, seed=0):
    """``count`` keypoints on a jittered 12 px grid within 55 px of the centre (spaced like landmarks)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(-48, 49, 12.0), np.arange(-48, 49, 12.0)), axis=-1).reshape(-1, 2)
    grid = grid[np.linalg.norm(grid, axis=1) < 55]
    chosen = grid[rng.choice(len(grid), count, replace=False)]
    return 100 + chosen + rng.uniform(-3, 3, chosen.shape)


def _smooth_patterns(points, count=3, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        a = rng.normal(0, 0.06, (2, 2))
        out.append((points - 100) @ a.T + rng.normal(0, 0.4, points.shape))
    return np.stack(out)


def _read(field, points, box=(0, 0)):
    xs = (points[:, 0] - box[0]).astype(np.float32)[None]
    ys = (points[:, 1] - box[1]).astype(np.float32)[None]
    return cv2.remap(field, xs, ys, cv2.INTER_LINEAR)[0]


def test_keypoints_land_where_asked_within_half_a_pixel():
    points = _points()
    basis = _basis(points)
    patterns = _smooth_patterns(points)
    weights = np.array([1.0, -0.5, 0.8])
    forward = combine_fields(basis.pattern_fields(patterns), weights)
    wanted = np.tensordot(weights, patterns, axes=1)
    # The forward field carries each keypoint by its displacement ...
    assert np.abs(_read(forward, points) - wanted).max() < 0.2  # bilinear look-up of a curved field
    # ... and the backward field brings each target pixel back to its keypoint.
    back = invert_field(forward)
    targets = points + wanted
    assert np.abs(targets + _read(back, targets) - points).max() < 0.5


def test_fields_are_linear_in_the_patterns_and_zero_outside_the_window():
    points = _points()
    basis = _basis(points)
    patterns = _smooth_patterns(points)
    fields = basis.pattern_fields(patterns)
    together = basis.pattern_fields(patterns.sum(0, keepdims=True))[0]
    np.testing.assert_allclose(fields.sum(0), together, atol=1e-4)
    assert np.all(fields[:, basis.window == 0] == 0)


def test_area_change_of_known_fields():
    ys, xs = np.mgrid[0:50, 0:50].astype(np.float32)
    stretch = np.stack([0.5 * xs, np.zeros_like(ys)], axis=-1)  # x scaled by 1.5
    assert np.allclose(area_change(stretch), 1.5, atol=1e-5)
    fold = np.stack([-2.0 * xs, np.zeros_like(ys)], axis=-1)  # x mirrored: a fold
    assert area_change(fold).max() < 0


def test_coefficients_must_match_the_fields():
    with pytest.raises(ValueError):
        combine_fields(np.zeros((3, 4, 4, 2), np.float32), [1.0, 2.0])


def test_patterns_of_the_wrong_shape_are_refused():
    basis = _basis(_points(10))
    with pytest.raises(ValueError):
        basis.pattern_fields(np.zeros((2, 11, 2)))
