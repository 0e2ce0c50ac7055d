"""The box and keypoint conversions between MTCNN, dlib's HOG detector and the 68 landmarks."""

from __future__ import annotations

import numpy as np

from inversion.faces.landmarks import box_from_landmarks, keypoints_from_landmarks, mtcnn_to_hog_box


def test_box_maps_are_consistent():
    box = np.array([100.0, 100.0, 140.0, 150.0])
    hog = mtcnn_to_hog_box(box)
    assert hog[0] < 105 and hog[2] > 135 and hog[1] > 100  # wider, starts lower (at the brows)
    points = np.random.default_rng(0).normal(size=(68, 2)) * 10 + 200
    np.testing.assert_allclose(box_from_landmarks(points + 7), box_from_landmarks(points) + 7)
    five = keypoints_from_landmarks(points)
    np.testing.assert_allclose(five[2], points[30])
    np.testing.assert_allclose(five[0], points[36:42].mean(0))
