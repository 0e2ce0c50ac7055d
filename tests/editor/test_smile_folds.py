"""A smile's folds relaxed as it goes: what the relief takes from a photo, when a face gets it, and what a frame shows."""

from __future__ import annotations

import dataclasses

import numpy as np

from directions.expression_basis import load_default
from editor.creases import line_mask
from editor.emotion_spec import parse_emotion_spec
from editor.smile_folds import RELAX_MAX, fold_lines, fold_relief, relaxed_share, relaxing_share
from editor.warp_compositor import WarpCompositor
from editor.warp_pipeline import plan_warp_faces, smile_lost

MODEL = load_default()
SHAPE = (260, 240)
SKIN = 170


def face_landmarks(centre=(120.0, 110.0), scale=70.0):
    """The expression model's neutral mean shape as a face ``scale`` px between the outer eye corners."""
    return MODEL.mean_shape * scale + np.asarray(centre)


def smiling(landmarks):
    """The face moved from its own expression to joy's target."""
    return landmarks + MODEL.displacement(landmarks, MODEL.coefficients(landmarks), MODEL.target("joy"))


def eye_distance(landmarks) -> float:
    return float(np.linalg.norm(landmarks[42:48].mean(axis=0) - landmarks[36:42].mean(axis=0)))


def photo_with_folds(landmarks, depth: float = 25.0) -> np.ndarray:
    """Flat skin with a dark line ``depth`` grey levels deep along both fold lines."""
    box = (0, 0, SHAPE[1], SHAPE[0])
    lines = np.zeros(SHAPE, np.float32)
    for line in fold_lines(landmarks):
        lines = np.maximum(lines, line_mask(line, box, 0.03 * eye_distance(landmarks)))
    grey = SKIN - depth * lines
    return np.repeat(np.rint(grey)[..., None], 3, axis=2).astype(np.uint8)


def whole(landmarks):
    return (0, 0, SHAPE[1], SHAPE[0])


def test_a_flat_photo_has_no_fold_to_relax():
    lm = face_landmarks()
    relief = fold_relief(np.full(SHAPE + (3,), SKIN, np.uint8), lm, whole(lm))
    assert relief is not None and np.abs(relief.relief).max() < 0.05


def test_a_fold_is_flattened_where_it_lies_and_the_skin_away_from_it_is_left_alone():
    lm = face_landmarks()
    photo = photo_with_folds(lm)
    relief = fold_relief(photo, lm, whole(lm)).over_box(SHAPE)
    relaxed = photo.astype(np.float32) - relief
    for line in fold_lines(lm):
        x, y = np.rint(line[1]).astype(int)  # the bend, the middle of the line
        assert photo[y, x, 0] < SKIN - 20
        assert relaxed[y, x, 0] > SKIN - 8
    forehead = np.rint(lm[17:27].mean(axis=0) - [0, 20]).astype(int)
    assert np.all(relief[forehead[1] - 5:forehead[1] + 5, forehead[0] - 5:forehead[0] + 5] == 0)


def test_relief_deeper_than_a_fold_is_kept_as_it_is_a_moustache_or_a_shadow():
    lm = face_landmarks()
    photo = photo_with_folds(lm)
    x0, x1 = int(lm[48, 0]) - 12, int(lm[54, 0]) + 12
    y0, y1 = int(lm[33, 1]) + 2, int(lm[51, 1]) + 2  # between the nose and the upper lip, past both corners
    photo[y0:y1, x0:x1] = 60
    relief = fold_relief(photo, lm, whole(lm)).over_box(SHAPE)
    assert np.abs(relief[y0:y1, x0:x1]).max() < 2.0
    assert np.abs(relief).max() > 10.0  # the folds above it still go


def test_a_smile_taken_away_is_a_positive_share_and_one_added_a_negative_share():
    neutral = face_landmarks()
    smile = smiling(neutral)
    assert smile_lost(MODEL, neutral, smile - neutral) < -0.5
    assert smile_lost(MODEL, smile, neutral - smile) > 0.5


def test_only_emotions_that_do_not_deepen_the_furrow_relax_the_folds():
    assert relaxing_share(parse_emotion_spec("fear").as_dict()) == 1.0
    assert relaxing_share(parse_emotion_spec("sadness").as_dict()) == 0.0
    assert abs(relaxing_share(parse_emotion_spec("anger:0.5,disgust:0.5").as_dict()) - 0.5) < 1e-9
    assert relaxed_share(-0.4, 1.0) == 0.0
    assert relaxed_share(3.0, 1.0) == RELAX_MAX
    assert abs(relaxed_share(0.5, 0.5) - 0.25 * RELAX_MAX) < 1e-12


def plan(landmarks, emotion: str, photo):
    return plan_warp_faces(photo, [landmarks], MODEL, parse_emotion_spec(emotion), seed=3, duration=2.0, fps=15,
                           intensity=0.7)[0]


def test_a_smiling_face_asked_for_fear_gets_its_folds_relaxed_and_faces_asked_for_joy_or_sadness_do_not():
    smile = smiling(face_landmarks())
    photo = photo_with_folds(smile)
    fear = plan(smile, "fear", photo)
    assert fear.smile_drop > 0.3 and fear.fold is not None
    assert plan(smile, "sadness", photo).fold is None
    neutral = face_landmarks()
    assert plan(neutral, "joy", photo_with_folds(neutral)).fold is None


def test_frames_show_the_fold_lighter_as_the_smile_goes_and_the_photo_bit_for_bit_at_rest():
    smile = smiling(face_landmarks())
    photo = photo_with_folds(smile)
    face = plan(smile, "fear", photo)
    kept = dataclasses.replace(face, fold=None, smile_drop=0.0)
    last = len(face.plan.times) - 1
    relaxed = WarpCompositor(photo, [face]).frame(last).astype(np.int32)
    plain = WarpCompositor(photo, [kept]).frame(last).astype(np.int32)
    change = relaxed - plain
    assert change.sum() > 0  # the dark folds lighten
    assert np.abs(change).max() <= RELAX_MAX * 25 + 2
    x0, y0, x1, y1 = face.basis.box
    outside = np.ones(SHAPE, bool)
    outside[y0:y1, x0:x1] = False
    assert not np.any(change[outside])
    assert np.array_equal(WarpCompositor(photo, [face]).frame(0), photo)


def test_a_smiling_face_cut_by_the_photos_edge_relaxes_what_of_its_folds_lies_inside():
    smile = smiling(face_landmarks(centre=(25.0, 110.0)))  # its right half beyond the left edge
    photo = photo_with_folds(smile)
    face = plan(smile, "fear", photo)
    assert face.fold is not None and face.basis.box[0] == 0
    last = len(face.plan.times) - 1
    frame = WarpCompositor(photo, [face]).frame(last)
    plain = WarpCompositor(photo, [dataclasses.replace(face, fold=None, smile_drop=0.0)]).frame(last)
    assert frame.shape == photo.shape and frame.astype(np.int32).sum() > plain.astype(np.int32).sum()
    assert np.array_equal(WarpCompositor(photo, [face]).frame(0), photo)
