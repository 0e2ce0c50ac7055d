"""Paste-back, masks, colour matching and hole filling on synthetic photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.composite import (
    fill_region, fit_colour_transfer, paste_face, uncovered_region,
)
from editor.masks import crop_roi, face_mask, face_outline, face_support, transform_points, warp_mask_to_photo

SIZE = 96


def template_landmarks(size: int) -> np.ndarray:
    """A plausible frontal 68-point layout (dlib order) in a size x size aligned crop."""
    a = np.linspace(np.pi, 0, 17)
    jaw = np.stack([50 + 34 * np.cos(a), 48 + 40 * np.sin(a)], 1)  # ear (y 48) -> chin (y 88) -> ear
    arc = 36 - 3 * np.sin(np.linspace(0, np.pi, 5))
    brows = np.stack([np.concatenate([np.linspace(24, 44, 5), np.linspace(56, 76, 5)]), np.tile(arc, 2)], 1)
    nose = np.array([[50, 42], [50, 48], [50, 54], [50, 60], [44, 64], [47, 65], [50, 66], [53, 65], [56, 64]])

    def eye(cx):
        return np.array([[cx - 8, 45], [cx - 4, 42], [cx + 1, 42], [cx + 6, 45], [cx + 1, 47], [cx - 4, 47]])

    t12, t8 = np.linspace(np.pi, -np.pi, 13)[:12], np.linspace(np.pi, -np.pi, 9)[:8]
    outer = np.stack([50 + 14 * np.cos(t12), 76 - 6 * np.sin(t12)], 1)
    inner = np.stack([50 + 9 * np.cos(t8), 76 - 2 * np.sin(t8)], 1)
    pts = np.concatenate([jaw, brows, nose, eye(34), eye(66), outer, inner])
    assert pts.shape == (68, 2)
    return pts * (size / 100.0)


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    """3x3: x -> scale·R(angle)·x + t (x right, y down)."""
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx],
                     [scale * np.sin(a), scale * np.cos(a), ty], [0, 0, 1.0]])


def smooth_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for _ in range(3):
        f = rng.uniform(0.02, 0.08, size=2)
        p = rng.uniform(0, 6.28, size=2)
        chans.append(128 + 60 * np.sin(f[0] * xx + p[0]) + 50 * np.cos(f[1] * yy + p[1]))
    return np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)


@pytest.fixture
def scene():
    photo = smooth_photo(180, 220)
    # Crop -> photo: the face sits around (120, 90), about 80 px wide, tilted 12 degrees.
    inverse = similarity(12, 0.85, 80, 40)
    forward = np.linalg.inv(inverse)
    return photo, forward, template_landmarks(SIZE)


def test_identity_paste_leaves_photo_unchanged(scene):
    photo, forward, lms = scene
    crop = cv2.warpAffine(photo, forward[:2], (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = face_mask(lms, SIZE)
    out = paste_face(photo, crop, forward, mask)
    assert out.dtype == np.uint8 and out.shape == photo.shape
    err = np.abs(out.astype(int) - photo.astype(int))
    assert err.max() <= 3 and err.mean() < 0.2
    assert (out != photo).any()  # it did resample something
    photo_mask = warp_mask_to_photo(mask, forward, photo.shape)
    np.testing.assert_array_equal(out[photo_mask == 0], photo[photo_mask == 0])


def test_pixels_outside_support_are_bit_identical(scene):
    photo, forward, lms = scene
    rng = np.random.default_rng(3)
    crop = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)  # nothing like the photo
    mask = np.ones((SIZE, SIZE), np.float32)  # the harshest mask: the whole crop
    out = paste_face(photo, crop, forward, mask)
    support = face_support(photo.shape, forward, SIZE)
    np.testing.assert_array_equal(out[~support], photo[~support])
    changed = (out != photo).any(-1)
    assert changed.sum() > 0.8 * (SIZE * 0.85) ** 2
    # Where the mask is 1 the crop replaces the photo: the crop's centre pixel lands on the photo.
    centre = transform_points(np.linalg.inv(forward), [[SIZE / 2, SIZE / 2]])[0]
    cx, cy = np.round(centre).astype(int)
    q = transform_points(forward, [[cx, cy]])[0]
    expected = cv2.getRectSubPix(crop.astype(np.float32), (1, 1), tuple(q))[0, 0]
    np.testing.assert_allclose(out[cy, cx], expected, atol=1.0)


def test_paste_float_crop_and_photo_edge():
    photo = smooth_photo(100, 120).astype(np.float32)
    # A face half outside the photo's top-left corner.
    forward = np.linalg.inv(similarity(0, 1.0, -40, -30))
    crop = np.full((SIZE, SIZE, 3), 10.0, np.float32)
    out = paste_face(photo, crop, forward, face_mask(template_landmarks(SIZE), SIZE))
    assert out.dtype == np.float32 and out.shape == photo.shape
    assert np.abs(out[20, 10] - 10.0).max() < 1.0  # nose region of the face, inside the photo
    np.testing.assert_array_equal(out[90:, 80:], photo[90:, 80:])
    target = photo.copy()
    assert paste_face(target, crop, forward, face_mask(template_landmarks(SIZE), SIZE), inplace=True) is target
    np.testing.assert_array_equal(target, out)
    x0, y0, x1, y1 = crop_roi(forward, SIZE, photo.shape)
    assert (x0, y0) == (0, 0) and x1 <= 120 and y1 <= 100


def test_face_mask_shape():
    lms = template_landmarks(SIZE)
    mask = face_mask(lms, SIZE)
    assert mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1
    assert mask[0].max() == 0 and mask[-1].max() == 0 and mask[:, 0].max() == 0 and mask[:, -1].max() == 0
    nose = np.round(lms[30]).astype(int)
    assert mask[nose[1], nose[0]] > 0.99
    chin = np.round(lms[8]).astype(int)
    assert mask[min(chin[1] + 6, SIZE - 1), chin[0]] < 0.05  # below the chin: photo
    brow_y = int(lms[17:27, 1].min())
    assert mask[brow_y - 6, SIZE // 2] > 0.5  # forehead is in
    # Feathered: a soft edge, not a step.
    row = mask[int(lms[30, 1])]
    assert ((row > 0.05) & (row < 0.95)).sum() >= 4
    # More forehead -> mask reaches higher.
    high = face_mask(lms, SIZE, forehead=0.9)
    assert high.sum() > mask.sum()
    grown = face_mask(lms, SIZE, grow=0.1)
    assert grown.sum() > 1.1 * mask.sum() and np.all(grown >= mask - 1e-6)
    assert grown[min(chin[1] + 4, SIZE - 1), chin[0]] > mask[min(chin[1] + 4, SIZE - 1), chin[0]] + 0.15
    with pytest.raises(ValueError):
        face_outline(lms[:60])


def test_colour_transfer_matches_photo_tone(scene):
    photo, forward, lms = scene
    target = cv2.warpAffine(photo, forward[:2], (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    # A "rendering" with a colour cast and less contrast.
    source = np.clip(target.astype(np.float32) * [0.7, 0.9, 1.1] + [30, 5, -20], 0, 255).astype(np.uint8)
    mask = face_mask(lms, SIZE)
    transfer = fit_colour_transfer(source, target, mask)
    fixed = transfer.apply(source)
    inside = mask > 0.5
    before = np.abs(source.astype(int) - target.astype(int))[inside].mean()
    after = np.abs(fixed.astype(int) - target.astype(int))[inside].mean()
    assert after < 0.5 * before, (before, after)
    # A tone change that is affine in Lab (darker, flatter, tinted) is undone almost exactly.
    lab = cv2.cvtColor(target.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    lab = (lab - lab[inside].mean(0)) * [0.8, 0.9, 0.9] + lab[inside].mean(0) + [-8, 4, -3]
    toned = (np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB), 0, 1) * 255).round().astype(np.uint8)
    undone = fit_colour_transfer(toned, target, mask).apply(toned)
    before = np.abs(toned.astype(int) - target.astype(int))[inside].mean()
    after = np.abs(undone.astype(int) - target.astype(int))[inside].mean()
    assert after < 0.15 * before, (before, after)
    # Identity when source = target.
    same = fit_colour_transfer(target, target, mask).apply(target)
    assert np.abs(same.astype(int) - target.astype(int)).max() <= 1
    with pytest.raises(ValueError):
        fit_colour_transfer(source, target, np.zeros_like(mask))


def test_fill_leaves_no_trace_of_old_edge():
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    background = np.stack([60 + 0.8 * xx, 90 + 0.5 * yy, 140 - 0.3 * xx + 0.2 * yy], -1)
    image = background.copy()
    disc = (xx - 80) ** 2 + (yy - 60) ** 2 < 30 ** 2
    image[disc] = [240, 20, 200]  # the old face, with a sharp edge
    image = image.astype(np.uint8)
    hole = uncovered_region(disc, np.zeros_like(disc), grow=2)
    assert hole.sum() > disc.sum()
    filled = fill_region(image, hole)
    np.testing.assert_array_equal(filled[~hole], image[~hole])
    f = filled.astype(np.float32)
    gy, gx = np.gradient(f, axis=(0, 1))
    grad = np.sqrt(gx ** 2 + gy ** 2).max(-1)
    edge = (cv2.dilate(hole.astype(np.uint8), np.ones((3, 3))) > 0)
    assert grad[edge].max() < 6.0  # the background's own gradient is ~1 per pixel; the old edge was ~200
    err = np.abs(f[hole] - background[hole]).mean()
    assert err < 6.0
    assert np.abs(f[hole] - [240, 20, 200]).min(axis=0).max() > 50  # no old-face colour left


def test_uncovered_region_and_fill_edge_cases():
    before = np.zeros((20, 20), bool)
    before[5:15, 5:15] = True
    after = np.roll(before, 4, axis=1)
    region = uncovered_region(before, after, grow=0)
    assert region.sum() == 40 and not (region & after).any()
    img = np.full((20, 20, 3), 7, np.uint8)
    np.testing.assert_array_equal(fill_region(img, np.zeros((20, 20), bool)), img)
    with pytest.raises(ValueError):
        fill_region(img, np.ones((20, 20), bool))
