"""Whole frames: deformation + colour-matched paste for every face, photo untouched elsewhere."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.composite import compose_frame, prepare_face_layer, touched_region
from editor.masks import transform_points

_spec = importlib.util.spec_from_file_location("_composite_helpers", Path(__file__).with_name("test_composite.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
SIZE = helpers.SIZE


@pytest.fixture
def two_faces():
    photo = helpers.smooth_photo(200, 360, seed=2)
    forwards = [np.linalg.inv(helpers.similarity(-8, 0.9, 30, 50)),
                np.linalg.inv(helpers.similarity(10, 0.8, 240, 60))]
    crop_lms = helpers.template_landmarks(SIZE)
    landmarks = [transform_points(np.linalg.inv(f), crop_lms) for f in forwards]
    crops = [cv2.warpAffine(photo, f[:2], (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT) for f in forwards]
    return photo, forwards, landmarks, crops


def test_unedited_faces_reproduce_the_photo(two_faces):
    photo, forwards, landmarks, crops = two_faces
    layers = [prepare_face_layer(photo, f, lm, SIZE, reconstruction=c) for f, lm, c in zip(forwards, landmarks, crops)]
    frame = compose_frame(photo, layers, crops, [np.eye(3), None])
    err = np.abs(frame.astype(int) - photo.astype(int))
    assert err.max() <= 4 and err.mean() < 0.3
    outside = ~touched_region(photo.shape, layers)
    assert outside.mean() > 0.2
    np.testing.assert_array_equal(frame[outside], photo[outside])


def test_moving_face_moves_and_far_pixels_stay(two_faces):
    photo, forwards, landmarks, crops = two_faces
    layers = [prepare_face_layer(photo, f, lm, SIZE) for f, lm in zip(forwards, landmarks)]
    shift = np.array([[1.0, 0, 4.0], [0, 1.0, -3.0], [0, 0, 1.0]])
    frame = compose_frame(photo, layers, crops, [shift, None])
    cx, cy = np.round(layers[0].center).astype(int)
    window = (slice(cy - 8, cy + 8), slice(cx - 8, cx + 8))
    moved = photo[cy - 8 + 3: cy + 8 + 3, cx - 8 - 4: cx + 8 - 4]
    assert np.abs(frame[window].astype(int) - moved.astype(int)).max() <= 4
    assert np.abs(frame[window].astype(int) - photo[window].astype(int)).max() > 10  # it did move
    outside = ~touched_region(photo.shape, layers)
    np.testing.assert_array_equal(frame[outside], photo[outside])
    # The deformation reaches about one face width and no further.
    changed = (frame != photo).any(-1)
    ys, xs = np.nonzero(changed)
    reach = np.hypot(xs - layers[0].center[0], ys - layers[0].center[1])
    reach = reach[xs < 200]
    assert reach.max() < 2.5 * layers[0].width


def test_colour_of_rendering_is_matched_to_photo(two_faces):
    photo, forwards, landmarks, crops = two_faces
    cast = [np.clip(c.astype(np.float32) * 0.8 + [25, 0, -15], 0, 255).astype(np.uint8) for c in crops]
    plain = [prepare_face_layer(photo, f, lm, SIZE) for f, lm in zip(forwards, landmarks)]
    matched = [prepare_face_layer(photo, f, lm, SIZE, reconstruction=c) for f, lm, c in zip(forwards, landmarks, cast)]
    raw = np.abs(compose_frame(photo, plain, cast).astype(int) - photo.astype(int)).mean()
    fixed = np.abs(compose_frame(photo, matched, cast).astype(int) - photo.astype(int)).mean()
    assert fixed < 0.4 * raw, (raw, fixed)
    with pytest.raises(ValueError):
        compose_frame(photo, matched, cast[:1])
