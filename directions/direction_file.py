"""Direction files: fitted emotion directions with their metadata, saved as ``.pt``.

A direction file is a plain dict of tensors, strings, numbers, lists and dicts written with
``torch.save`` and read with ``torch.load(weights_only=True)`` (nothing in it can run code)::

    {"format": "facelatent-directions", "version": 1,
     "generator": <sha256 identity of the generator>, "space": "w" | "w+",
     "num_ws": int, "w_dim": int, "data": <description of the labelled latents>,
     "settings": {method, top_ratio, validation_ratio, seed, orthogonalize, ...},
     "created": ISO time, "directions": {emotion: {
         "vector": float32 [w_dim] (w) or [num_ws, w_dim] (w+, zero outside layers), unit L2 norm,
         "method": "mean" | "svm", "layers": [int], "accuracy": float | None (held-out),
         "train_accuracy": float | None, "strength": float (recommended, latent units),
         "strength_range": [low, high], "counts": {...}}},
     "extras": {name: {same fields as a direction}}}

``extras`` (optional; files without it stay valid) holds non-emotion directions in the same space,
e.g. ``"blink"`` (eyes closing: ``w + strength * vector`` closes the eyes). Emotion entries may also
carry ``"calibration"``: how the recommended strength was measured (see
:mod:`directions.calibration`).

Editing convention: ``w' = w + strength * vector`` moves a face towards the emotion; for ``space="w"``
the vector is added to each of the ``layers`` of a W+ latent. Using a file with a generator whose
identity differs raises :class:`IncompatibleModelError`.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from directions.emotions import EMOTIONS
from inversion.common.errors import FaceLatentError, IncompatibleModelError
from inversion.common.output_files import atomic_output, atomic_torch_save

FORMAT = "facelatent-directions"
VERSION = 1


class DirectionFileError(FaceLatentError):
    """A direction file that is missing, unreadable, of another format or inconsistent."""


@dataclass(frozen=True)
class EmotionDirection:
    """One emotion's direction and the figures measured when fitting it (see the module docstring)."""

    emotion: str
    vector: torch.Tensor
    method: str
    layers: tuple[int, ...]
    accuracy: Optional[float] = None
    train_accuracy: Optional[float] = None
    strength: float = 1.0
    strength_range: tuple[float, float] = (0.0, 1.0)
    counts: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"vector": self.vector.detach().float().cpu().contiguous(), "method": self.method,
               "layers": list(self.layers), "accuracy": self.accuracy, "train_accuracy": self.train_accuracy,
               "strength": float(self.strength), "strength_range": [float(v) for v in self.strength_range],
               "counts": dict(self.counts)}
        if self.calibration:
            out["calibration"] = dict(self.calibration)
        return out


@dataclass(frozen=True)
class DirectionSet:
    """Directions for several emotions fitted for one generator, in one latent space.

    ``extras``: non-emotion directions (e.g. ``"blink"``) in the same space, by name."""

    generator: str
    space: str
    num_ws: int
    w_dim: int
    directions: dict[str, EmotionDirection]
    data: str = ""
    settings: dict = field(default_factory=dict)
    created: str = ""
    version: int = VERSION
    extras: dict[str, EmotionDirection] = field(default_factory=dict)

    @property
    def emotions(self) -> tuple[str, ...]:
        """The emotions present, in :data:`EMOTIONS` order."""
        return tuple(e for e in EMOTIONS if e in self.directions)

    def check_generator(self, identity: str, source: str = "the direction file") -> None:
        """Raise :class:`IncompatibleModelError` unless ``identity`` is the generator this was fitted for."""
        if identity != self.generator:
            raise IncompatibleModelError(
                f"{source} was made for generator {self.generator[:12]}, not {identity[:12]}: "
                "train directions for this generator with `facelatent directions train`")

    def get(self, emotion: str) -> EmotionDirection:
        """The direction of ``emotion``; :class:`DirectionFileError` (one line) when absent."""
        if emotion not in self.directions:
            raise DirectionFileError(f"no direction for {emotion!r} (the file has: {', '.join(self.emotions) or 'none'})")
        return self.directions[emotion]

    def extra(self, name: str) -> Optional[EmotionDirection]:
        """The extra (non-emotion) direction ``name``, or ``None`` when the file has none."""
        return self.extras.get(name)

    def offset(self, emotion: str) -> torch.Tensor:
        """The direction as a W+ offset [num_ws, w_dim] (float32, unit norm before broadcasting):
        a W vector is placed on its layers, a W+ vector is returned as is. ``emotion`` may also
        name an extra direction (see :meth:`extra`)."""
        d = self.extras[emotion] if emotion in self.extras and emotion not in self.directions else self.get(emotion)
        if self.space == "w+":
            return d.vector.float()
        out = torch.zeros(self.num_ws, self.w_dim)
        out[list(d.layers)] = d.vector.float()
        return out

    def offsets(self, emotions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(W+ offsets [E, num_ws, w_dim] of :meth:`offset`, recommended strengths [E]) for ``emotions``,
        in the form ``editor.latent_path.blend_directions`` takes (directions, scales)."""
        stacked = torch.stack([self.offset(e) for e in emotions])
        return stacked, torch.tensor([float(self.get(e).strength) for e in emotions])

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": self.version, "generator": self.generator, "space": self.space,
                "num_ws": int(self.num_ws), "w_dim": int(self.w_dim), "data": self.data,
                "settings": dict(self.settings), "created": self.created,
                "directions": {e: self.directions[e].to_dict() for e in self.emotions},
                "extras": {name: entry.to_dict() for name, entry in self.extras.items()}}


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def save_directions(directions: DirectionSet, path: str | os.PathLike) -> Path:
    """Write ``directions`` to ``path`` (``.pt``) atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(directions.to_dict(), path)
    return path


def _direction_from_dict(emotion: str, raw: dict, space: str, num_ws: int, w_dim: int, path: Path) -> EmotionDirection:
    vector = raw.get("vector")
    shape = (w_dim,) if space == "w" else (num_ws, w_dim)
    if not isinstance(vector, torch.Tensor) or tuple(vector.shape) != shape:
        got = tuple(vector.shape) if isinstance(vector, torch.Tensor) else type(vector).__name__
        raise DirectionFileError(f"{path}: the {emotion} vector has shape {got}, expected {shape}")
    if not torch.isfinite(vector).all() or abs(float(vector.double().norm()) - 1.0) > 1e-3:
        raise DirectionFileError(f"{path}: the {emotion} vector is not a finite unit vector")
    layers = tuple(int(i) for i in raw.get("layers", range(num_ws)))
    if not layers or min(layers) < 0 or max(layers) >= num_ws:
        raise DirectionFileError(f"{path}: the {emotion} layers {list(layers)} lie outside 0..{num_ws - 1}")
    span = raw.get("strength_range", (0.0, 1.0))
    return EmotionDirection(emotion=emotion, vector=vector.float(), method=str(raw.get("method", "")), layers=layers,
                            accuracy=raw.get("accuracy"), train_accuracy=raw.get("train_accuracy"),
                            strength=float(raw.get("strength", 1.0)), strength_range=(float(span[0]), float(span[1])),
                            counts=dict(raw.get("counts", {})), calibration=dict(raw.get("calibration", {})))


def _read_raw(path: Path) -> dict:
    from inversion.checkpoints.safe_load import load_tensors  # noqa: PLC0415

    raw = load_tensors(path, "direction file", DirectionFileError)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DirectionFileError(f"{path}: not a facelatent direction file (no '{FORMAT}' format tag)")
    if int(raw.get("version", 0)) > VERSION:
        raise DirectionFileError(f"{path}: direction file version {raw.get('version')} is newer than this facelatent reads ({VERSION})")
    return raw


def load_directions(path: str | os.PathLike, generator_identity: Optional[str] = None) -> DirectionSet:
    """Read a direction file (``torch.load(weights_only=True)``) and check it.

    With ``generator_identity`` the file must have been fitted for that generator, else
    :class:`IncompatibleModelError`. Malformed files raise :class:`DirectionFileError` (one line).
    """
    path = Path(path)
    raw = _read_raw(path)
    try:
        space, num_ws, w_dim = str(raw["space"]), int(raw["num_ws"]), int(raw["w_dim"])
        entries = dict(raw["directions"])
        generator = str(raw["generator"])
    except (KeyError, TypeError, ValueError) as err:
        raise DirectionFileError(f"{path}: the direction file lacks {err}") from None
    if space not in ("w", "w+"):
        raise DirectionFileError(f"{path}: unknown latent space {space!r}")
    unknown = sorted(set(entries) - set(EMOTIONS))
    if unknown:
        raise DirectionFileError(f"{path}: unknown emotion names {unknown}")
    directions = {e: _direction_from_dict(e, entries[e], space, num_ws, w_dim, path) for e in entries}
    raw_extras = raw.get("extras", {}) or {}
    if not isinstance(raw_extras, dict):
        raise DirectionFileError(f"{path}: 'extras' must map names to directions")
    clash = sorted(set(raw_extras) & set(EMOTIONS))
    if clash:
        raise DirectionFileError(f"{path}: extra directions may not use emotion names {clash}")
    extras = {str(n): _direction_from_dict(str(n), raw_extras[n], space, num_ws, w_dim, path) for n in raw_extras}
    result = DirectionSet(generator=generator, space=space, num_ws=num_ws, w_dim=w_dim, directions=directions,
                          data=str(raw.get("data", "")), settings=dict(raw.get("settings", {})),
                          created=str(raw.get("created", "")), version=int(raw.get("version", VERSION)), extras=extras)
    if generator_identity is not None:
        result.check_generator(generator_identity, source=str(path))
    return result


def export_interfacegan(directions: DirectionSet, out_dir: str | os.PathLike,
                        emotions: Optional[Sequence[str]] = None) -> list[Path]:
    """Write InterFaceGAN boundaries: one ``<emotion>_<w|wp>_boundary.npy`` per emotion in ``out_dir``.

    Each holds a float32 ``[1, D]`` unit vector: ``D = w_dim`` for W directions, ``D = num_ws * w_dim``
    (the per-layer vector flattened layer-major) for W+ directions. Files are written atomically.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DirectionFileError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)

    tag = "w" if directions.space == "w" else "wp"
    written = []
    for emotion in emotions or directions.emotions:
        vector = directions.get(emotion).vector.double().flatten()
        boundary = (vector / vector.norm()).numpy().astype(np.float32)[None]
        target = out_dir / f"{emotion}_{tag}_boundary.npy"
        with atomic_output(target, ".part.npy") as tmp:
            np.save(tmp, boundary)
        written.append(target)
    return written


def direction_set_from_fits(fits: dict, *, generator: str, space: str, num_ws: int, w_dim: int,
                            data: str = "", settings: Optional[dict] = None) -> DirectionSet:
    """Build a :class:`DirectionSet` from :func:`directions.fitting.fit_emotion_directions` results
    (keys: EMOTIONS indices or names; values: ``FittedDirection``)."""
    directions = {}
    for key, fit in fits.items():
        emotion = EMOTIONS[key] if isinstance(key, int) else str(key)
        directions[emotion] = EmotionDirection(
            emotion=emotion, vector=fit.vector, method=fit.method, layers=tuple(fit.layers),
            accuracy=fit.accuracy, train_accuracy=fit.train_accuracy, strength=fit.strength,
            strength_range=tuple(fit.strength_range), counts=dict(fit.counts))
    return DirectionSet(generator=generator, space=space, num_ws=int(num_ws), w_dim=int(w_dim), directions=directions,
                        data=data, settings=dict(settings or {}), created=now_iso())


def wplus_set_from_fits(fits: dict, *, generator: str, num_ws: int, w_dim: int, data: str = "",
                        settings: Optional[dict] = None) -> DirectionSet:
    """Like :func:`direction_set_from_fits`, but in space ``w+`` with every direction a unit W+ offset
    ``[num_ws, w_dim]`` (a W vector placed on its layers, then renormalised), so that a strength
    means the same latent distance whichever space a direction was fitted in."""
    fitted = direction_set_from_fits(fits, generator=generator, space="w", num_ws=num_ws, w_dim=w_dim)
    directions = {}
    for emotion, entry in fitted.directions.items():
        if entry.vector.ndim == 2:
            vector = entry.vector.float()
        else:
            vector = torch.zeros(num_ws, w_dim)
            vector[list(entry.layers)] = entry.vector.float()
        directions[emotion] = replace(entry, vector=(vector / vector.norm()).contiguous())
    return DirectionSet(generator=generator, space="w+", num_ws=int(num_ws), w_dim=int(w_dim), directions=directions,
                        data=data, settings=dict(settings or {}), created=now_iso())
