"""Labelled face-image datasets for learning emotion directions.

:func:`read_labelled_images` opens any of:

- a FER2013-style CSV (``emotion,pixels[,Usage]``, plain or ``.gz``; read by
  :func:`directions.fer2013.read_fer2013`), optionally one ``Usage`` split;
- a CSV of ``image,emotion`` (paths relative to the CSV's folder, or to an ``images/`` folder beside
  it; emotion names as in :data:`EMOTION_ALIASES`);
- a folder with one sub-folder per emotion (``joy/``, ``happy/``, ``neutral/``, ...);
- a ``.tar`` holding ``labels.csv`` (``image,emotion``) and the images (e.g. ``faces128.tar``).

The result is a :class:`LabelledImages`: ``labels`` int64 [N] (indices into
:data:`directions.emotions.EMOTIONS`) and ``images[i]`` a ``uint8 [H, W, 3]`` RGB array (grey images
repeated in R, G, B), decoded lazily one at a time. Rows whose emotion is not in the vocabulary
(e.g. ``contempt``) are skipped and counted in ``skipped``.
"""

from __future__ import annotations

import csv
import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from directions.emotions import EMOTIONS
from directions.fer2013 import read_fer2013
from inversion.common.errors import FaceLatentError, ImageReadError
from inversion.common.images import read_photo

#: Names accepted for each emotion in CSVs and folder names (lower case).
EMOTION_ALIASES: dict[str, str] = {
    **{e: e for e in EMOTIONS},
    "happy": "joy", "happiness": "joy", "smile": "joy", "fearful": "fear", "scared": "fear", "afraid": "fear",
    "angry": "anger", "sad": "sadness", "disgusted": "disgust", "surprised": "surprise", "calm": "neutral",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def emotion_index(name: str) -> Optional[int]:
    """EMOTIONS index of ``name`` or one of its aliases (case and spaces ignored); ``None`` if unknown."""
    canonical = EMOTION_ALIASES.get(name.strip().lower())
    return None if canonical is None else EMOTIONS.index(canonical)


@dataclass(frozen=True)
class LabelledImages:
    """Face images with emotion labels: ``len(ds)``, ``ds[i]`` (uint8 HxWx3 RGB), ``ds.labels``."""

    labels: np.ndarray
    loader: Callable[[int], np.ndarray]
    description: str
    skipped: int = 0
    order: Optional[np.ndarray] = field(default=None)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        source = int(self.order[i]) if self.order is not None else int(i) % len(self)
        return self.loader(source)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(EMOTIONS))
        return {name: int(counts[i]) for i, name in enumerate(EMOTIONS)}

    def subset(self, indices: Sequence[int], note: str = "") -> "LabelledImages":
        """The images at ``indices`` (positions in this dataset), in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        base = self.order if self.order is not None else np.arange(len(self))
        return LabelledImages(self.labels[indices], self.loader, self.description + note, self.skipped, base[indices])


def balanced_subset(data: LabelledImages, emotions: Sequence[str], per_class: int, seed: int = 0) -> LabelledImages:
    """At most ``per_class`` images of each emotion in ``emotions`` (drawn with ``seed``), grouped by class."""
    rng = np.random.default_rng(seed)
    chosen = []
    for name in emotions:
        idx = np.flatnonzero(data.labels == EMOTIONS.index(name))
        chosen.append(np.sort(rng.permutation(idx)[:per_class]))
    return data.subset(np.concatenate(chosen) if chosen else np.zeros(0, np.int64),
                       note=f", at most {per_class} per class (seed {seed})")


def _grey_to_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def _fer_dataset(path: Path, split: Optional[str]) -> LabelledImages:
    data = read_fer2013(path)
    if split:
        data = data.split(split)
    images = data.images
    return LabelledImages(data.labels.astype(np.int64), lambda i: _grey_to_rgb(images[i]),
                          f"FER2013 {path.name}" + (f" ({split})" if split else ""))


def _label_rows(rows: list[tuple[str, str]], where: str) -> tuple[list[str], list[int], int]:
    names, labels, skipped = [], [], 0
    for image, emotion in rows:
        index = emotion_index(emotion)
        if index is None:
            skipped += 1
            continue
        names.append(image)
        labels.append(index)
    if not labels:
        raise FaceLatentError(f"{where}: no rows with a known emotion (known: {', '.join(EMOTIONS)})")
    return names, labels, skipped


def _read_pairs(handle, where: str) -> list[tuple[str, str]]:
    reader = csv.reader(handle)
    header = [h.strip().lower() for h in next(reader, [])]
    if "image" not in header or "emotion" not in header:
        raise FaceLatentError(f"{where}: expected a CSV with columns image,emotion (or FER2013's emotion,pixels)")
    ci, ce = header.index("image"), header.index("emotion")
    return [(row[ci].strip(), row[ce]) for row in reader if len(row) > max(ci, ce) and row[ci].strip()]


def _image_csv_dataset(path: Path) -> LabelledImages:
    with open(path, newline="", encoding="utf-8") as handle:
        names, labels, skipped = _label_rows(_read_pairs(handle, str(path)), str(path))
    roots = [path.parent, path.parent / "images"]

    def load(i: int) -> np.ndarray:
        for root in roots:
            candidate = root / names[i]
            if candidate.is_file():
                return read_photo(candidate)
        raise ImageReadError(f"{path}: image {names[i]!r} not found beside the CSV or in images/")

    return LabelledImages(np.array(labels, dtype=np.int64), load, f"image CSV {path.name}", skipped)


def _folder_dataset(path: Path) -> LabelledImages:
    files, labels, skipped = [], [], 0
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        index = emotion_index(sub.name)
        images = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if index is None:
            skipped += len(images)
            continue
        files += images
        labels += [index] * len(images)
    if not files:
        raise FaceLatentError(f"{path}: no images in sub-folders named after emotions ({', '.join(EMOTIONS)})")
    return LabelledImages(np.array(labels, dtype=np.int64), lambda i: read_photo(files[i]),
                          f"folder {path.name}", skipped)


def _decode_bytes(data: bytes, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError) as err:
        raise ImageReadError(f"cannot decode {name}: {err}") from None


def _tar_dataset(path: Path) -> LabelledImages:
    try:
        with tarfile.open(path) as tar:
            members = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
            label_name = next((n for n in members if n.rsplit("/", 1)[-1] == "labels.csv"), None)
            if label_name is None:
                raise FaceLatentError(f"{path}: the archive has no labels.csv (image,emotion)")
            text = tar.extractfile(members[label_name]).read().decode("utf-8")
    except (tarfile.TarError, OSError, UnicodeDecodeError) as err:
        raise ImageReadError(f"{path}: cannot read the archive ({err})") from None
    names, labels, skipped = _label_rows(_read_pairs(io.StringIO(text), str(path)), str(path))
    prefix = label_name.rsplit("/", 1)[0] + "/" if "/" in label_name else ""
    lookup = {}
    for name in names:
        for candidate in (prefix + name, prefix + "images/" + name):
            if candidate in members:
                lookup[name] = members[candidate]
                break
    missing = [n for n in names if n not in lookup]
    if missing:
        raise ImageReadError(f"{path}: {len(missing)} images listed in labels.csv are absent, e.g. {missing[0]}")

    def load(i: int) -> np.ndarray:
        with tarfile.open(path) as tar:
            return _decode_bytes(tar.extractfile(lookup[names[i]]).read(), f"{path}:{names[i]}")

    return LabelledImages(np.array(labels, dtype=np.int64), load, f"archive {path.name}", skipped)


def _is_fer_csv(path: Path) -> bool:
    import gzip  # noqa: PLC0415

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            header = [h.strip().lower() for h in handle.readline().split(",")]
    except (OSError, UnicodeDecodeError) as err:
        raise ImageReadError(f"cannot read {path}: {err}") from None
    return "pixels" in header


def read_labelled_images(path: str | os.PathLike, split: Optional[str] = None) -> LabelledImages:
    """Open a labelled image dataset (see the module docstring); ``split`` selects a FER2013 Usage."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"no such dataset: {path}")
    if path.is_dir():
        return _folder_dataset(path)
    name = path.name.lower()
    if name.endswith(".tar"):
        return _tar_dataset(path)
    if name.endswith((".csv", ".csv.gz")):
        if _is_fer_csv(path):
            return _fer_dataset(path, split)
        if split:
            raise FaceLatentError(f"{path}: --split applies to FER2013 CSVs only")
        return _image_csv_dataset(path)
    raise FaceLatentError(f"{path}: unknown dataset form (use a FER2013 CSV, an image,emotion CSV, a folder "
                          "per emotion or a .tar with labels.csv)")
