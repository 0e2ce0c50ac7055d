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
