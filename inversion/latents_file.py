"""Latents files: the per-face result of ``facelatent invert``, tied to the generator that made it.

A latents file is a ``.pt`` written with ``torch.save`` and readable with
``torch.load(weights_only=True)``: a dict of tensors, strings, numbers, lists and dicts only::

    {"format": "facelatent-latents", "version": 1,
     "generator": <inversion.checkpoints.generator_identity(G): sha256 hex>,
     "num_ws": int, "w_dim": int, "resolution": int,
     "space": "w" | "w+",
     "photo": {"path": str, "width": int, "height": int},
     "settings": {...projection settings: steps, pti_steps, seed...},
     "faces": [{"index": int,                      # the face's index among the photo's detections
                "box": [x0, y0, x1, y1],            # photo pixels, x right, y down
                "landmarks": float32 [68, 2] (or [0, 2] for an already aligned crop),
                "alignment": "ffhq" | "tight" | "none",
                "forward": float64 [3, 3],          # photo pixel coords -> crop pixel coords
                "crop_size": int,
                "latent": float32 [w_dim] (W) or [num_ws, w_dim] (W+),
                "noise": {synthesis buffer name: float32 [H, W]},   # empty: the generator's own noise
                "pti_delta": {G parameter name: float16 tensor} or None,
                "metrics": {"lpips": float, "psnr": float, "seconds": float}}, ...]}

:func:`load_latents` refuses a file made with another generator (``IncompatibleModelError``).
:func:`export_projected_w` writes the official projector's ``projected_w.npz`` form (key ``w``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from inversion.common.errors import FaceLatentError, IncompatibleModelError
from inversion.common.output_files import atomic_output

LATENTS_FORMAT = "facelatent-latents"
LATENTS_VERSION = 1


class LatentsFileError(FaceLatentError):
    """A latents file that is missing, unreadable, or not in the facelatent latents format."""


@dataclass
class FaceLatent:
    """One face's inversion: where it is in the photo, how it was aligned, its latent and extras."""

    index: int
    box: list
    landmarks: torch.Tensor
    alignment: str
    forward: torch.Tensor
    crop_size: int
    latent: torch.Tensor
    noise: dict = field(default_factory=dict)
    pti_delta: Optional[dict] = None
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "index": int(self.index), "box": [float(v) for v in self.box],
            "landmarks": self.landmarks.detach().float().cpu(), "alignment": str(self.alignment),
            "forward": torch.as_tensor(self.forward, dtype=torch.float64).cpu(), "crop_size": int(self.crop_size),
            "latent": self.latent.detach().float().cpu(),
            "noise": {k: v.detach().float().cpu().reshape(v.shape[-2:]) for k, v in self.noise.items()},
            "pti_delta": None if self.pti_delta is None else {k: v.detach().cpu() for k, v in self.pti_delta.items()},
            "metrics": {k: float(v) for k, v in self.metrics.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> "FaceLatent":
        return cls(index=data["index"], box=list(data["box"]), landmarks=data["landmarks"],
                   alignment=data["alignment"], forward=data["forward"], crop_size=data["crop_size"],
                   latent=data["latent"], noise=dict(data["noise"]), pti_delta=data["pti_delta"],
                   metrics=dict(data["metrics"]))

    def noise_batch(self) -> dict:
        """The noise maps as a batch of one (``[1, 1, H, W]``), as the projector and PTI take them."""
        return {k: v.reshape(1, 1, *v.shape[-2:]) for k, v in self.noise.items()}


@dataclass
class LatentsFile:
    """The contents of a latents file; ``faces`` in the order they were inverted."""

    generator: str
    num_ws: int
    w_dim: int
    resolution: int
    space: str
    photo_path: str
    photo_size: tuple
    faces: list
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "format": LATENTS_FORMAT, "version": LATENTS_VERSION, "generator": self.generator,
            "num_ws": int(self.num_ws), "w_dim": int(self.w_dim), "resolution": int(self.resolution),
            "space": self.space,
            "photo": {"path": str(self.photo_path), "width": int(self.photo_size[0]), "height": int(self.photo_size[1])},
            "settings": dict(self.settings), "faces": [face.to_dict() for face in self.faces],
        }

    def latents_wplus(self) -> torch.Tensor:
        """Every face's latent as W+ ``[F, num_ws, w_dim]`` (W latents broadcast to all layers)."""
        rows = [f.latent.reshape(1, -1).repeat(self.num_ws, 1) if f.latent.ndim == 1 else f.latent for f in self.faces]
        return torch.stack(rows) if rows else torch.zeros(0, self.num_ws, self.w_dim)


def _identity_of(generator: Union[nn.Module, str]) -> str:
    if isinstance(generator, str):
        return generator
    from inversion.checkpoints import generator_identity
    return generator_identity(generator)


def save_latents(path: Union[str, Path], data: LatentsFile) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        torch.save(data.to_dict(), tmp)
    return path


def _read(path: Path) -> dict:
    from inversion.checkpoints.safe_load import load_tensors  # noqa: PLC0415

    if not path.is_file():
        raise LatentsFileError(f"latents file not found: {path}")
    data = load_tensors(path, "facelatent latents file", LatentsFileError)
    if not isinstance(data, dict) or data.get("format") != LATENTS_FORMAT:
        raise LatentsFileError(f"{path} is not a facelatent latents file (written by `facelatent invert`)")
    if int(data.get("version", 0)) > LATENTS_VERSION:
        raise LatentsFileError(f"{path} has latents format version {data['version']}; this facelatent reads "
                               f"up to {LATENTS_VERSION}: update facelatent")
    return data


def load_latents(path: Union[str, Path], generator: Union[nn.Module, str, None]) -> LatentsFile:
    """Read a latents file; refuse it with one line when it was made with another generator.

    ``generator``: the generator it will be used with (or its identity string); ``None`` skips the
    check (inspection only).
    """
    path = Path(path)
    data = _read(path)
    if generator is not None and _identity_of(generator) != data["generator"]:
        raise IncompatibleModelError(
            f"{path.name} was made with another generator (identity {data['generator'][:12]}…); "
            "invert the photo again with this generator, or pass the generator it was made with (-g)")
    try:
        faces = [FaceLatent.from_dict(face) for face in data["faces"]]
        photo = data["photo"]
        return LatentsFile(generator=data["generator"], num_ws=data["num_ws"], w_dim=data["w_dim"],
                           resolution=data["resolution"], space=data["space"], photo_path=photo["path"],
                           photo_size=(photo["width"], photo["height"]), faces=faces,
                           settings=dict(data.get("settings", {})))
    except (KeyError, TypeError) as err:
        raise LatentsFileError(f"{path} is an incomplete latents file (missing {err})") from err


def face_generator(G: nn.Module, face: FaceLatent) -> nn.Module:
    """The generator to render ``face`` with: ``G`` itself, or a PTI-tuned copy when it has a delta."""
    if not face.pti_delta:
        return G
    from inversion.projection.pti import apply_delta
    return apply_delta(G, face.pti_delta)


def export_projected_w(path: Union[str, Path], data: LatentsFile) -> Path:
    """Write the official projector's ``projected_w.npz``: key ``w``, float32 ``[F, num_ws, w_dim]``.

    One row per face in the file's order (the official projector writes ``[1, num_ws, w_dim]`` for
    its single image; its ``generate.py --projected-w`` renders every row). Atomic write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, w=data.latents_wplus().float().numpy())
    return path
