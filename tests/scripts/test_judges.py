"""scripts/judges.py: the benchmark's two emotion judges read a clear FER2013 face as what it is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import judges


def test_judges_read_a_clear_joy_face(shared):
    pytest.importorskip("ai_edge_litert", reason="the judges run with ai-edge-litert: pip install -e '.[bench]'")
    from directions.emotions import EMOTIONS
    from directions.fer2013 import read_fer2013

    data = read_fer2013(shared("data", "fer2013", "fer2013.csv.gz")).split("PublicTest")
    face, label = data.images[4], int(data.labels[4])  # labelled joy; both judges give it > 0.99
    assert EMOTIONS[label] == "joy"
    # The face as the judges meet it in a video frame: 144 px inside a larger grey frame, with its box.
    frame = np.full((300, 320), 110, np.uint8)
    frame[60:204, 90:234] = cv2.resize(face, (144, 144), interpolation=cv2.INTER_CUBIC)
    for judge in judges.load_judges():
        alone = judge.classify(face)
        in_frame = judge.probs(frame, (90, 60, 234, 204))
        for probs in (alone, in_frame):
            assert probs.shape == (7,) and abs(probs.sum() - 1.0) < 1e-3, judge.name
            assert EMOTIONS[int(probs.argmax())] == "joy" and probs[EMOTIONS.index("joy")] > 0.8, (judge.name, probs)


def test_agreed_faces_are_the_ones_most_annotators_named(shared):
    """The ceiling's faces: at most N per emotion, 48 px grey, neutral among them, and each one agreed."""
    from directions.fer2013 import align_ferplus, read_fer2013, read_ferplus_votes

    faces = judges.agreed_faces(3)
    assert "neutral" in faces and "joy" in faces
    assert all(f.dtype == np.uint8 and f.shape[1:] == (48, 48) and 1 <= len(f) <= 3 for f in faces.values())
    data = read_fer2013(shared("data", "fer2013", "fer2013.csv.gz"))
    votes = read_ferplus_votes(shared("data", "fer2013", "ferplus_votes.csv"))
    placed, (share, _) = align_ferplus(data, votes), votes.distributions()
    rows = [r for r in data.indices("PublicTest") if placed[r] >= 0 and share[placed[r]].max() >= judges.AGREED]
    first_joy = next(r for r in rows if share[placed[r]].argmax() == 0)  # EMOTIONS[0] is joy
    assert np.array_equal(faces["joy"][0], data.images[first_joy])


def test_agreed_faces_from_held_out_splits_at_a_lower_agreement(shared):
    """More held-out faces for the ceiling: PrivateTest after PublicTest in file order, each with at least the
    asked share of its annotators agreeing, and a lower agreement admitting more of them."""
    from directions.emotions import EMOTIONS
    from directions.fer2013 import align_ferplus, read_fer2013, read_ferplus_votes

    strict = judges.agreed_faces(1000, ("PublicTest", "PrivateTest"), 0.7)
    loose = judges.agreed_faces(1000, ("PublicTest", "PrivateTest"), 0.5)
    public = judges.agreed_faces(1000)
    assert len(strict["disgust"]) > len(public["disgust"]) and len(loose["disgust"]) > len(strict["disgust"])
    data = read_fer2013(shared("data", "fer2013", "fer2013.csv.gz"))
    votes = read_ferplus_votes(shared("data", "fer2013", "ferplus_votes.csv"))
    placed, (share, _) = align_ferplus(data, votes), votes.distributions()
    k = EMOTIONS.index("disgust")
    rows = [r for r in np.concatenate([data.indices("PublicTest"), data.indices("PrivateTest")])
            if placed[r] >= 0 and share[placed[r]].max() >= 0.5 and share[placed[r]].argmax() == k]
    assert len(rows) == len(loose["disgust"])
    np.testing.assert_array_equal(loose["disgust"][-1], data.images[rows[-1]])


def test_blur_band_changes_only_its_band():
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    out = judges.blur_band(face, (30, 46, 12, 36))
    inside = np.zeros((48, 48), bool)
    inside[30:46, 12:36] = True
    assert out.dtype == np.uint8 and out.shape == face.shape
    np.testing.assert_array_equal(out[~inside], face[~inside])
    assert np.abs(out[inside].astype(int) - face[inside]).mean() > 20  # noise blurred away
    assert out[inside].std() < 0.5 * face[inside].std()


def test_the_judges_read_joy_from_the_mouth(shared):
    """Blurring the mouth's band of real joy faces takes away most of both judges' p(joy), more than any other band."""
    pytest.importorskip("ai_edge_litert", reason="the judges run with ai-edge-litert: pip install -e '.[bench]'")
    readings = judges.band_readings(judges.agreed_faces(6)["joy"], judges.load_judges(), "joy")
    assert set(readings) == {"nothing", *judges.BANDS}
    mouth = readings["mouth (full width)"]
    assert np.all(mouth < 0.5 * readings["nothing"])
    others = np.array([v for name, v in readings.items() if name not in ("nothing", "mouth (full width)")])
    assert np.all(mouth < others.min(axis=0))
