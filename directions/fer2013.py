"""Reading FER2013-style CSVs (``emotion,pixels[,Usage]``).

Conventions:

- Images are ``uint8`` arrays ``[N, 48, 48]`` (grey, row-major as in the CSV: 2,304 pixel values
  per row, top row first, left to right).
- Labels are indices into :data:`directions.emotions.EMOTIONS` (joy, fear, anger, sadness, disgust,
  surprise, neutral), *not* FER2013's own 0..6 order (anger, disgust, fear, joy, sadness,
  surprise, neutral); :func:`read_fer2013` does the mapping.
- Splits are FER2013's ``Usage`` values: ``Training``, ``PublicTest``, ``PrivateTest``. A CSV
  without a ``Usage`` column puts every row in the split ``all``.

Decoding the 94 MB CSV takes seconds; :func:`read_fer2013` caches the decoded arrays in an
``.npz`` under ``$FACELATENT_HOME/cache`` (default ``~/.cache/facelatent``), keyed by the file's
path, size and modification time, so later reads take a fraction of a second.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from directions.emotions import FER2013_TO_EMOTION_INDEX
from inversion.errors import FaceLatentError, ImageReadError

SIDE = 48
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")

@dataclass(frozen=True)
class FaceDataset:
    """Faces with labels: ``images`` uint8 [N, 48, 48], ``labels`` int64 [N] (EMOTIONS indices),
    ``usage`` str array [N] (the split of each row)."""

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def split(self, name: str) -> "FaceDataset":
        """The rows whose Usage is ``name``; raises FaceLatentError for a split the file lacks."""
        mask = self.usage == name
        if not mask.any():
            present = ", ".join(sorted(set(self.usage.tolist()))) or "none"
            raise FaceLatentError(f"the dataset has no rows in split '{name}' (splits present: {present})")
        return FaceDataset(self.images[mask], self.labels[mask], self.usage[mask])

    def indices(self, name: str) -> np.ndarray:
        """Row indices of split ``name`` (int64, ascending)."""
        return np.flatnonzero(self.usage == name)


def default_cache_dir() -> Path:
    """``$FACELATENT_HOME/cache`` or ``~/.cache/facelatent/cache``."""
    home = os.environ.get("FACELATENT_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "facelatent"
    return base / "cache"


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8", newline="")


def _parse_pixels(text: str, row_number: int, path: Path) -> np.ndarray:
    values = np.array(text.split(), dtype=np.int64)
    if values.size != SIDE * SIDE or values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise ImageReadError(
            f"{path}: row {row_number} has {values.size} pixel values (expected {SIDE * SIDE} in 0..255)"
        )
    return values.astype(np.uint8).reshape(SIDE, SIDE)


def _parse_csv(path: Path) -> FaceDataset:
    images, labels, usage = [], [], []
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            if "emotion" not in header or "pixels" not in header:
                raise ImageReadError(f"{path}: not a FER2013-style CSV (needs columns emotion,pixels[,Usage])")
            col_e, col_p = header.index("emotion"), header.index("pixels")
            col_u = header.index("Usage") if "Usage" in header else None
            for number, row in enumerate(reader, start=2):
                if not row:
                    continue
                try:
                    label = int(row[col_e])
                except (ValueError, IndexError):
                    raise ImageReadError(f"{path}: row {number} has no integer emotion label") from None
                if not 0 <= label <= 6:
                    raise ImageReadError(f"{path}: row {number} has emotion {label} (expected 0..6)")
                images.append(_parse_pixels(row[col_p] if col_p < len(row) else "", number, path))
                labels.append(FER2013_TO_EMOTION_INDEX[label])
                usage.append(row[col_u].strip() if col_u is not None and col_u < len(row) else "all")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError, csv.Error) as err:
        if isinstance(err, FileNotFoundError):
            raise ImageReadError(f"no such file: {path}") from None
        raise ImageReadError(f"{path}: cannot read as a FER2013 CSV ({err.__class__.__name__}: {err})") from None
    if not labels:
        raise ImageReadError(f"{path}: the CSV has no rows")
    return FaceDataset(np.stack(images), np.array(labels, dtype=np.int64), np.array(usage))


def _cache_file(path: Path, cache_dir: Path) -> Path:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    return cache_dir / f"fer2013-{hashlib.sha256(key).hexdigest()[:16]}.npz"


def read_fer2013(path: str | os.PathLike, cache: bool = True, cache_dir: Path | None = None) -> FaceDataset:
    """Read a FER2013-style CSV (plain or ``.gz``) into a :class:`FaceDataset`.

    Labels are mapped from FER2013's order to EMOTIONS indices. With ``cache`` the decoded arrays are
    stored as ``.npz`` (atomic write) and reused while the file's size and mtime are unchanged.
    Raises :class:`ImageReadError` (one line) for a missing, unreadable or malformed file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"no such file: {path}")
    target = _cache_file(path, cache_dir or default_cache_dir()) if cache else None
    if target is not None and target.is_file():
        try:
            with np.load(target, allow_pickle=False) as z:
                return FaceDataset(z["images"], z["labels"], z["usage"])
        except (OSError, KeyError, ValueError):
            pass  # a damaged cache: decode again and overwrite it
    data = _parse_csv(path)
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + f".tmp{os.getpid()}.npz")
            np.savez(tmp, images=data.images, labels=data.labels, usage=data.usage.astype("U16"))
            os.replace(tmp, target)
        except OSError:
            pass  # caching is an optimisation; a read-only home must not break reading
    return data
