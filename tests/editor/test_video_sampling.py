"""editor.video_sampling: one frame every ``every`` seconds of a video file; clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from editor.video import write_video
from editor.video_sampling import camera_samples, video_samples
from inversion.common.errors import FaceLatentError, ImageReadError


def test_samples_every_half_second_of_a_ten_fps_video(tmp_path):
    frames = [np.full((32, 32, 3), 20 * i, np.uint8) for i in range(12)]
    path = write_video(tmp_path / "v.mp4", frames, fps=10, crf=0)
    samples = list(video_samples(path, 0.5))
    assert [round(t, 3) for t, _ in samples] == [0.0, 0.5, 1.0]
    for t, frame in samples:  # BGR frames of the grey levels written at those times (H.264: about)
        assert frame.shape == (32, 32, 3) and abs(int(frame.mean()) - 20 * round(t * 10)) <= 3


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(FaceLatentError, match="--every"):
        next(video_samples(tmp_path / "x.mp4", 0))
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(ImageReadError, match="cannot read video"):
        next(video_samples(tmp_path / "bad.mp4", 1.0))
    with pytest.raises(FaceLatentError, match="--every"):
        next(camera_samples(0, -1))
