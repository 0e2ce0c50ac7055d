"""Background uncovered by a face that shrinks inside its crop: filled, so the old edge does not show.

A synthetic scene with a known background: a flat "face" (its landmark outline filled) on a smooth
gradient. The generator's frame shows the same scene with the face shrunk about its centre; the
compositor moves the photo's crop by the flow between the two. Without the fill the photo's old
contour shows through the paste mask's feather (a ghost ring); with it the uncovered pixels are
the background.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.composite import compose_frame, fill_outside_crop, touched_region
from editor.face_edit import EditableFace
from editor.masks import face_outline, rescale_forward, transform_points
from editor.render import FrameCompositor
from editor.uncovered import plan_uncover, stretch_weight, uncovered_mask

_spec = importlib.util.spec_from_file_location("_composite_helpers", Path(__file__).with_name("test_composite.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

S, RES, H, W = 128, 64, 240, 320
FACE_RGB = (235, 200, 170)


def background() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.stack([70 + 0.4 * xx, 100 + 0.3 * yy, 150 - 0.2 * xx + 0.1 * yy], -1)


def draw(landmarks, scale: float, shift=(0.0, 0.0)):
    """(uint8 scene, bool face region): the face outline scaled about its centre and shifted."""
    outline = face_outline(landmarks, 0.5)
    centre = outline.mean(0)
    outline = centre + (outline - centre) * scale + np.asarray(shift)
    region = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(region, np.round(outline * 16).astype(np.int32), 1, shift=4)
    image = background()
    image[region > 0] = FACE_RGB
    return np.clip(image, 0, 255).astype(np.uint8), region > 0


def aligned(image, forward, size):
    m = rescale_forward(forward, S, size)[:2]
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA if size < S else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def scene():
    forward = np.linalg.inv(helpers.similarity(5, 1.1, 90, 40))  # photo -> crop
    landmarks = transform_points(np.linalg.inv(forward), helpers.template_landmarks(S))
    photo, old = draw(landmarks, 1.0)
    photo_crop = aligned(photo, forward, S)
    reference = aligned(photo, forward, RES)
    face = EditableFace(index=0, box=(0, 0, 1, 1), landmarks=landmarks, variant="tight", crop_size=S,
                        forward=forward, photo_crop=photo_crop, reference=reference)
    # Only the generator's resolution and channels matter to the compositor (motion transfer: 64 px < 128 px crop).
    generator = types.SimpleNamespace(img_channels=3, img_resolution=RES)
    return photo, old, landmarks, forward, face, generator


def old_edge_gradient(frame, old, new):
    """Mean gradient magnitude on the old contour where the frame's face no longer is."""
    grey = frame.astype(np.float32).mean(-1)
    gy, gx = np.gradient(grey)
    contour = cv2.morphologyEx(old.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    away = ~cv2.dilate(new.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return float(np.hypot(gx, gy)[contour & away].mean())


@pytest.mark.parametrize("scale, shift, resolution", [(0.85, (0.0, 0.0), RES), (1.0, (-6.0, 3.0), RES),
                                                      (0.85, (0.0, 0.0), S)])
def test_fill_removes_the_old_edge_and_restores_the_background(scene, scale, shift, resolution):
    photo, old, landmarks, forward, face, generator = scene
    if resolution != RES:  # a generator as sharp as the crop: its rendering is pasted, not motion-transferred
        generator = types.SimpleNamespace(img_channels=3, img_resolution=resolution)
        face = dataclasses.replace(face, reference=aligned(photo, forward, resolution))
    truth, new = draw(landmarks, scale, shift)
    rendering = aligned(truth, forward, resolution)
    uncovered = old & ~new
    frames = {fill: FrameCompositor(generator, photo, [face], fill_uncovered=fill).frame(0, [rendering])
              for fill in (False, True)}
    edge = {k: old_edge_gradient(v, old, new) for k, v in frames.items()}
    error = {k: float(np.abs(v.astype(np.float32) - background())[uncovered].mean()) for k, v in frames.items()}
    assert old_edge_gradient(photo, old, new) > 25  # the old contour is a strong edge
    assert edge[False] > 8.0, edge  # without the fill the old contour shows through (a ghost ring)
    assert edge[True] < 0.25 * edge[False] and edge[True] < 3.0, edge
    assert error[True] < 0.5 * error[False] and error[True] < 8.0, error


def test_far_pixels_exact_and_frames_repeat(scene):
    photo, old, landmarks, forward, face, generator = scene
    truth, _ = draw(landmarks, 0.85)
    rendering = aligned(truth, forward, RES)
    head = np.eye(3)[None].repeat(2, 0)
    head[1, :2, 2] = (4.0, -3.0)
    frames = [FrameCompositor(generator, photo, [face], [head]).frame(1, [rendering]) for _ in range(2)]
    np.testing.assert_array_equal(frames[0], frames[1])
    compositor = FrameCompositor(generator, photo, [face], [head])
    far = ~touched_region(photo.shape, compositor.layers)
    assert far.mean() > 0.3
    np.testing.assert_array_equal(frames[0][far], photo[far])
    # Nothing moved: nothing uncovered, the frame is the still paste exactly.
    still = compositor.frame(0, [face.reference])
    plain = compose_frame(photo, compositor.layers, [compositor.crop(0, face.reference)[0]], [head[0]])
    np.testing.assert_array_equal(still, plain)


def test_uncovered_mask_follows_the_flow():
    lm = helpers.template_landmarks(S)
    mask = np.ones((S, S), np.float32)
    plan = plan_uncover(lm, mask, RES)
    assert uncovered_mask(plan, np.zeros((RES, RES, 2), np.float32)) is None
    flow = np.zeros((RES, RES, 2), np.float32)
    flow[..., 0] = -4.0  # every frame pixel reads 4 px to its left: the content moved right
    u = uncovered_mask(plan, flow)
    region = cv2.resize(plan.region, (S, S)) > 0.5
    cols = np.nonzero(region.any(0))[0]
    left, right = cols.min(), cols.max()
    mid = S // 2 + 8
    assert u[mid, left + 2] > 0.9 and u[mid, right - 2] == 0  # the left edge is uncovered, the right one covered
    assert stretch_weight(flow, S).max() == 1.0  # reading outside the crop: the generator fills
    assert stretch_weight(np.zeros((RES, RES, 2), np.float32), S).max() == 0.0


def test_outside_fill_blends_only_under_its_weight():
    photo = np.full((60, 80, 3), 90, np.uint8)
    photo[20:40, 30:50] = 250  # an old face's corner the paste could not cover
    forward = np.eye(3)
    weight = np.zeros((60, 60), np.float32)
    weight[18:42, 28:52] = 1.0
    weight = cv2.GaussianBlur(weight, (0, 0), 1.0)
    unknown = np.zeros((60, 60), np.float32)
    unknown[20:40, 30:50] = 1.0
    frame = photo.copy()
    fill_outside_crop(frame, (weight, unknown), forward)
    assert np.abs(frame[25:35, 35:45].astype(int) - 90).max() <= 2  # the old face is gone
    untouched = np.ones((60, 80), bool)
    untouched[:, :60] = weight <= 0
    assert untouched[:, :60].any() and not untouched.all()
    np.testing.assert_array_equal(frame[untouched], photo[untouched])
