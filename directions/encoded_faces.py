"""FER2013 faces of the prepared face-data file, by FER2013 usage, and their encoder latents.

``scripts/prepare_face_data.py`` writes an ``.npz`` (``images`` uint8 [N, S, S] grey, tight-aligned;
``source`` 1 = FER2013; ``row`` the FER2013 CSV row; ``labels`` EMOTIONS indices) whose ``split``
lumps PublicTest and PrivateTest together. :func:`fer_faces` separates them with the CSV's
``Usage`` column, so that directions are fitted on ``Training`` and judged on ``PublicTest`` only.
"""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import numpy as np
import torch

from inversion.common.errors import FaceLatentError

USAGES = ("Training", "PublicTest", "PrivateTest")


class FaceDataError(FaceLatentError):
    """A face-data file or FER2013 CSV that is missing or not as expected."""


def fer_usage(csv_path: str | os.PathLike) -> np.ndarray:
    """The ``Usage`` column of the FER2013 CSV (``.csv`` or ``.csv.gz``), one string per row."""
    path = Path(csv_path)
    if not path.is_file():
        raise FaceDataError(f"no such FER2013 CSV: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        if "Usage" not in header:
            raise FaceDataError(f"{path}: no Usage column (header {header})")
        column = header.index("Usage")
        return np.array([row[column].strip() for row in reader])


def fer_faces(data_path: str | os.PathLike, csv_path: str | os.PathLike, usage: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, S, S], labels int64 [N]) of the labelled FER2013 faces of one ``usage``."""
    if usage not in USAGES:
        raise FaceDataError(f"unknown FER2013 usage {usage!r}: use one of {', '.join(USAGES)}")
    path = Path(data_path)
    if not path.is_file():
        raise FaceDataError(f"no such face-data file: {path} (make it with scripts/prepare_face_data.py)")
    data = np.load(path)
    missing = {"images", "source", "row", "labels"} - set(data.files)
    if missing:
        raise FaceDataError(f"{path}: not a face-data file (lacks {', '.join(sorted(missing))})")
    usages = fer_usage(csv_path)
    fer = np.flatnonzero(data["source"] == 1)
    rows = data["row"][fer]
    if rows.size and rows.max() >= len(usages):
        raise FaceDataError(f"{path}: FER2013 rows up to {rows.max()} but the CSV has {len(usages)}")
    keep = fer[(usages[rows] == usage) & (data["labels"][fer] >= 0)]
    return data["images"][keep], data["labels"][keep].astype(np.int64)


@torch.no_grad()
def encode_images(E, images: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """uint8 grey images [N, S, S] (0..255 -> [-1, 1]) -> the encoder's W+ latents [N, num_ws, w_dim] float32."""
    out = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).float().unsqueeze(1) / 127.5 - 1.0
        out.append(E(x).float())
    if not out:
        raise FaceDataError("no images to encode")
    return torch.cat(out)


def pick(labels: np.ndarray, label: int, count: int, seed: int) -> np.ndarray:
    """``count`` indices (fewer if there are fewer) of ``labels == label``, drawn with ``seed``, sorted."""
    where = np.flatnonzero(np.asarray(labels) == label)
    chosen = np.random.default_rng(seed).permutation(where)[:count]
    return np.sort(chosen)
