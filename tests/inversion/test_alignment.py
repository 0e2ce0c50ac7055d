"""align_face / unalign / paste_face: the FFHQ quad, exact transforms, padding and the round trip."""

from __future__ import annotations

import numpy as np
import pytest

from inversion.faces.alignment import (AlignedFace, align_face, apply_transform, face_quad, paste_face,
                                       quad_to_crop_matrix, unalign)
from inversion.common.errors import FaceLatentError


def _synthetic_landmarks(eye_l=(40.0, 50.0), eye_r=(60.0, 50.0), mouth_l=(42.0, 80.0), mouth_r=(58.0, 80.0)):
    """68 points of which only the ones alignment reads matter: eyes (36-47) and mouth corners."""
    lm = np.zeros((68, 2))
    lm[36:42] = np.asarray(eye_l) + np.array([[-3, 0], [-1, -1], [1, -1], [3, 0], [1, 1], [-1, 1]])
    lm[42:48] = np.asarray(eye_r) + np.array([[-3, 0], [-1, -1], [1, -1], [3, 0], [1, 1], [-1, 1]])
    lm[48], lm[54] = mouth_l, mouth_r
    return lm


def _rotated(lm, angle_deg, centre):
    a = np.deg2rad(angle_deg)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (lm - centre) @ r.T + centre


def test_ffhq_quad_by_hand():
    # eye_avg (50, 50), eye_to_eye (20, 0), eye_to_mouth (0, 30): x = (50, 0) normalised, times
    # max(2 * 20, 1.8 * 30) = 54; y = (0, 54); centre = eye_avg + 0.1 * eye_to_mouth = (50, 53).
    quad = face_quad(_synthetic_landmarks(), "ffhq")
    np.testing.assert_allclose(quad, [[-4, -1], [-4, 107], [104, 107], [104, -1]], atol=1e-9)
    tight = face_quad(_synthetic_landmarks(), "tight")
    side = np.hypot(*(tight[3] - tight[0]))
    assert side == pytest.approx(2 * max(1.42 * 20, 1.29 * 30))
    assert side < 0.75 * 108


def test_forward_maps_quad_corners_to_crop_edges_and_inverts():
    lm = _rotated(_synthetic_landmarks(), 25, np.array([50.0, 60.0])) + 300
    quad = face_quad(lm)
    m = quad_to_crop_matrix(quad, 64)
    corners = apply_transform(m, quad)
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [-0.5, 63.5], [63.5, 63.5], [63.5, -0.5]], atol=1e-9)
    assert np.allclose(m[2], [0, 0, 1])


def test_aligned_pixels_follow_the_forward_transform_exactly():
    # Bilinear sampling and area averaging reproduce an affine image exactly, so every crop pixel
    # must equal the photo's value at inverse(pixel), up to uint8 rounding (0.5 + 0.5).
    h, w = 400, 500
    yy, xx = np.mgrid[0:h, 0:w]
    value = 20 + 0.35 * xx + 0.1 * yy  # 20..225
    photo = np.repeat(np.rint(value)[:, :, None], 3, axis=2).astype(np.uint8)
    lm = _rotated(_synthetic_landmarks(), -15, np.array([50.0, 60.0])) * 1.5 + [180, 120]
    for size in (64, 256):  # downsampled (area path) and upsampled
        aligned = align_face(photo, lm, size=size)
        assert isinstance(aligned, AlignedFace) and aligned.image.shape == (size, size, 3)
        v, u = np.mgrid[0:size, 0:size]
        src = aligned.to_photo(np.stack([u.ravel(), v.ravel()], axis=1))
        expected = 20 + 0.35 * src[:, 0] + 0.1 * src[:, 1]
        err = np.abs(aligned.image[:, :, 0].ravel().astype(float) - expected)
        assert err.max() <= 1.0, err.max()
        np.testing.assert_allclose(aligned.inverse @ aligned.forward, np.eye(3), atol=1e-12)


def test_round_trip_returns_the_photo_inside_the_face(shared):
    from inversion.faces.detection import detect_faces
    from inversion.common.images import read_photo

    photo = read_photo(shared("data", "photos", "astronaut.png"))
    face = detect_faces(photo)[0]
    for variant in ("ffhq", "tight"):
        # Align then un-align is bilinear resampling twice plus uint8 rounding (<= 0.5): the error
        # is the crop grid's interpolation error, which shrinks as the crop samples the face more
        # finely (measured mean 2.0 / 1.0 / 0.5 levels for crops 1.5x / 2.9x / 5.9x finer than the
        # photo). At 1024 px (quad 124..174 photo px, 6-8x finer): mean < 0.75 level, 99th
        # percentile < 5 levels (the worst pixels are sharp edges: teeth, hair, collar).
        aligned = align_face(photo, face.landmarks68, size=1024, variant=variant)
        pixels, coverage, (x0, y0) = unalign(aligned.image, aligned, photo.shape)
        inside = coverage > 0.999
        assert inside.sum() > 0.9 * np.hypot(*(aligned.quad[3] - aligned.quad[0])) ** 2
        original = photo[y0:y0 + coverage.shape[0], x0:x0 + coverage.shape[1]].astype(np.float32)
        diff = np.abs(pixels - original)[inside]
        assert diff.mean() < 0.75 and np.percentile(diff, 99) < 5.0, (variant, diff.mean())
        # the landmarks map to the crop and back
        np.testing.assert_allclose(aligned.to_photo(aligned.to_crop(face.landmarks68)), face.landmarks68,
                                   atol=1e-9)


def test_padding_where_the_quad_leaves_the_photo():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    photo[:, :, 1] = 200
    lm = _synthetic_landmarks() - [40, 45]  # face at the top-left corner: quad far outside
    aligned = align_face(photo, lm, size=128)
    assert aligned.image.shape == (128, 128, 3)
    # where the crop lies outside the photo, FFHQ's reflect + blur + fade to the median: never black
    outside = aligned.image[:10, :10].astype(float)
    assert outside.mean() > 40 and outside[:, :, 1].std() < photo[:, :, 0].std()
    assert (aligned.image[:, :, 1].astype(int) - 200).__abs__().max() <= 2  # a constant channel stays


def test_paste_face_touches_only_the_quad_and_keeps_the_photo():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    lm = _synthetic_landmarks() + [100, 80]
    aligned = align_face(photo, lm, size=96)
    white = np.full((192, 192, 3), 255, np.uint8)  # an edited crop at twice the size
    out = paste_face(photo, white, aligned)
    assert out.dtype == np.uint8 and out.shape == photo.shape and out is not photo
    changed = np.any(out != photo, axis=2)
    ys, xs = np.nonzero(changed)
    lo, hi = aligned.quad.min(axis=0), aligned.quad.max(axis=0)
    assert xs.min() >= lo[0] - 1 and xs.max() <= hi[0] + 1 and ys.min() >= lo[1] - 1 and ys.max() <= hi[1] + 1
    centre = np.rint(aligned.quad.mean(axis=0)).astype(int)
    assert (out[centre[1], centre[0]] == 255).all()
    masked = paste_face(photo, white, aligned, mask=np.zeros((96, 96), np.float32))
    assert (masked == photo).all()


def test_bad_input():
    photo = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(FaceLatentError, match="68"):
        align_face(photo, np.zeros((5, 2)))
    with pytest.raises(FaceLatentError, match="unknown alignment"):
        align_face(photo, _synthetic_landmarks(), variant="celeba")
    with pytest.raises(FaceLatentError, match="degenerate"):
        align_face(photo, np.zeros((68, 2)))
    with pytest.raises(FaceLatentError):
        align_face(photo.astype(np.float32), _synthetic_landmarks())
