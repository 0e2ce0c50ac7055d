"""detect_faces on the labelled photos: faces found, false detections, landmark error, conventions."""

from __future__ import annotations

import numpy as np
import pytest

from inversion.common.errors import FaceLatentError
from inversion.faces.detection import (chosen_indices, detect_faces, find_faces, landmark_error, match_to_labels,
                                       read_imglab_xml)
from inversion.common.images import read_photo


PHOTOS = ("2007_007763.jpg", "2008_001009.jpg", "2008_001322.jpg", "2008_002079.jpg")


_CACHE: dict = {}


@pytest.fixture
def labelled(shared):
    """(labels per photo, photos) from ../shared, read once per session."""
    if not _CACHE:
        _CACHE["labels"] = read_imglab_xml(shared("data", "photos", "training_with_face_landmarks.xml"))
        _CACHE["photos"] = {name: read_photo(shared("data", "photos", name)) for name in PHOTOS}
    return _CACHE["labels"], _CACHE["photos"]


def _find(photos, name, detector="mtcnn"):
    """find_faces with default settings, computed once per photo and detector."""
    key = (name, detector)
    if key not in _CACHE:
        _CACHE[key] = find_faces(photos[name], detector=detector)
    return _CACHE[key]


def _score(labels, photos, detector):
    found = false = total = 0
    errors = []
    for name in PHOTOS:
        result = _find(photos, name, detector)
        pairs, extra = match_to_labels(result.faces + result.skipped, labels[name])
        found, false, total = found + len(pairs), false + extra, total + len(labels[name])
        errors += [landmark_error(result.faces[i].landmarks68, labels[name][j].landmarks) for i, j in pairs]
    return found, false, total, float(np.mean(errors))


def test_mtcnn_with_dlib_landmarks_meets_the_goal(labelled):
    found, false, total, error = _score(*labelled, "mtcnn")
    assert total == 18
    assert found >= 17 and false <= 1
    assert error <= 0.05, f"mean landmark error {error:.3%} of the outer-eye-corner distance"


def test_hog_detector_alternative(labelled):
    found, false, total, error = _score(*labelled, "hog")
    assert found >= 16 and false <= 1 and error <= 0.05


def test_faces_left_to_right_with_consistent_fields(labelled):
    _, photos = labelled
    faces = _find(photos, "2007_007763.jpg").faces
    assert len(faces) == 7
    centres = [(f.box[0] + f.box[2]) / 2 for f in faces]
    assert centres == sorted(centres)
    for face in faces:
        assert face.keypoints5.shape == (5, 2) and face.landmarks68.shape == (68, 2)
        x0, y0, x1, y1 = face.box
        # the eyes found by MTCNN and by the 68-point model agree, and lie inside the box
        assert np.linalg.norm(face.keypoints5[0] - face.landmarks68[36:42].mean(0)) < 0.25 * (x1 - x0)
        assert x0 <= face.keypoints5[0, 0] <= x1 and y0 <= face.keypoints5[0, 1] <= y1
        assert 0.9 < face.score <= 1.0


def test_large_photo_is_detected_on_a_reduced_copy(labelled):
    _, photos = labelled
    photo = photos["2008_001322.jpg"]  # 500 x 375; faces 63..90 px
    base = _find(photos, "2008_001322.jpg").faces
    # max_side=250 detects on a half-size copy (faces 31..45 px) and maps back: the same path as a
    # 2560-px photo with the default max_side=1280, at a fraction of the cost.
    result = find_faces(photo, max_side=250)
    assert result.scale == pytest.approx(0.5) and (result.width, result.height) == (500, 375)
    assert len(result.faces) == len(base) == 3
    for full, reduced in zip(base, result.faces):
        side = full.box[2] - full.box[0]
        assert np.abs(np.asarray(reduced.box) - np.asarray(full.box)).max() < 0.15 * side
        # landmarks are predicted on the full photo: only the box they start from differs
        assert np.abs(reduced.landmarks68 - full.landmarks68).mean() < 0.05 * side


def test_small_faces_are_skipped_not_dropped(labelled):
    _, photos = labelled
    result = find_faces(photos["2007_007763.jpg"], min_face=45)
    assert len(result.faces) + len(result.skipped) == 7
    assert result.skipped and all(f.size < 45 for f in result.skipped)
    assert all(f.size >= 45 for f in result.faces)


def test_tilted_face_gets_landmarks_in_an_upright_window(shared):
    import cv2

    photo = read_photo(shared("data", "photos", "astronaut.png"))
    upright = detect_faces(photo)[0]
    turn = cv2.getRotationMatrix2D((256, 256), 50, 1.0)  # 50 degrees: dlib alone fails here
    tilted = cv2.warpAffine(photo, turn, (512, 512), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    faces = detect_faces(tilted)
    assert len(faces) == 1 and faces[0].landmark_box is None  # the upright path was taken
    expected = upright.landmarks68 @ turn[:, :2].T + turn[:, 2]
    inter_ocular = np.linalg.norm(expected[36] - expected[45])
    error = np.linalg.norm(faces[0].landmarks68 - expected, axis=1).mean()
    assert error < 0.04 * inter_ocular, error  # measured 0.8 px of 60


def test_no_faces_and_bad_input():
    assert detect_faces(np.full((200, 300, 3), 200, np.uint8)) == []
    with pytest.raises(FaceLatentError):
        detect_faces(np.zeros((20, 20), np.uint8))
    with pytest.raises(FaceLatentError, match="unknown face detector"):
        detect_faces(np.zeros((20, 20, 3), np.uint8), detector="cnn")


def test_chosen_indices_default_to_all_and_refuse_out_of_range():
    assert chosen_indices(None, 3) == [0, 1, 2]
    assert chosen_indices([2, 0], 3) == [2, 0]
    for wanted in ([3], [-1]):
        with pytest.raises(FaceLatentError, match="out of range: the photo has 3 face"):
            chosen_indices(wanted, 3)
