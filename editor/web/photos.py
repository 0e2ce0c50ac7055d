"""An uploaded photo: the limits, the checks, decoding and face detection.

An upload is refused, with one line and nothing left behind, when it is larger than ``max_bytes``
(413), has more than ``max_pixels`` pixels (413, read from the header before any decoding, so a
decompression bomb costs nothing), is not a JPEG, PNG or WebP (415), or does not decode completely
(400: truncated, corrupt). Accepted photos are kept with a preview (the decoded pixels, EXIF
orientation applied, as JPEG) and their faces: boxes in the photo's pixels, numbered left to right
as ``facelatent detect`` and ``--faces`` number them, each flagged when too small to animate.
"""

from __future__ import annotations

import shutil
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from editor.web.store import Store, new_id, write_json

#: Default limits: 20 MB of upload, 40 megapixels.
MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
PREVIEW_SIDE = 1600

#: Detection runs in the web process's thread pool, one photo at a time.
_DETECT_LOCK = threading.Lock()


@dataclass
class UploadRefused(Exception):
    """An upload the server will not take: the HTTP status and one line for the user."""

    status: int
    message: str

    def __str__(self) -> str:
        return self.message


def header_check(path: Path, max_pixels: int) -> None:
    """Refuse a file that is not an accepted image format or has too many pixels (header only)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                fmt, (width, height) = image.format, image.size
    except Image.DecompressionBombError:
        raise UploadRefused(413, f"the photo has far more pixels than the limit of {max_pixels / 1e6:g} megapixels: "
                                 "upload a smaller photo") from None
    except UnidentifiedImageError:
        raise UploadRefused(415, "not an image: upload a JPEG, PNG or WebP photo") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise UploadRefused(400, "the image is corrupt or truncated: upload the complete photo") from None
    if fmt not in ACCEPTED_FORMATS:
        raise UploadRefused(415, f"{fmt} images are not accepted: upload a JPEG, PNG or WebP photo")
    if width * height > max_pixels:
        raise UploadRefused(413, f"the photo is {width}x{height} pixels, over the limit of "
                                 f"{max_pixels / 1e6:g} megapixels: upload a smaller photo")


def decode(path: Path):
    """The photo as uint8 RGB (read_photo), or UploadRefused(400) with one line."""
    from inversion.common.errors import ImageReadError  # noqa: PLC0415
    from inversion.common.images import read_photo  # noqa: PLC0415

    try:
        return read_photo(path)
    except ImageReadError as err:
        text = str(err)
        reason = "the photo is too large" if "too large" in text else \
            "not an image" if "not an image" in text else "the image is corrupt or truncated"
        raise UploadRefused(400, f"{reason}: upload a complete JPEG, PNG or WebP photo") from None


def detect(photo) -> list[dict]:
    """Faces of a uint8 RGB photo: index, box [x0, y0, x1, y1] (photo pixels), too_small and why."""
    from editor.animate_job import MIN_ANIMATED_FACE, too_small  # noqa: PLC0415
    from inversion.faces.detection import find_faces  # noqa: PLC0415

    with _DETECT_LOCK:
        found = find_faces(photo).faces
    faces = []
    for index, face in enumerate(found):
        box = [round(float(v), 1) for v in face.box]
        small = bool(too_small(face.box, MIN_ANIMATED_FACE))
        side = max(box[2] - box[0], box[3] - box[1])
        faces.append({"index": index, "box": box, "too_small": small,
                      "reason": (f"too small to animate: {side:.0f} px, at least {MIN_ANIMATED_FACE} px "
                                 "needed") if small else None})
    return faces


def save_upload(store: Store, received: Path, max_pixels: int = MAX_PIXELS) -> dict:
    """Check, decode and detect the file at ``received`` (a temporary file the caller made); on
    success move it into a new upload folder and return the photo's record. On any refusal the
    temporary file and any partial folder are removed and :class:`UploadRefused` is raised."""
    from PIL import Image  # noqa: PLC0415

    folder = None
    try:
        header_check(received, max_pixels)
        photo = decode(received)
        faces = detect(photo)
        upload_id = new_id()
        folder = store.uploads / upload_id
        folder.mkdir()
        image = Image.fromarray(photo)
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        image.save(folder / "preview.jpg", quality=88)
        shutil.move(str(received), folder / "photo")
        record = {"id": upload_id, "width": int(photo.shape[1]), "height": int(photo.shape[0]),
                  "faces": faces, "created": time.time()}
        write_json(folder / "photo.json", record)  # last: the upload exists only once complete
        return record
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        received.unlink(missing_ok=True)
