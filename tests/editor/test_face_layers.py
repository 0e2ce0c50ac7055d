"""The layers a moving face reveals: where a parted mouth's interior really ends."""

from __future__ import annotations

import cv2
import numpy as np

from directions.expression_basis import load_default
from editor.face_layers import LEFT_EYE, OUTER_LIPS, RIGHT_EYE, eye_layer
from editor.mouth_interior import mouth_layers, occlusal_share, visible_interior_lips

SKIN, LIPS, TEETH = (200, 160, 140), (185, 85, 85), (235, 228, 215)


def _mouth_photo(landmarks, teeth_top=None, teeth_bottom=None, size=(260, 240)):
    """Skin, the outer lips filled with lip colour and, when given, teeth between two rows inside them."""
    photo = np.zeros(size + (3,), np.uint8)
    photo[:] = SKIN
    outer = np.round(landmarks[list(OUTER_LIPS)]).astype(np.int32)
    cv2.fillPoly(photo, [outer], LIPS)
    if teeth_top is not None:
        lips = np.zeros(size, np.uint8)
        cv2.fillPoly(lips, [outer], 1)
        rows = np.arange(size[0])[:, None]
        photo[(lips > 0) & (rows >= teeth_top) & (rows <= teeth_bottom)] = TEETH
    return photo


def test_inner_lips_move_out_to_the_teeth_a_photo_shows():
    lm = load_default().mean_shape * 70.0 + np.array([120.0, 110.0])
    middle = lm[[62, 66], 1].mean()
    top, bottom = int(np.floor(middle - 3)), int(np.ceil(middle + 3))  # teeth well beyond dlib's sliver
    photo = _mouth_photo(lm, top, bottom)
    moved = visible_interior_lips(photo, lm)
    for upper in (61, 62, 63):
        assert abs(moved[upper, 1] - top) <= 1.0, (upper, moved[upper], top)
    for lower in (65, 66, 67):
        assert abs(moved[lower, 1] - bottom) <= 1.0, (lower, moved[lower], bottom)
    untouched = [i for i in range(68) if i not in (61, 62, 63, 65, 66, 67)]
    np.testing.assert_array_equal(moved[untouched], lm[untouched])


def test_a_closed_mouth_keeps_its_landmarks():
    lm = load_default().mean_shape * 70.0 + np.array([120.0, 110.0])
    photo = _mouth_photo(lm)
    np.testing.assert_array_equal(visible_interior_lips(photo, lm), lm)


def _opening(gap_share=None, h=40, w=80):
    """(own RGB, opening mask, u, ys, top, bottom): a 30 px tall opening of teeth, with a dark line where
    the upper and lower teeth meet at ``gap_share`` of the way down (none: teeth throughout)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs - w / 2) / (w / 2)
    top, bottom = np.full((1, w), 5.0, np.float32), np.full((1, w), 35.0, np.float32)
    opening = ((ys >= 5) & (ys <= 35)).astype(np.float32)
    own = np.zeros((h, w, 3), np.float32) + np.array(TEETH, np.float32)
    if gap_share is not None:
        line = 5 + gap_share * 30
        own[np.abs(ys - line) < 1.5] = (60, 40, 40)
    return own, opening, u, ys, top, bottom


def test_the_jaw_splits_a_smile_where_the_teeth_meet():
    """A smile shows mostly upper teeth: the jaw takes only what lies below the dark line between the
    rows (found near 0.8 of the way down), not the lower half of the upper teeth."""
    assert abs(occlusal_share(*_opening(0.8)) - 0.8) < 0.06
    assert abs(occlusal_share(*_opening(0.45)) - 0.45) < 0.06
    assert occlusal_share(*_opening(None)) == 0.5  # no line darker than the teeth: the middle


def test_a_grey_photo_gets_grey_eyeballs_teeth_and_cavity():
    """Palettes (sclera, teeth, the cavity's warm tint) take a grey photo's grey, never a tint."""
    lm = load_default().mean_shape * 70.0 + np.array([120.0, 110.0])
    grey = cv2.cvtColor(cv2.cvtColor(_mouth_photo(lm), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    opened = lm.copy()
    opened[[56, 57, 58, 65, 66, 67], 1] += 6.0  # parted lips: the layers fill the opening from palettes
    layers = [eye_layer(grey, lm[list(RIGHT_EYE)]), eye_layer(grey, lm[list(LEFT_EYE)])]
    layers += list(mouth_layers(grey, opened))
    for layer in layers:
        rgb = layer.image[..., :3]
        assert np.abs(rgb - rgb.mean(axis=2, keepdims=True)).max() < 0.5
    coloured = mouth_layers(_mouth_photo(lm), opened)[0].image  # a colour photo keeps the warm cavity
    assert (coloured[..., 0] - coloured[..., 1]).mean() > 2.0


def test_only_the_photos_teeth_are_continued_behind_a_lifted_lip():
    """A parted mouth showing one block of teeth in a dark opening: a lifted upper lip bares more of those
    teeth above the block, and drawn teeth (never the dark opening drawn out into a band) elsewhere."""
    lm = load_default().mean_shape * 140.0 + np.array([200.0, 180.0])
    opened = lm.copy()
    opened[[56, 57, 58, 65, 66, 67], 1] += 10.0
    photo = _mouth_photo(opened)
    inner = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(opened[60:68]).astype(np.int32)], 1)
    photo[inner > 0] = (45, 25, 25)  # the cavity
    centre = opened[[62, 66]].mean(axis=0)
    rows, cols = np.mgrid[0:photo.shape[0], 0:photo.shape[1]]
    block = (inner > 0) & (np.abs(cols - centre[0]) <= 8)
    photo[block] = TEETH
    front = mouth_layers(photo, opened)[2]
    x0, y0 = front.box[:2]
    above = int(round(opened[[61, 62, 63], 1].min())) - 4 - y0  # behind the resting upper lip
    at_teeth = int(round(centre[0])) - x0
    at_dark = int(round(opened[61, 0] + 0.5 * (opened[62, 0] - opened[61, 0]))) - x0 - 4
    rgba = front.image[above]
    assert rgba[at_teeth, 3] > 0.9 and np.abs(rgba[at_teeth, :3] - TEETH).max() < 12  # the photo's teeth, continued
    assert rgba[at_dark, 3] > 0.9 and rgba[at_dark, :3].mean() > 150  # drawn teeth, not the dark opening


def test_a_lip_edge_in_a_dark_opening_is_not_taken_for_teeth():
    """A grey shouting mouth: a dark opening whose only light pixels are a two-row band under the upper lip (its
    wet edge, a sliver of the opening). A lifted lip bares the palette's teeth, not that band's grey."""
    lm = load_default().mean_shape * 140.0 + np.array([200.0, 180.0])
    opened = lm.copy()
    opened[[56, 57, 58, 65, 66, 67], 1] += 30.0
    photo = _mouth_photo(opened, size=(380, 400))
    inner = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(opened[60:68]).astype(np.int32)], 1)
    photo[inner > 0] = (40, 40, 40)
    edge = int(round(opened[[61, 62, 63], 1].max())) + 1
    rows = np.arange(photo.shape[0])[:, None]
    photo[(inner > 0) & (rows >= edge) & (rows <= edge + 1)] = (150, 150, 150)  # the lip's edge, not teeth
    photo = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    front = mouth_layers(photo, opened)[2]
    x0, y0 = front.box[:2]
    above = int(round(opened[[61, 62, 63], 1].min())) - 3 - y0  # behind the resting upper lip
    rgba = front.image[above, int(round(opened[62, 0])) - x0]
    assert rgba[3] > 0.9 and rgba[:3].mean() > 180  # ivory teeth (the band's grey would give about 150)


def test_layers_hold_colours_and_alphas_in_range():
    """Every layer's colour stays in 0..255 and its alpha in 0..1, corners included: where the lower teeth
    taper to nothing they fade out (they once left a one-pixel row of hugely negative colour there, which
    showed as a black speck at a mouth's corner)."""
    lm = load_default().mean_shape * 70.0 + np.array([120.0, 110.0])
    middle = lm[[62, 66], 1].mean()
    parted = lm.copy()
    parted[[56, 57, 58, 65, 66, 67], 1] += 4.0
    photos = [(_mouth_photo(lm), lm), (_mouth_photo(lm, int(middle - 3), int(middle + 3)), lm),
              (_mouth_photo(parted), parted)]
    for photo, points in photos:
        layers = list(mouth_layers(photo, points)) + [eye_layer(photo, points[list(RIGHT_EYE)])]
        for layer in layers:
            rgb = layer.image[..., :3]
            assert rgb.min() >= 0.0 and rgb.max() <= 255.5
            if layer.image.shape[2] == 4:
                assert layer.image[..., 3].min() >= 0.0 and layer.image[..., 3].max() <= 1.0
