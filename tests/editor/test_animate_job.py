"""What every motion model shares: which faces are animated, and the video's size."""

from __future__ import annotations

import numpy as np
import pytest

from editor.animate_job import MIN_ANIMATED_FACE, choose_faces, output_size, too_small
from inversion.common.errors import FaceLatentError
from inversion.faces.detection import Face


def _face(size):
    return Face((0.0, 0.0, float(size), float(size)), 1.0, np.zeros((5, 2)), np.zeros((68, 2)))


def test_small_faces_stay_still_and_a_missing_index_is_refused():
    found = [_face(100), _face(MIN_ANIMATED_FACE - 1), _face(60)]
    assert too_small(found[1].box) and not too_small(found[0].box)
    assert choose_faces(found, None, MIN_ANIMATED_FACE) == ([0, 2], [1])
    assert choose_faces(found, [2], MIN_ANIMATED_FACE) == ([2], [])
    with pytest.raises(FaceLatentError, match="out of range"):
        choose_faces(found, [3], MIN_ANIMATED_FACE)


def test_the_video_keeps_the_photo_size_up_to_the_long_side_limit():
    assert output_size(640, 480, 3840) == (640, 480)
    assert output_size(8000, 4000, 3840) == (3840, 1920)
    assert output_size(8000, 4000, 0) == (8000, 4000)
