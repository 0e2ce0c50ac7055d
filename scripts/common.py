"""What more than one script needs: where the shared data lives, the faces128 archive, landmarks and
alignment of grey face crops, image grids and matching faces by their boxes (the classifier's export is
:mod:`classifier_export`).

Scripts run as ``python scripts/NAME.py``: Python puts ``scripts/`` first on the path, so they
``import common``; the project's packages come from the installed ``facelatent`` (``pip install -e .``).
The tests find ``scripts/`` through pytest's ``pythonpath`` setting in ``pyproject.toml``.
"""

from __future__ import annotations

import csv
import io
import math
import tarfile
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from inversion.faces.alignment import align_face
from inversion.faces.landmarks import box_from_landmarks, predict_landmarks
from inversion.common.output_files import atomic_output

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FACES128 = SHARED / "data" / "faces128" / "faces128.tar"
FER2013 = SHARED / "data" / "fer2013" / "fer2013.csv.gz"
FERPLUS = SHARED / "data" / "fer2013" / "ferplus_votes.csv"
#: The last rows of faces128's labels.csv, never trained on (the projector benchmark's faces).
HELD_OUT_FACES128 = 50


# --- faces128 and grey face crops ------------------------------------------------------------------

def read_faces128(path: Path = FACES128):
    """Yield ``(row, rows, grey uint8 [H, W], emotion as labels.csv spells it)`` in labels.csv order."""
    with tarfile.open(path) as tar:
        members = {m.name.split("/")[-1]: m for m in tar.getmembers() if m.isfile()}
        text = tar.extractfile(members["labels.csv"]).read().decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        for i, row in enumerate(rows):
            data = tar.extractfile(members[row["image"]]).read()
            grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
            yield i, len(rows), grey, row["emotion"]


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """``uint8 [H, W]`` -> ``uint8 [H, W, 3]`` (the grey value in R, G and B)."""
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def plausible(points: np.ndarray, side: int) -> bool:
    """Whether 68 landmarks found in a ``side``-pixel crop look like a face filling it."""
    eye_l, eye_r = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    mouth = points[48:68].mean(axis=0)
    eye_dist = float(np.hypot(*(eye_r - eye_l)))
    inside = np.all((points > -0.25 * side) & (points < 1.25 * side))
    upright = mouth[1] > max(eye_l[1], eye_r[1])
    return bool(inside and upright and 0.15 * side < eye_dist < 0.7 * side)


def align_grey(grey: np.ndarray, size: int, upscale: int = 1) -> tuple[np.ndarray, bool]:
    """Tight-align one grey crop ``uint8 [H, W]`` → (``uint8 [size, size]``, used the fallback)."""
    if upscale > 1:
        grey = cv2.resize(grey, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    rgb = grey_to_rgb(grey)
    h, w = grey.shape
    points = predict_landmarks(rgb, (0, 0, w, h))
    if plausible(points, min(h, w)):
        try:
            return align_face(rgb, points, size, variant="tight").image[:, :, 0], False
        except Exception:  # degenerate landmarks: fall back below
            pass
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA), True


def detect(grey: np.ndarray, upscale: float, shift: float = 0.0) -> np.ndarray:
    """68 landmarks of a tight grey crop, in the crop's own pixels (see stage 1)."""
    if upscale != 1:
        grey = cv2.resize(grey, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    side = grey.shape[0]
    pad = side // 2
    image = grey_to_rgb(cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
    d = shift * side
    first = predict_landmarks(image, (pad + d, pad - d, pad + side + d, pad + side - d))
    points = predict_landmarks(image, box_from_landmarks(first))
    # pixel centres: crop pixel i sits at (i + 0.5) * upscale - 0.5 in the upscaled image
    return (points - pad + 0.5) / upscale - 0.5


# --- images and faces -------------------------------------------------------------------------------

def rgb(x: torch.Tensor) -> torch.Tensor:
    """Grey image batches ``[N, 1, H, W]`` repeated to three channels (a view); RGB ones as they are."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def save_grid(images: torch.Tensor, path: Path, cols: int) -> None:
    """Images [N, 1|3, H, W] in [-1, 1] → a PNG grid, ``cols`` wide (atomic)."""
    arr = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    arr = arr.expand(-1, 3, -1, -1) if arr.shape[1] == 1 else arr
    n, _, h, w = arr.shape
    rows = math.ceil(n / cols)
    canvas = torch.zeros([3, rows * h, cols * w], dtype=torch.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[:, r * h:(r + 1) * h, c * w:(c + 1) * w] = arr[i]
    with atomic_output(path, ".png") as tmp:
        Image.fromarray(canvas.permute(1, 2, 0).numpy()).save(tmp)


def match_faces(boxes, found: list[dict]) -> list[dict | None]:
    """For each animated face's box, the detected face whose box centre is nearest (within half its width)."""
    out = []
    for x0, y0, x1, y1 in boxes:
        centre, half = np.array([(x0 + x1) / 2, (y0 + y1) / 2]), (x1 - x0) / 2
        best, dist = None, half
        for face in found:
            b = face["box"]
            d = float(np.linalg.norm(np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) - centre))
            if d < dist:
                best, dist = face, d
        out.append(best)
    return out
