"""H.264 video out (streaming, atomic) and in (decode, probe), through imageio-ffmpeg's ffmpeg.

Frames at this boundary are uint8 ``H x W x 3`` RGB (a grey ``H x W`` frame is repeated over the
channels). :class:`VideoWriter` streams raw frames to ffmpeg's libx264 (yuv420p, ``+faststart``,
a CRF quality), at exactly the requested frame rate and with exactly the frames it was given.
yuv420p needs even dimensions: an odd width or height is padded by one column / row on the
right / bottom (edge pixels repeated, or black) — never stretched — so the picture keeps its
pixel grid at the top-left. The file is written under a temporary name in the destination
folder (registered with :mod:`inversion.common.output_files`, the one mechanism for every output) and
renamed on success; an error, Ctrl-C, SIGTERM or SIGHUP inside the ``with`` block stops ffmpeg and
removes it. ffmpeg's own log lines never reach the user: errors say in one line what failed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import imageio_ffmpeg
import numpy as np

from editor.preview import PreviewCollector
from inversion.common.errors import FaceLatentError, ImageReadError
from inversion.common.output_files import forget_temporary, register_temporary, temporary_name


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
#: x264 settings beyond the preset. Its inter (P/B-frame) luma deadzone defaults to 21 against 11 for intra
#: frames: a moving face's fine detail (pores, hair, lashes) under it is zeroed in every frame after the first,
#: so the face softens as soon as it moves. With the intra frames' 11 (used where trellis is off, as in the
#: default ``veryfast``), the astronaut's last frame at 60 fps keeps 0.83-0.93 of its Laplacian variance
#: instead of 0.73-0.77 (sadness, joy) for about 25 % more bytes; the first frame is unchanged.
X264_PARAMS = "deadzone-inter=11"


class VideoWriteError(FaceLatentError):
    """The video could not be written (output folder missing, ffmpeg failed, disk full...)."""


def _ffmpeg() -> str:
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as err:  # no bundled binary for this platform and none on PATH
        raise VideoWriteError(f"ffmpeg is not available: {err}") from None


def _rate(fps: float) -> str:
    frac = Fraction(float(fps)).limit_denominator(1001)
    return f"{frac.numerator}/{frac.denominator}"


def pad_to_even(frame: np.ndarray, mode: str = "edge") -> np.ndarray:
    """Pad a ``H x W x C`` frame by one row / column on the bottom / right where H / W is odd.

    ``mode`` ``"edge"`` repeats the last row / column, ``"black"`` adds zeros. Returns the frame
    itself when both dimensions are already even.
    """
    h, w = frame.shape[:2]
    extra = ((0, h % 2), (0, w % 2)) + ((0, 0),) * (frame.ndim - 2)
    if not (h % 2 or w % 2):
        return frame
    if mode == "edge":
        return np.pad(frame, extra, mode="edge")
    if mode == "black":
        return np.pad(frame, extra, mode="constant")
    raise ValueError(f"pad mode must be 'edge' or 'black', got {mode!r}")


def _as_rgb_uint8(frame) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise TypeError(f"video frames must be uint8 HxWx3 RGB, got dtype {frame.dtype}")
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"video frames must be HxWx3, got shape {frame.shape}")
    return frame


class VideoWriter:
    """Stream frames into an H.264 MP4 at ``path``; use as a context manager.

    ``fps`` frames per second (fractional allowed, e.g. 30000/1001 as 29.97); ``crf`` 0..51,
    lower is better quality (18 is visually near lossless); ``preset`` libx264's speed preset
    (default ``veryfast``: about 3x the frame rate of ``medium`` at 720p on 2 cores, at the same
    CRF a slightly larger error, ~2.3 vs ~1.9 grey levels);
    ``pad`` ``"edge"`` or ``"black"`` for odd sizes. The frame size is taken from the first frame
    and every later frame must match. ``expected_frames``, when given, is checked on close.
    """

    def __init__(self, path, fps: float, *, crf: int = 18, preset: str = "veryfast", pad: str = "edge",
                 expected_frames: int | None = None):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if not 0 <= int(crf) <= 51:
            raise VideoWriteError(f"CRF must be between 0 and 51, got {crf}")
        if preset not in X264_PRESETS:
            raise VideoWriteError(f"unknown x264 preset {preset!r}; choose one of {', '.join(X264_PRESETS)}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise VideoWriteError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        if self.path.is_dir():
            raise VideoWriteError(f"{self.path} is an existing folder: name a file to write")
        self.fps, self.crf, self.preset, self.pad = float(fps), int(crf), preset, pad
        self.expected_frames = expected_frames
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (width, height) as given, before padding
        self._tmp = temporary_name(self.path)
        self._proc: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _start(self, width: int, height: int) -> None:
        cmd = [
            _ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", _rate(self.fps),
            "-i", "pipe:0", "-an",
            "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-x264-params", X264_PARAMS,
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(self._tmp),
        ]
        self._log = tempfile.TemporaryFile()
        register_temporary(self._tmp)
        # A session of its own: a Ctrl-C reaches Python, which then stops ffmpeg and cleans up.
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._log, start_new_session=True)

    def _ffmpeg_message(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        lines = [ln for ln in self._log.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1].strip() if lines else ""

    def write(self, frame) -> None:
        """Append one uint8 ``H x W x 3`` RGB frame (or ``H x W`` grey)."""
        frame = _as_rgb_uint8(frame)
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (w, h)
            self._start(w + w % 2, h + h % 2)
        elif self.size != (w, h):
            raise ValueError(f"frame {self.frames_written} is {w}x{h}, the video is {self.size[0]}x{self.size[1]}")
        data = np.ascontiguousarray(pad_to_even(frame, self.pad))
        try:
            self._proc.stdin.write(data.tobytes())
        except (BrokenPipeError, OSError):
            self._proc.wait()
            message = self._ffmpeg_message() or f"exit code {self._proc.returncode}"
            self.abort()
            raise VideoWriteError(f"ffmpeg stopped while writing {self.path}: {message}") from None
        self.frames_written += 1

    def close(self) -> Path:
        """Finish encoding and move the video into place; returns its path. Any failure or interrupt
        on the way (ffmpeg's error, a signal while it finishes) removes the temporary file."""
        try:
            return self._finish()
        except BaseException:
            self.abort()
            raise

    def _finish(self) -> Path:
        if self._proc is None:
            raise VideoWriteError(f"no frames were given for {self.path}")
        if self.expected_frames is not None and self.frames_written != self.expected_frames:
            raise VideoWriteError(f"{self.path}: got {self.frames_written} frames, expected {self.expected_frames}")
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        code = self._proc.wait()
        if code != 0:
            message = self._ffmpeg_message() or f"exit code {code}"
            raise VideoWriteError(f"ffmpeg could not write {self.path}: {message}")
        try:
            os.replace(self._tmp, self.path)
        except OSError as err:
            raise VideoWriteError(f"cannot write {self.path}: {(err.strerror or str(err)).lower()}") from None
        self._release()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and remove the temporary file; the destination is left untouched."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc is not None and self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        self._tmp.unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        forget_temporary(self._tmp)
        if self._log is not None:
            self._log.close()
            self._log = None


def write_video(path, frames, fps: float, **options) -> Path:
    """Write an iterable of uint8 RGB frames to ``path`` (see :class:`VideoWriter`); returns the path."""
    with VideoWriter(path, fps, **options) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.path


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: size in pixels, frame rate, frame count, codec and pixel format."""

    width: int
    height: int
    fps: float
    num_frames: int
    codec: str
    pix_fmt: str
    duration: float


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise ImageReadError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise ImageReadError(f"video is empty: {path}")


def _open_frames(path: Path):
    _check_readable(path)
    try:
        gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as err:
        lines = str(err).strip().splitlines()
        raise ImageReadError(f"cannot read video {path}: {lines[-1] if lines else 'not a video'}") from None
    return gen, meta


def iter_video_frames(path) -> Iterator[np.ndarray]:
    """Decode a video's frames one at a time as uint8 ``H x W x 3`` RGB arrays."""
    path = Path(path)
    gen, meta = _open_frames(path)
    width, height = meta["size"]
    try:
        for raw in gen:
            yield np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
    except (OSError, RuntimeError) as err:
        raise ImageReadError(f"cannot decode video {path}: {str(err).strip()[:200]}") from None
    finally:
        gen.close()


def read_video(path, max_frames: int | None = None) -> np.ndarray:
    """All (or the first ``max_frames``) frames of a video as uint8 ``[T, H, W, 3]`` RGB."""
    frames = []
    for frame in iter_video_frames(path):
        if max_frames is not None and len(frames) >= max_frames:
            break
        frames.append(frame)
    if not frames:
        raise ImageReadError(f"video has no frames: {path}")
    return np.stack(frames)


def probe_video(path) -> VideoInfo:
    """Size, frame rate, exact frame count (by decoding), codec and pixel format of a video."""
    path = Path(path)
    gen, meta = _open_frames(path)
    gen.close()
    try:
        count, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    except (OSError, RuntimeError) as err:
        raise ImageReadError(f"cannot count frames of {path}: {str(err).strip()[:200]}") from None
    width, height = meta["size"]
    return VideoInfo(width=int(width), height=int(height), fps=float(meta["fps"]), num_frames=int(count),
                     codec=str(meta["codec"]), pix_fmt=str(meta["pix_fmt"]).split("(")[0],
                     duration=float(seconds))


def encode_frames(frames: Iterable[np.ndarray], path, fps: float, num_frames: int, *, crf: int, preset: str,
                  preview_frames: int, progress: Callable[[str, int, int], None], spent: dict):
    """Write ``frames`` (uint8 RGB, made as they are drawn: streaming) to ``path`` with a :class:`VideoWriter`.

    Returns (frames written, contact sheet of ``preview_frames`` frames or None). Adds the seconds spent
    waiting on the writer (ffmpeg encodes alongside) to ``spent["encode"]``; ``progress("rendering",
    i, num_frames)`` after each frame.
    """
    spent.setdefault("encode", 0.0)
    preview = PreviewCollector(num_frames, preview_frames, fps) if preview_frames else None
    with VideoWriter(path, fps, crf=crf, preset=preset, expected_frames=num_frames) as writer:
        for i, frame in enumerate(frames):
            if preview is not None:
                preview.offer(i, frame)
            clock = time.perf_counter()
            writer.write(frame)
            spent["encode"] += time.perf_counter() - clock
            progress("rendering", i + 1, num_frames)
        clock = time.perf_counter()
    spent["encode"] += time.perf_counter() - clock
    return writer.frames_written, (preview.sheet() if preview is not None else None)

