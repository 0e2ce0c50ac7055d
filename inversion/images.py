"""Reading photos from files: one function, one clear error.

``read_photo(path)`` returns a ``numpy.uint8`` array of shape ``[H, W, 3]`` in RGB order, rows top
to bottom, with the EXIF orientation already applied (so ``H, W`` are the photo as a person sees
it). Every other part of the project starts from that array.

Conversions, stated once:

* grey (``L``, ``1``, 16-bit ``I;16``, 32-bit ``I``/``F``) -> the grey value repeated in R, G, B
  (16/32-bit values are scaled from their own range to 0..255);
* palette (``P``) -> its RGB(A) colours;
* CMYK (JPEG, TIFF) and YCbCr/LAB -> RGB through Pillow's conversion;
* alpha (``RGBA``, ``LA``, ``PA``, palette with transparency) -> **composited on white**
  (``out = a * rgb + (1 - a) * 255``, rounded), so transparent areas become white, not black.

Anything that cannot be decoded completely (missing, empty, truncated, corrupt, not an image, an
unsupported format, a decompression bomb) raises :class:`inversion.common.errors.ImageReadError` with one
line that names the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inversion.common.errors import ImageReadError

#: Formats the project promises to read (Pillow may read a few more; those are accepted too).
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")

#: Largest photo accepted, in pixels (about 16k x 16k); larger files are refused, not decoded.
MAX_PIXELS = 260_000_000


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as ``uint8 [H, W, 3]`` RGB with EXIF orientation applied.

    Alpha is composited on white; grey and CMYK are converted to RGB (see the module docstring).
    Raises :class:`ImageReadError` (one line naming the file) for anything that is not a complete,
    decodable image.
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"no such file: {path}")
    if path.is_dir():
        raise ImageReadError(f"is a folder, not a photo: {path}")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ImageReadError(f"cannot read {path}: {err.strerror or err}") from None
    if size == 0:
        raise ImageReadError(f"empty file, not a photo: {path}")
    image = _open_complete(path)
    return _to_rgb_array(image, path)


def _open_complete(path: Path) -> Image.Image:
    """Open and fully decode ``path`` (truncation is an error), EXIF orientation applied."""
    previous = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                try:
                    image = ImageOps.exif_transpose(image)
                except Exception:  # a broken EXIF block: keep the pixels as stored
                    pass
                image.load()
                return image.copy()
    except UnidentifiedImageError:
        raise ImageReadError(f"not an image (or an unsupported format): {path}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageReadError(f"photo too large (over {MAX_PIXELS:,} pixels): {path}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        reason = str(err).splitlines()[0] if str(err) else err.__class__.__name__
        raise ImageReadError(f"corrupt or truncated image ({reason}): {path}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _to_rgb_array(image: Image.Image, path: Path) -> np.ndarray:
    """Convert any Pillow mode to ``uint8 [H, W, 3]`` RGB (alpha composited on white)."""
    mode = image.mode
    if image.width == 0 or image.height == 0:
        raise ImageReadError(f"image has no pixels: {path}")
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        grey = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or grey.max() > 255 else 255.0
        grey = np.clip(np.rint(grey * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif mode == "L" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        rgba = np.asarray(image, dtype=np.float32)
        alpha = rgba[:, :, 3:4] / 255.0
        rgb = rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if image.mode != "RGB":
        try:
            image = image.convert("RGB")
        except (ValueError, OSError) as err:
            raise ImageReadError(f"cannot convert colour mode {mode} to RGB ({err}): {path}") from None
    array = np.asarray(image, dtype=np.uint8)
    return np.ascontiguousarray(array)
