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

from directions.emotions import EMOTIONS, FER2013_TO_EMOTION_INDEX
from inversion.common.errors import FaceLatentError, ImageReadError

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


# --- FER+ votes (Microsoft FERPlus relabelling) ---------------------------------------------------

#: The vote columns of FERPlus's ``fer2013new.csv`` after ``Usage`` and ``Image name``.
FERPLUS_COLUMNS: tuple[str, ...] = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                                    "contempt", "unknown", "NF")
#: For each EMOTIONS entry (joy, fear, ...), its FER+ vote column; contempt, unknown and NF are not used.
FERPLUS_COLUMN_OF_EMOTION: tuple[int, ...] = tuple(
    FERPLUS_COLUMNS.index(name) for name in ("happiness", "fear", "anger", "sadness", "disgust", "surprise", "neutral"))
_SPLIT_RANK = {name: rank for rank, name in enumerate(SPLITS)}


@dataclass(frozen=True)
class FerPlusVotes:
    """FER+ votes: ``usage`` str [M], ``counts`` int64 [M, 10] (columns :data:`FERPLUS_COLUMNS`), in the
    vote file's row order (FER2013's original row order)."""

    usage: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return int(self.usage.shape[0])

    def non_face(self) -> np.ndarray:
        """bool [M]: rows where most annotators chose NF (not a face)."""
        return self.counts[:, FERPLUS_COLUMNS.index("NF")] * 2 > self.counts.sum(1)

    def distributions(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the votes over EMOTIONS as a distribution (float32 [M, 7], rows sum to 1) and
        ``usable`` bool [M]: False where no annotator chose one of the seven emotions (contempt,
        unknown and NF are dropped and the rest renormalised); such rows get a zero row."""
        seven = self.counts[:, list(FERPLUS_COLUMN_OF_EMOTION)].astype(np.float32)
        total = seven.sum(1, keepdims=True)
        usable = total[:, 0] > 0
        return np.where(usable[:, None], seven / np.maximum(total, 1), 0.0).astype(np.float32), usable


def read_ferplus_votes(path: str | os.PathLike) -> FerPlusVotes:
    """Read FERPlus's vote CSV (``Usage,Image name,neutral,...,NF``); ImageReadError (one line) if malformed."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"no such file: {path}")
    usage, counts = [], []
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            if tuple(header[2:12]) != FERPLUS_COLUMNS:
                raise ImageReadError(f"{path}: not a FER+ vote CSV (expected Usage,Image name,"
                                     f"{','.join(FERPLUS_COLUMNS)})")
            for number, row in enumerate(reader, start=2):
                try:
                    counts.append([int(v) for v in row[2:12]])
                except ValueError:
                    raise ImageReadError(f"{path}: row {number} has non-integer votes") from None
                if len(counts[-1]) != len(FERPLUS_COLUMNS):
                    raise ImageReadError(f"{path}: row {number} has {len(counts[-1])} vote columns, expected 10")
                usage.append(row[0].strip())
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ImageReadError(f"{path}: cannot read the FER+ votes ({err.__class__.__name__}: {err})") from None
    if not usage:
        raise ImageReadError(f"{path}: the vote CSV has no rows")
    return FerPlusVotes(np.array(usage), np.array(counts, dtype=np.int64))


#: Alignment scores (natural-log units): a face row placed at a vote row that FER+ calls "not a face",
#: a vote row left without a face of the CSV, a CSV row left without a vote row (moved or foreign).
NON_FACE_MATCH, MISSING_ROW, EXTRA_ROW = -4.0, -8.0, -8.0


def _match_scores(votes: FerPlusVotes) -> np.ndarray:
    """Score of placing a row with original label e at vote row j, as a table [7, M]: the log of the
    (smoothed) share of votes for e over chance 1/7; 0 where no emotion votes; NON_FACE_MATCH at NF rows."""
    dist, usable = votes.distributions()
    table = np.log((dist + 0.02) / (1 + 7 * 0.02) * len(EMOTIONS)).T
    table[:, ~usable] = 0.0
    table[:, votes.non_face()] = NON_FACE_MATCH
    return table


def _banded_alignment(labels: np.ndarray, usage: np.ndarray, votes: FerPlusVotes, band: tuple[int, int]) -> np.ndarray:
    """Order-preserving alignment of CSV rows to vote rows (an edit-distance DP on diagonals j - i in
    ``band``): a match scores :func:`_match_scores` (-inf across splits); a skipped vote row costs
    MISSING_ROW (nothing for a non-face row); a skipped CSV row costs EXTRA_ROW. Returns, per CSV row,
    its vote row or -1 (skipped)."""
    n, m = len(labels), len(votes)
    offsets = np.arange(band[0], band[1] + 1)
    width = len(offsets)
    skip_cost = np.where(votes.non_face(), 0.0, -MISSING_ROW)
    cum = np.concatenate([[0.0], np.cumsum(skip_cost)])  # cum[j]: cost of skipping vote rows < j
    table = _match_scores(votes)
    score = np.where(offsets == 0, 0.0, -np.inf)  # F[d]: CSV rows < i and vote rows < i + d used
    came = np.zeros((n + 1, width), dtype=np.int16)  # best d' <= d before the skipped vote rows (row i)
    took = np.zeros((n, width), dtype=bool)  # True: row i matched at d; False: row i skipped from d + 1
    for i in range(n + 1):
        j = np.clip(i + offsets, 0, m)
        lifted = np.where((i + offsets >= 0) & (i + offsets <= m), score + cum[j], -np.inf)
        run = np.maximum.accumulate(lifted)
        came[i] = np.maximum.accumulate(np.where(lifted == run, np.arange(width), 0))
        g = run - cum[j]
        if i == n:
            break
        valid = (i + offsets >= 0) & (i + offsets < m)
        jj = np.clip(i + offsets, 0, m - 1)
        match = np.where(valid & (votes.usage[jj] == usage[i]), g + table[labels[i], jj], -np.inf)
        skip = np.concatenate([g[1:], [-np.inf]]) + EXTRA_ROW
        took[i] = match >= skip
        score = np.where(took[i], match, skip)
    d = int(np.flatnonzero(offsets == m - n)[0])
    if not np.isfinite(g[d]):
        raise FaceLatentError("the rows' splits (Usage) cannot be matched to the vote file's in order")
    placed = np.full(n, -1, dtype=np.int64)
    for i in range(n - 1, -1, -1):
        d = int(came[i + 1, d])
        if took[i, d]:
            placed[i] = i + offsets[d]
        else:
            d += 1
    return placed


def _in_order_prefix(usage: np.ndarray) -> int:
    """Length of the leading rows whose splits run in FER2013's order (Training, PublicTest, PrivateTest)."""
    rank = np.array([_SPLIT_RANK.get(u, -1) for u in usage])
    drops = np.flatnonzero(rank[1:] < rank[:-1])
    return int(drops[0] + 1) if drops.size else len(usage)


def align_ferplus(data: FaceDataset, votes: FerPlusVotes, slack: int = 32) -> np.ndarray:
    """For each row of ``data``, the row of ``votes`` that labels the same face, or -1 (not placed).

    The shared FER2013 CSV is the original file with 176 rows taken out of their places and appended at
    its end (where the splits no longer run Training, PublicTest, PrivateTest): as many per split as the
    rows FER+ calls "not a face", and its blank images are all among them; one face is missing. The
    leading in-order rows are aligned to the vote file by :func:`_banded_alignment` (order kept, splits
    equal, gaps where the original labels agree better with the FER+ votes after them), with up to
    ``slack`` unexplained rows either way. CSV rows it leaves over and the appended rows are not placed:
    the appended rows' candidates are mostly non-face rows without emotion votes, and their order cannot
    be checked. :func:`alignment_agreement` measures the result.
    """
    head = _in_order_prefix(data.usage)
    placed = np.full(len(data), -1, dtype=np.int64)
    band = (min(0, len(votes) - head) - slack, max(0, len(votes) - head) + slack)
    placed[:head] = _banded_alignment(data.labels[:head], data.usage[:head], votes, band)
    return placed


def alignment_agreement(labels: np.ndarray, votes: FerPlusVotes, placed: np.ndarray, shift: int = 0) -> float:
    """Share of placed rows (with usable votes) whose label is the FER+ vote majority, with every vote row
    moved by ``shift``: high for a right alignment (0.64 on the shared file), low when shifted (0.18)."""
    dist, usable = votes.distributions()
    rows = placed + shift
    ok = (placed >= 0) & (rows >= 0) & (rows < len(votes))
    ok[ok] &= usable[rows[ok]]
    return float((dist[rows[ok]].argmax(1) == labels[ok]).mean()) if ok.any() else float("nan")


def ferplus_targets(data: FaceDataset, votes: FerPlusVotes, weight: float,
                    placed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Training targets that mix each row's original label with its FER+ votes.

    Returns ``targets`` float32 [N, 7] (EMOTIONS order, rows sum to 1): ``(1 - weight) * one_hot(label)
    + weight * votes`` where the row is placed (:func:`align_ferplus`, or ``placed`` if given) and has
    emotion votes, else the one-hot label; and ``soft`` bool [N], the rows that got votes. With
    ``weight`` <= 0.5 the original label stays each target's top class.
    """
    if not 0.0 <= weight <= 1.0:
        raise FaceLatentError(f"the FER+ mixing weight must be in [0, 1], got {weight}")
    placed = align_ferplus(data, votes) if placed is None else placed
    dist, usable = votes.distributions()
    soft = (placed >= 0) & usable[np.clip(placed, 0, None)]
    targets = np.eye(len(EMOTIONS), dtype=np.float32)[data.labels]
    targets[soft] = (1 - weight) * targets[soft] + weight * dist[placed[soft]]
    return targets, soft
