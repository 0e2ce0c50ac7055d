"""How soft a photo is around a face, and drawn layers that take the same softness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from directions.expression_basis import load_default
from editor.face_layers import RIGHT_EYE, eye_layer, fit_iris
from editor.photo_softness import SHARP, extra_blur, soften, softness

LM = load_default().mean_shape * 90.0 + np.array([130.0, 120.0])


def _edges_photo(seed: int = 0) -> np.ndarray:
    """Blocks of random grey 20 px wide (sharp steps, far enough apart not to blur into each other), uint8 RGB."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(40, 215, (15, 13)).astype(np.uint8)
    grey = cv2.resize(blocks, (260, 300), interpolation=cv2.INTER_NEAREST)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _blurred(photo: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(np.rint(cv2.GaussianBlur(photo.astype(np.float32), (0, 0), sigma)), 0, 255).astype(np.uint8)


def test_a_sharp_photo_reads_sharp_and_blur_reads_as_blur():
    photo = _edges_photo()
    readings = [softness(photo, LM)] + [softness(_blurred(photo, s), LM) for s in (1.0, 2.0, 3.0)]
    assert readings[0] == pytest.approx(SHARP, abs=0.15)
    assert all(b > a + 0.3 for a, b in zip(readings, readings[1:]))  # more blur reads as more
    # Step edges are what the measure assumes: it finds the blur put on them to within 15 %.
    for sigma, read in zip((1.0, 2.0, 3.0), readings[1:]):
        assert read == pytest.approx(sigma, rel=0.15)


def test_a_face_too_small_to_measure_reads_sharp():
    tiny = load_default().mean_shape * 6.0 + np.array([20.0, 20.0])
    assert softness(_blurred(_edges_photo(), 3.0), tiny) == SHARP


def test_soften_blurs_by_what_the_photo_adds_and_keeps_colour_under_alpha():
    assert extra_blur(SHARP) == 0.0 and extra_blur(0.3) == 0.0
    assert extra_blur(1.0) == pytest.approx(0.8)
    image = np.zeros((40, 40, 3), np.float32)
    image[:, :20] = 200.0
    assert soften(image, SHARP) is image  # a sharp photo: drawn layers as they are
    soft = soften(image, 2.0)
    assert 0 < soft[20, 19, 0] < 200 and soft[20, 2, 0] == pytest.approx(200.0, abs=0.5)
    # Colour under a blurred alpha stays the layer's: no dark fringe from the transparent part's colour.
    rgb = np.zeros((40, 40, 3), np.float32)
    rgb[:, :20] = (230.0, 220.0, 210.0)
    alpha = np.zeros((40, 40, 1), np.float32)
    alpha[:, :20] = 1.0
    colour, weight = soften(rgb, 2.0, alpha)
    spread = (weight[..., 0] > 0.05) & (weight[..., 0] < 0.95)
    assert spread.sum() > 40  # the edge spreads over pixels
    assert np.abs(colour[spread] - rgb[:, :20][0, 0]).max() < 0.5


def test_a_soft_photos_drawn_eyeball_is_as_soft_as_the_photo():
    """What a wider eye reveals is drawn (sclera and the iris completed as a circle): crisp on a sharp photo,
    softened on a soft one. The photo's own eye inside its outline is left as it is."""
    photo = np.full((300, 260, 3), 190, np.uint8)
    eye = LM[list(RIGHT_EYE)]
    narrow = eye.copy()
    narrow[[1, 2], 1] += 0.4 * (eye[[5, 4], 1] - eye[[1, 2], 1])  # a narrowed eye: the iris circle reaches past it
    cv2.fillPoly(photo, [np.round(narrow).astype(np.int32)], (230, 230, 230))
    cx, cy, radius = fit_iris(photo, narrow)
    cv2.circle(photo, (int(round(cx)), int(round(cy))), int(radius), (60, 50, 40), -1)
    photo[np.all(photo == (60, 50, 40), axis=2) & ~_inside(narrow, photo.shape)] = 190  # the lid hides the rest

    def drawn_edge(layer) -> float:
        """The largest step between neighbouring pixels of the layer, away from the photo's own eye."""
        x0, y0, x1, y1 = layer.box
        own = cv2.dilate(_inside(narrow, photo.shape)[y0:y1, x0:x1].astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        grey = layer.image.mean(axis=2)
        steps = np.maximum(np.abs(np.diff(grey, axis=0, append=grey[-1:])), np.abs(np.diff(grey, axis=1, append=grey[:, -1:])))
        return float(steps[~own].max())

    sharp, soft = eye_layer(photo, narrow, SHARP), eye_layer(photo, narrow, 2.5)
    assert drawn_edge(sharp) > 40.0  # the drawn iris's edge against the sclera
    assert drawn_edge(soft) < 0.5 * drawn_edge(sharp)


def _inside(outline: np.ndarray, shape) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(outline).astype(np.int32)], 1)
    return mask > 0
