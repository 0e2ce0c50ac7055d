"""directions.face_classification with the shipped classifier: crops, a photo's faces, FER2013 CSVs, attacks."""

from __future__ import annotations

import numpy as np
import pytest

from directions.classifier import EmotionClassifier
from directions.emotions import EMOTIONS
from directions.face_classification import (
    attack_crop, classify_crops, classify_photo, evaluate_fer2013,
)
from inversion.common.errors import FaceLatentError
from inversion.common.images import read_photo


@pytest.fixture(scope="module")
def clf():
    return EmotionClassifier.load(None, "cpu", "fast")


def test_crops_and_photo_faces_get_probabilities_in_emotion_order(shared, clf):
    crops = classify_crops(clf, [np.full((48, 40, 3), 128, np.uint8)])
    assert crops[0].box == [0, 0, 40, 48] and crops[0].probs.shape == (len(EMOTIONS),)
    assert abs(crops[0].probs.sum() - 1) < 1e-5 and crops[0].emotion == EMOTIONS[int(crops[0].probs.argmax())]
    faces = classify_photo(clf, read_photo(shared("data", "photos", "2008_001322.jpg")))
    assert len(faces) == 3 and [f.box[0] for f in faces] == sorted(f.box[0] for f in faces)
    assert classify_photo(clf, np.full((80, 80, 3), 128, np.uint8)) == []


def test_fer2013_csv_accuracy_and_confusion(tmp_path, clf):
    rows = ["emotion,pixels,Usage"] + [f"{k},{' '.join(['100'] * 48 * 48)},PrivateTest" for k in (0, 3, 3)]
    (tmp_path / "fer.csv").write_text("\n".join(rows) + "\n")
    report = evaluate_fer2013(clf, tmp_path / "fer.csv", "PrivateTest")
    assert report["n"] == 3 and np.asarray(report["confusion"]).sum() == 3
    with pytest.raises(FaceLatentError, match="unknown split"):
        evaluate_fer2013(clf, tmp_path / "fer.csv", "Test")


def test_attack_refuses_an_unknown_emotion(clf):
    with pytest.raises(FaceLatentError, match="unknown emotion"):
        attack_crop(clf, np.zeros((48, 48, 3), np.uint8), "glee")
