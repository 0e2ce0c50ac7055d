"""Video writer and reader: H.264 yuv420p, exact fps and frame count, padding, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from editor.video import (
    VideoWriteError, VideoWriter, iter_video_frames, pad_to_even, probe_video, read_video, write_video,
)
from inversion.common.errors import ImageReadError


def _frames(count: int, height: int, width: int) -> list[np.ndarray]:
    """Smooth moving colour gradients (codec friendly), different in every frame."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = []
    for i in range(count):
        r = 128 + 100 * np.sin(xx / 20.0 + i * 0.2)
        g = 128 + 100 * np.cos(yy / 16.0 - i * 0.1)
        b = np.full_like(xx, 40 + 6 * i)
        out.append(np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8))
    return out


def test_write_read_30_frames_at_60fps(tmp_path):
    frames = _frames(30, 48, 64)
    path = write_video(tmp_path / "clip.mp4", frames, fps=60, crf=12, preset="veryfast")
    info = probe_video(path)
    assert (info.width, info.height) == (64, 48)
    assert info.num_frames == 30 and info.fps == 60.0
    assert info.codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.duration == pytest.approx(0.5, abs=1e-3)
    back = read_video(path)
    assert back.shape == (30, 48, 64, 3) and back.dtype == np.uint8
    err = np.abs(back.astype(int) - np.stack(frames).astype(int))
    assert err.mean() < 3.0
    # Frames keep their order (each frame's blue level is distinct).
    assert np.all(np.diff(back[:, :, :, 2].mean(axis=(1, 2))) > 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_odd_size_is_padded_not_stretched(tmp_path):
    frames = _frames(6, 37, 51)
    path = write_video(tmp_path / "odd.mp4", frames, fps=24, crf=10, preset="veryfast")
    info = probe_video(path)
    assert (info.width, info.height) == (52, 38) and info.num_frames == 6 and info.fps == 24.0
    back = read_video(path)
    inside = back[:, :37, :51].astype(int)
    assert np.abs(inside - np.stack(frames).astype(int)).mean() < 3.0
    # Edge replication: the padded column repeats the last one.
    assert np.abs(back[:, :37, 51].astype(int) - back[:, :37, 50].astype(int)).mean() < 4.0


def test_pad_to_even_modes():
    frame = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    edge = pad_to_even(frame)
    assert edge.shape == (4, 6, 3)
    np.testing.assert_array_equal(edge[:3, :5], frame)
    np.testing.assert_array_equal(edge[3, :5], frame[2])
    black = pad_to_even(frame, "black")
    assert black[3].max() == 0 and black[:, 5].max() == 0
    even = np.zeros((4, 6, 3), np.uint8)
    assert pad_to_even(even) is even


def test_fractional_fps_and_grey_frames(tmp_path):
    frames = [f[:, :, 0] for f in _frames(5, 32, 32)]
    path = write_video(tmp_path / "ntsc.mp4", frames, fps=30000 / 1001, preset="ultrafast")
    info = probe_video(path)
    assert info.fps == pytest.approx(29.97, abs=0.01) and info.num_frames == 5


def test_interrupt_leaves_no_file(tmp_path):
    target = tmp_path / "out.mp4"
    frames = _frames(4, 32, 32)
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(target, fps=60, preset="ultrafast") as writer:
            for frame in frames:
                writer.write(frame)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_an_existing_video(tmp_path):
    target = tmp_path / "out.mp4"
    write_video(target, _frames(3, 32, 32), fps=60, preset="ultrafast")
    before = target.read_bytes()
    with pytest.raises(ValueError):
        with VideoWriter(target, fps=60, preset="ultrafast") as writer:
            writer.write(_frames(1, 32, 32)[0])
            writer.write(_frames(1, 30, 32)[0])  # size changes: a programming error
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_expected_frames_and_bad_arguments(tmp_path):
    with pytest.raises(VideoWriteError, match="expected 5"):
        with VideoWriter(tmp_path / "short.mp4", fps=60, preset="ultrafast", expected_frames=5) as writer:
            for frame in _frames(3, 16, 16):
                writer.write(frame)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(VideoWriteError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [], fps=60)
    with pytest.raises(VideoWriteError, match="does not exist"):
        VideoWriter(tmp_path / "missing" / "x.mp4", fps=60)
    with pytest.raises(VideoWriteError, match="preset"):
        VideoWriter(tmp_path / "x.mp4", fps=60, preset="warp9")
    with pytest.raises(VideoWriteError, match="CRF"):
        VideoWriter(tmp_path / "x.mp4", fps=60, crf=60)
    with pytest.raises(TypeError):
        VideoWriter(tmp_path / "x.mp4", fps=60).write(np.zeros((8, 8, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_reader_errors_are_one_line(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        probe_video(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_video(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video at all" * 10)
    with pytest.raises(ImageReadError) as info:
        list(iter_video_frames(tmp_path / "junk.mp4"))
    assert "\n" not in str(info.value)


def test_same_frames_give_identical_videos(tmp_path):
    frames = _frames(8, 32, 48)
    a = read_video(write_video(tmp_path / "a.mp4", frames, fps=60))
    b = read_video(write_video(tmp_path / "b.mp4", frames, fps=60))
    np.testing.assert_array_equal(a, b)
    frames[4] = frames[4].copy()
    frames[4][8:16, 8:16] = 255 - frames[4][8:16, 8:16]
    c = read_video(write_video(tmp_path / "c.mp4", frames, fps=60))
    assert np.abs(c[4].astype(int) - a[4].astype(int)).max() > 50


def _moving_texture(count: int, size: int = 96) -> list[np.ndarray]:
    """A fixed photo-like grain (blurred noise) over a still background, its middle drifting 0.3 px a frame."""
    import cv2  # noqa: PLC0415

    rng = np.random.default_rng(0)
    grain = cv2.GaussianBlur(rng.normal(128, 40, (size * 2, size * 2)), (0, 0), 0.8)
    out = []
    for i in range(count):
        shift = np.float32([[1, 0, -0.3 * i], [0, 1, 0]])
        frame = cv2.warpAffine(grain, shift, (size * 2, size * 2), flags=cv2.INTER_CUBIC)[:size, :size]
        out.append(np.repeat(np.clip(frame, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2))
    return out


def test_a_moving_texture_keeps_its_detail_after_the_first_frame(tmp_path, monkeypatch):
    import cv2  # noqa: PLC0415

    import editor.video as video  # noqa: PLC0415

    frames = _moving_texture(40)

    def kept(params: str) -> tuple[float, float]:
        """Laplacian variance of the decoded first and last frames over the sent ones'."""
        monkeypatch.setattr(video, "X264_PARAMS", params)
        back = read_video(write_video(tmp_path / f"{params}.mp4", frames, fps=60, crf=18, preset="veryfast"))
        lap = lambda im: cv2.Laplacian(im[:, :, 0].astype(np.float64), cv2.CV_64F).var()  # noqa: E731
        return lap(back[0]) / lap(frames[0]), lap(back[-1]) / lap(frames[-1])

    first, last = kept(video.X264_PARAMS)
    first_x264, last_x264 = kept("deadzone-inter=21")  # x264's own default
    assert first == pytest.approx(first_x264, abs=1e-9)  # the first frame is coded alike
    assert last > last_x264 + 0.05 and last > 0.8 * first
