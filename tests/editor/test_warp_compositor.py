"""The warp motion model on a synthetic face: exact at rest, no folds, layers revealed and never stretched."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from directions.expression_basis import load_default
from editor.emotion_spec import parse_emotion_spec
from editor.expression_motion import J_MAX, J_MIN, ExpressionPlan, size_factor
from editor.face_layers import INNER_LIPS, RIGHT_EYE, eye_outline, polygon_mask, smooth_outline
from editor.keypoint_warp import area_change, combine_fields
from editor.warp_compositor import CAVITY_SHADOW, LID_SHADOW, LID_SHADOW_DEPTH, WarpCompositor
from editor.warp_face import prepare_warp_face, skin_mask
from editor.warp_pipeline import expression_regions, plan_warp_faces

MODEL = load_default()


def synthetic_photo(size=(260, 240), seed=0):
    """A photo of smooth colour texture (so any resampling shows), uint8 RGB."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (size[0] // 4, size[1] // 4, 3)).astype(np.float32)
    return np.clip(cv2.resize(noise, (size[1], size[0]), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def face_landmarks(centre=(120.0, 110.0), scale=70.0):
    """The expression model's neutral mean shape as a face ``scale`` px between the outer eye corners."""
    return MODEL.mean_shape * scale + np.asarray(centre)


def still_plan(landmarks, frames=3, patterns=None, coefficients=None):
    patterns = np.zeros((4, 68, 2)) if patterns is None else patterns
    coefficients = np.zeros((frames, 4)) if coefficients is None else coefficients
    return ExpressionPlan(patterns, coefficients, np.zeros((frames, 4)), ("brows", "lids", "mouth", "blink"), 1.0,
                          np.arange(frames) / 60.0)


def test_zero_motion_gives_the_photo_bit_for_bit():
    photo = synthetic_photo()
    lm = face_landmarks()
    face = prepare_warp_face(photo, lm, still_plan(lm), np.repeat(np.eye(3)[None], 3, axis=0))
    frame = WarpCompositor(photo, [face]).frame(1)
    assert frame.dtype == np.uint8 and np.array_equal(frame, photo)


def test_a_planned_clip_starts_from_the_photo_and_is_reproducible():
    photo = synthetic_photo()
    spec = parse_emotion_spec("surprise")
    faces = plan_warp_faces(photo, [face_landmarks()], MODEL, spec, seed=5, duration=2.0, fps=15, intensity=0.7)
    again = plan_warp_faces(photo, [face_landmarks()], MODEL, spec, seed=5, duration=2.0, fps=15, intensity=0.7)
    first, last = WarpCompositor(photo, faces).frame(0), WarpCompositor(photo, faces).frame(29)
    assert np.array_equal(first, photo)
    assert not np.array_equal(last, photo)
    assert np.array_equal(last, WarpCompositor(photo, again).frame(29))
    other = plan_warp_faces(photo, [face_landmarks()], MODEL, spec, seed=6, duration=2.0, fps=15, intensity=0.7)
    assert not np.array_equal(WarpCompositor(photo, other).frame(10), WarpCompositor(photo, faces).frame(10))


@pytest.mark.parametrize("emotion", ["joy", "fear", "anger", "sadness", "disgust", "surprise"])
def test_no_fold_at_the_largest_allowed_displacement(emotion):
    """Even asked for three times the target, the bounded warp keeps 0.5 <= J <= 2 on the skin."""
    photo = synthetic_photo()
    lm = face_landmarks()
    regions = 3.0 * expression_regions(MODEL, lm, parse_emotion_spec(emotion), 0.7)
    plan = still_plan(lm, 2, np.concatenate([regions, np.zeros((1, 68, 2))]), np.array([[0, 0, 0, 0], [1, 1, 1, 0.0]]))
    face = prepare_warp_face(photo, lm, plan, np.repeat(np.eye(3)[None], 2, axis=0))
    j = area_change(combine_fields(face.fields, face.plan.coefficients[1]))[skin_mask(face.basis, lm)]
    assert J_MIN - 1e-3 <= j.min() and j.max() <= J_MAX + 1e-3
    assert face.plan.scale < 1.0  # three times the target had to be cut


def _open_mouth_face(photo, lm):
    """A face whose jaw drops by a third of the mouth's width (inner and outer lower lip and chin)."""
    width = np.linalg.norm(lm[64] - lm[60])
    mouth = np.zeros((68, 2))
    mouth[[55, 56, 57, 58, 59, 65, 66, 67] + list(range(5, 12)), 1] = 0.33 * width
    patterns = np.stack([np.zeros((68, 2)), np.zeros((68, 2)), mouth, np.zeros((68, 2))])
    plan = still_plan(lm, 2, patterns, np.array([[0, 0, 0, 0], [0, 0, 1, 0.0]]))
    return prepare_warp_face(photo, lm, plan, np.repeat(np.eye(3)[None], 2, axis=0))


def test_the_mouth_fill_stays_inside_the_opening_and_teeth_keep_their_size():
    photo = synthetic_photo((420, 400))  # a mouth wide enough that tongue and teeth leave cavity between them
    lm = face_landmarks(centre=(200.0, 190.0), scale=160.0)
    face = _open_mouth_face(photo, lm)
    compositor = WarpCompositor(photo, [face])
    with_layers = compositor.frame(1)
    compositor._show_layers = lambda *args: None  # the skin warp alone, for comparison
    skin_only = compositor.frame(1)
    moved = face.plan.landmarks(lm, 1)
    box = (0, 0, photo.shape[1], photo.shape[0])
    opening = polygon_mask(smooth_outline(moved[list(INNER_LIPS)]), box)
    changed = np.any(with_layers != skin_only, axis=2)
    x0, y0, x1, y1 = face.layers["mouth"].box  # the eyes' layers show elsewhere
    assert changed[y0:y1, x0:x1].any()
    assert not (changed & (opening == 0))[y0:y1, x0:x1].any()
    # Inside the opening, away from its feathered edge, the frame shows the skull layer unwarped.
    layer = face.layers["mouth"]
    shift = (moved - lm)[[56, 57, 58]].mean(axis=0)  # the jaw layer moves with the jaw
    jaw = cv2.warpAffine(face.layers["jaw"].image[..., 3], np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]),
                         (x1 - x0, y1 - y0))
    jaw = cv2.dilate((jaw > 0).astype(np.uint8), np.ones((5, 5), np.uint8))
    teeth = face.layers["teeth"].image  # upper teeth, RGBA, in front of the tongue, with the head
    in_front = cv2.dilate((teeth[..., 3] > 0).astype(np.uint8), np.ones((5, 5), np.uint8))
    inside = opening[y0:y1, x0:x1] > 0.999
    core = inside & (jaw == 0) & (in_front == 0)
    cavity = core & (layer.shaded > 0.99)
    assert cavity.sum() > 12
    frame = with_layers[y0:y1, x0:x1].astype(np.float32)
    # The layer is shown unwarped: each pixel is its own, darkened by at most the cavity's share of the
    # shadow (teeth, with share 0, exactly), never brightened.
    share = layer.shaded[..., None]
    assert (frame[core] <= layer.image[core] + 1.0).all()
    assert (frame[core] >= (layer.image * (1 - CAVITY_SHADOW * share))[core] - 1.0).all()
    # Upper teeth are drawn last, unwarped and unshaded: their size is kept.
    solid = inside & (teeth[..., 3] > 0.999)
    assert solid.sum() >= 3
    assert np.abs(frame[solid] - teeth[..., :3][solid]).max() <= 1.0
    # The open cavity darkens with depth (distance from the lips).
    depth = cv2.distanceTransform((opening[y0:y1, x0:x1] > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    darkening = (layer.image - frame).mean(axis=2)
    deep = cavity & (depth > np.percentile(depth[cavity], 75))
    shallow = cavity & (depth <= np.percentile(depth[cavity], 25))
    assert darkening[deep].mean() > darkening[shallow].mean() + 2.0


def _right_eye_opened(photo, lm, share):
    """(frame, layer, moved eye landmarks, eyeball mask over the layer's box, depth in px from the mask's
    edge) with the right upper lid raised by ``share`` of the eye's width in frame 1 (no head motion)."""
    width = np.linalg.norm(lm[39] - lm[36])
    lids = np.zeros((68, 2))
    lids[[37, 38], 1] = -share * width
    plan = still_plan(lm, 2, np.stack([np.zeros((68, 2)), lids, np.zeros((68, 2)), np.zeros((68, 2))]),
                      np.array([[0, 0, 0, 0], [0, 1, 0, 0.0]]))
    face = prepare_warp_face(photo, lm, plan, np.repeat(np.eye(3)[None], 2, axis=0))
    layer = face.layers["right_eye"]
    moved = face.plan.landmarks(lm, 1)[list(RIGHT_EYE)]
    mask = polygon_mask(eye_outline(moved), layer.box)
    depth = cv2.distanceTransform(np.pad((mask > 0.5).astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return WarpCompositor(photo, [face]).frame(1), layer, moved, mask, depth


def test_eyeballs_are_never_stretched_by_the_lids():
    lm = face_landmarks()
    frame, layer, moved, mask, depth = _right_eye_opened(synthetic_photo(), lm, 0.15)
    x0, y0, x1, y1 = layer.box
    # Away from the lids' shade, the frame shows the layer as it is: not stretched.
    core = (mask > 0.999) & (depth > LID_SHADOW_DEPTH * np.ptp(moved[:, 0]) + 1.0)
    assert core.sum() > 20
    assert np.abs(frame[y0:y1, x0:x1][core].astype(np.float32) - layer.image[core]).max() <= 1.0
    cx, cy, radius = layer.iris
    assert radius == pytest.approx(0.23 * np.linalg.norm(lm[39] - lm[36]), rel=1e-6)


def test_eyeball_a_raised_lid_reveals_lies_in_the_lashes_shade():
    lm = face_landmarks(centre=(200.0, 190.0), scale=160.0)
    frame, layer, moved, mask, depth = _right_eye_opened(synthetic_photo((420, 400)), lm, 0.3)
    x0, y0, x1, y1 = layer.box
    rows = np.mgrid[y0:y1, x0:x1][0]
    under_lid = (mask > 0.9) & (layer.shaded > 0.99) & (rows < layer.iris[1]) & (depth < 2.5)
    deeper = (mask > 0.99) & (layer.shaded > 0.99) & (rows < layer.iris[1]) & \
        (depth > LID_SHADOW_DEPTH * np.ptp(moved[:, 0]) + 1.0)
    assert under_lid.sum() > 3 and deeper.sum() > 3
    shown = frame[y0:y1, x0:x1].astype(np.float32).mean(axis=2) / np.maximum(layer.image.mean(axis=2), 1.0)
    assert 1 - LID_SHADOW - 0.02 <= shown[under_lid].mean() < 0.95  # darker right under the lid
    assert shown[deeper].mean() == pytest.approx(1.0, abs=0.02)  # and as the layer is further in


def test_the_lid_edges_move_with_the_lid_and_the_eyeball_shows_inside_them():
    lm = face_landmarks()
    eye = lm[list(RIGHT_EYE)]
    inset = eye_outline(eye)
    box = (int(eye[:, 0].min()) - 3, int(eye[:, 1].min()) - 3, int(eye[:, 0].max()) + 4, int(eye[:, 1].max()) + 4)
    outer, inner = polygon_mask(smooth_outline(eye), box, 0), polygon_mask(inset, box, 0)
    assert inner.sum() < outer.sum() and np.all(inner <= outer + 1e-6)
    width = np.linalg.norm(eye[3] - eye[0])

    def height(curve):  # the opening's height over the middle third of the eye
        middle = np.abs(curve[:, 0] - eye[:, 0].mean()) < width / 6
        return np.ptp(curve[middle, 1])

    # upper and lower lid edges, each inset by the margin
    assert height(smooth_outline(eye)) - height(inset) == pytest.approx(2 * max(0.06 * width, 0.75), abs=0.35)


def test_faces_at_the_border_and_small_faces():
    photo = synthetic_photo()
    lm = face_landmarks(centre=(20.0, 30.0), scale=60.0)  # half the face outside the photo
    faces = plan_warp_faces(photo, [lm], MODEL, parse_emotion_spec("joy"), seed=1, duration=2.0, fps=10,
                            intensity=0.7)
    compositor = WarpCompositor(photo, faces)
    assert np.array_equal(compositor.frame(0), photo)
    assert compositor.frame(19).shape == photo.shape
    assert size_factor(20) < size_factor(45) < size_factor(60) == size_factor(200) == 1.0
    small = expression_regions(MODEL, face_landmarks(scale=12.0), parse_emotion_spec("joy"), 0.7)
    large = expression_regions(MODEL, face_landmarks(scale=120.0), parse_emotion_spec("joy"), 0.7)
    # Relative to the face's size, a face 12 px across the eyes moves less than a large one.
    assert np.abs(small).max() / 12.0 < 0.6 * np.abs(large).max() / 120.0


def test_the_target_is_set_not_added_and_weights_mean_what_they_say():
    """A face already at the target does not move; a half-strength blend moves half as far."""
    from editor.warp_pipeline import target_coefficients  # noqa: PLC0415
    lm = face_landmarks()
    full = expression_regions(MODEL, lm, parse_emotion_spec("fear"), 0.7)
    half = expression_regions(MODEL, lm, parse_emotion_spec("fear:0.5"), 0.7)
    np.testing.assert_allclose(half, 0.5 * full, atol=1e-9)
    fearful = lm + MODEL.displacement(lm, MODEL.coefficients(lm), target_coefficients(MODEL, parse_emotion_spec("fear")))
    again = expression_regions(MODEL, fearful, parse_emotion_spec("fear"), 0.7)
    assert np.abs(again).max() < 0.35 * np.abs(full).max()  # only what shrinkage and clamping leave


def test_an_open_mouth_shows_a_tongue_above_the_dark_cavity():
    photo = synthetic_photo((420, 400))
    lm = face_landmarks(centre=(200.0, 190.0), scale=160.0)
    face = _open_mouth_face(photo, lm)
    frame = WarpCompositor(photo, [face]).frame(1).astype(np.float32).mean(axis=2)
    moved = face.plan.landmarks(lm, 1)
    x0, y0, x1, y1 = face.layers["mouth"].box
    opening = polygon_mask(smooth_outline(moved[list(INNER_LIPS)]), (x0, y0, x1, y1)) > 0.999
    jaw = face.layers["jaw"]
    shift = (moved - lm)[[56, 57, 58]].mean(axis=0)
    tongue_alpha = cv2.warpAffine(jaw.image[..., 3], np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), (x1 - x0, y1 - y0))
    teeth = face.layers["teeth"].image[..., 3]
    tongue = opening & (tongue_alpha > 0.99) & (teeth == 0)
    cavity = opening & (tongue_alpha == 0) & (teeth == 0)
    assert tongue.sum() > 20 and cavity.sum() > 20
    assert tongue.sum() > 0.4 * (tongue.sum() + cavity.sum())  # the tongue fills the dropped jaw's lower part
    region = frame[y0:y1, x0:x1]
    assert region[tongue].mean() > 1.5 * region[cavity].mean()  # a lit tongue, not one dark hole
