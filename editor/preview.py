"""Contact sheets: a grid of chosen frames with labels, written atomically (``--preview``).

Images are written in the format their file name's extension names (:data:`IMAGE_FORMATS`: PNG,
JPEG, WebP, BMP, TIFF); any other extension is refused before any work (:func:`image_format`).

Frames are uint8 ``H x W x 3`` RGB (grey ``H x W`` is repeated over the channels). While the
video streams, :class:`PreviewCollector` keeps only the frames the sheet needs, so the clip is
never held in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
from PIL import Image

from inversion.common.errors import FaceLatentError
from inversion.common.output_files import atomic_output

#: File-name extension -> the Pillow format written for it.
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF"}


def preview_indices(num_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly from the first frame to the last (fewer if the clip is short)."""
    if num_frames <= 0 or count <= 0:
        return []
    count = min(count, num_frames)
    if count == 1:
        return [0]
    return sorted({int(round(i * (num_frames - 1) / (count - 1))) for i in range(count)})


def _rgb(frame) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise TypeError(f"contact-sheet frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"contact-sheet frames must be HxWx3, got {frame.shape}")
    return frame


def _draw_label(tile: np.ndarray, text: str) -> None:
    scale = max(0.35, tile.shape[1] / 400.0)
    thick = max(1, int(round(scale * 1.5)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, th // 3)
    cv2.rectangle(tile, (0, 0), (min(tw + 2 * pad, tile.shape[1] - 1), th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(tile, text, (pad, th + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


def contact_sheet(frames: Iterable, columns: int = 4, labels: Sequence[str] | None = None,
                  tile_width: int | None = None, gap: int = 4) -> np.ndarray:
    """A grid of frames, row by row, as one uint8 RGB image.

    ``frames``: uint8 RGB arrays, or ``(index, frame)`` pairs (then each tile is labelled
    ``frame <index>`` unless ``labels`` are given). ``tile_width`` resizes every tile to that
    width keeping its aspect ratio (default: the first frame's width); ``gap`` pixels of black
    separate the tiles.
    """
    items = list(frames)
    if not items:
        raise ValueError("a contact sheet needs at least one frame")
    if isinstance(items[0], tuple):
        indices = [int(i) for i, _ in items]
        images = [_rgb(f) for _, f in items]
        default_labels = [f"frame {i}" for i in indices]
    else:
        images = [_rgb(f) for f in items]
        default_labels = None
    labels = list(labels) if labels is not None else default_labels
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} frames")
    h0, w0 = images[0].shape[:2]
    tw = int(tile_width or w0)
    th = max(1, int(round(h0 * tw / w0)))
    columns = max(1, min(int(columns), len(images)))
    rows = (len(images) + columns - 1) // columns
    sheet = np.zeros((rows * th + (rows - 1) * gap, columns * tw + (columns - 1) * gap, 3), np.uint8)
    for k, image in enumerate(images):
        interp = cv2.INTER_AREA if tw < image.shape[1] else cv2.INTER_LINEAR
        tile = np.ascontiguousarray(cv2.resize(image, (tw, th), interpolation=interp))
        if labels is not None and labels[k]:
            _draw_label(tile, str(labels[k]))
        r, c = divmod(k, columns)
        sheet[r * (th + gap): r * (th + gap) + th, c * (tw + gap): c * (tw + gap) + tw] = tile
    return sheet


def image_format(path, option: str | None = None) -> str:
    """The Pillow format for an image file name (``.png`` -> ``"PNG"``); one-line error for any other extension."""
    path = Path(path)
    fmt = IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        shown = f"{option} {path}" if option else str(path)
        raise FaceLatentError(f"{shown}: an image needs a .png, .jpg, .webp, .bmp or .tif file name, "
                              f"not {path.suffix or 'no extension'}")
    return fmt


def _save(path: Path, image: np.ndarray, fmt: str) -> Path:
    if not path.parent.is_dir():
        raise FaceLatentError(f"cannot write {path}: folder {path.parent} does not exist")
    with atomic_output(path) as tmp:
        Image.fromarray(_rgb(image)).save(tmp, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    return path


def write_image(path, image: np.ndarray) -> Path:
    """Write a uint8 RGB image atomically in the format its extension names (see :func:`image_format`)."""
    path = Path(path)
    return _save(path, image, image_format(path))


def write_png(path, image: np.ndarray) -> Path:
    """Write a uint8 RGB image as PNG atomically (temporary file in the same folder, then rename)."""
    return _save(Path(path), image, "PNG")


class PreviewCollector:
    """Keep the frames a contact sheet needs while a clip streams past.

    ``num_frames`` in the clip, ``count`` tiles wanted; call :meth:`offer` with every frame and
    its index (only the chosen ones are copied), then :meth:`sheet` or :meth:`write`.
    """

    def __init__(self, num_frames: int, count: int = 8, fps: float | None = None):
        self.wanted = set(preview_indices(num_frames, count))
        self.fps = fps
        self.kept: dict[int, np.ndarray] = {}

    def offer(self, index: int, frame: np.ndarray) -> None:
        if index in self.wanted:
            self.kept[index] = np.array(_rgb(frame), copy=True)

    def _label(self, index: int) -> str:
        if self.fps:
            return f"{index / self.fps:.2f} s"
        return f"frame {index}"

    def sheet(self, columns: int = 4, tile_width: int | None = None) -> np.ndarray:
        order = sorted(self.kept)
        return contact_sheet([self.kept[i] for i in order], columns=columns,
                             labels=[self._label(i) for i in order], tile_width=tile_width)

    def write(self, path, columns: int = 4, tile_width: int | None = None) -> Path:
        return write_image(path, self.sheet(columns, tile_width))
