"""Labelled latents: latent codes of faces with their emotion labels, the input of direction fitting.

Two routes fill a :class:`LabelledLatents`, and neither knows how a face image becomes a latent:

- :func:`latents_from_images`: labelled face images (see :mod:`directions.datasets`) passed through
  an ``encode`` callable (alignment plus the encoder or projector of the inversion pipeline, built by
  the caller): ``encode(list of uint8 HxWx3 RGB images) -> latents [B, D] or [B, num_ws, w_dim]``.
  Labels come from the dataset (confidence 1).
- :func:`latents_from_samples`: the generator's own samples, z ~ N(0, I) from a seed, mapped to W,
  rendered, turned into the classifier's 48x48 grey input and labelled by a ``classify`` callable:
  ``classify(faces [B, 1, 48, 48] float32 in [-1, 1]) -> probabilities [B, 7]`` in
  :data:`directions.emotions.EMOTIONS` order. The label is the top class, its confidence the top
  probability.

Latents are float32 ``[N, w_dim]`` (W) or ``[N, num_ws, w_dim]`` (W+); labels are int64 indices into
EMOTIONS. Files (``.pt``, ``torch.load(weights_only=True)``) keep a labelled set so an expensive
inversion is done once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from directions.direction_file import atomic_torch_save
from directions.emotions import EMOTIONS
from directions.fitting import LatentShapeError, check_latents
from inversion.common.errors import FaceLatentError

Encode = Callable[[list], torch.Tensor]
Classify = Callable[[torch.Tensor], torch.Tensor]
Progress = Optional[Callable[[int, int], None]]
FORMAT = "facelatent-labelled-latents"
CLASSIFIER_SIDE = 48


@dataclass(frozen=True)
class LabelledLatents:
    """``latents`` float32 [N, D] or [N, num_ws, w_dim]; ``labels`` int64 [N] (EMOTIONS indices);
    ``confidences`` float32 [N] in [0, 1]; ``probs`` float32 [N, 7] or ``None``; ``source`` a
    description of where they came from; ``generator`` the generator identity (or "")."""

    latents: torch.Tensor
    labels: torch.Tensor
    confidences: torch.Tensor
    probs: Optional[torch.Tensor] = None
    source: str = ""
    generator: str = ""

    def __post_init__(self) -> None:
        check_latents(self.latents, self.labels)
        if self.confidences.shape != self.labels.shape:
            raise LatentShapeError(f"confidences must be [N] like the labels, got {tuple(self.confidences.shape)}")
        if self.labels.numel() and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(EMOTIONS)):
            raise LatentShapeError(f"labels must be EMOTIONS indices 0..{len(EMOTIONS) - 1}")
        if self.probs is not None and tuple(self.probs.shape) != (self.labels.shape[0], len(EMOTIONS)):
            raise LatentShapeError(f"probs must be [N, {len(EMOTIONS)}], got {tuple(self.probs.shape)}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> dict[str, int]:
        """How many samples carry each emotion label (EMOTIONS order, zeros included)."""
        counts = torch.bincount(self.labels, minlength=len(EMOTIONS))
        return {name: int(counts[i]) for i, name in enumerate(EMOTIONS)}

    def describe(self) -> str:
        """One line: source, size, shape and class counts."""
        counts = ", ".join(f"{k} {v}" for k, v in self.class_counts().items() if v)
        return f"{self.source}: {len(self)} latents {list(self.latents.shape[1:])} ({counts})"


def save_labelled_latents(data: LabelledLatents, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically (a dict of tensors and strings)."""
    path = Path(path)
    atomic_torch_save({"format": FORMAT, "latents": data.latents.float().contiguous(), "labels": data.labels,
                       "confidences": data.confidences.float(), "probs": data.probs, "source": data.source,
                       "generator": data.generator}, path)
    return path


def load_labelled_latents(path: str | os.PathLike) -> LabelledLatents:
    """Read a file written by :func:`save_labelled_latents`; one-line errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FaceLatentError(f"no such labelled-latents file: {path}")
    from inversion.checkpoints.safe_load import load_tensors  # noqa: PLC0415

    raw = load_tensors(path, "labelled-latents file")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise FaceLatentError(f"{path}: not a facelatent labelled-latents file")
    return LabelledLatents(latents=raw["latents"], labels=raw["labels"], confidences=raw["confidences"],
                           probs=raw.get("probs"), source=str(raw.get("source", "")),
                           generator=str(raw.get("generator", "")))


def to_classifier_input(images: torch.Tensor, side: int = CLASSIFIER_SIDE) -> torch.Tensor:
    """Renders ``[N, C, H, W]`` in [-1, 1] (RGB or grey) -> ``[N, 1, side, side]`` grey in [-1, 1].

    Grey is ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B, as OpenCV and PIL); resizing is
    antialiased bilinear (area-like when shrinking). Values are clamped to [-1, 1].
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise LatentShapeError(f"images must be [N, 1 or 3, H, W], got {tuple(images.shape)}")
    x = images.float().clamp(-1, 1)
    if x.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        x = (x * weights).sum(dim=1, keepdim=True)
    if x.shape[-2:] != (side, side):
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(-1, 1)


def _sample_batch(G, z: torch.Tensor, truncation_psi: float, space: str):
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=truncation_psi)
        img = G.synthesis(ws, noise_mode="const")
    return (ws[:, 0] if space == "w" else ws), img


def latents_from_samples(
    G,
    classify: Classify,
    num: int,
    *,
    seed: int = 0,
    batch_size: int = 16,
    truncation_psi: float = 0.7,
    space: str = "w",
    device: torch.device | str = "cpu",
    generator_identity: str = "",
    progress: Progress = None,
) -> LabelledLatents:
    """Sample ``num`` faces of ``G`` (z from ``seed``), label them with ``classify``.

    Per batch: ``z`` [B, z_dim] standard normal drawn from one ``torch.Generator`` seeded with
    ``seed`` (on the CPU, so any device gives the same z), ``ws = G.mapping(z, truncation_psi)``,
    ``img = G.synthesis(ws, noise_mode="const")``, ``probs = classify(to_classifier_input(img))``.
    Latents are ``ws[:, 0]`` [N, w_dim] for ``space="w"`` (all layers are equal after mapping) or
    ``ws`` [N, num_ws, w_dim] for ``space="w+"``. ``progress(done, total)`` is called per batch.
    """
    if num < 1 or batch_size < 1:
        raise FaceLatentError(f"need at least one sample and a batch size >= 1, got {num} and {batch_size}")
    gen = torch.Generator().manual_seed(int(seed))
    latents, probs = [], []
    for start in range(0, num, batch_size):
        count = min(batch_size, num - start)
        z = torch.randn(count, G.z_dim, generator=gen).to(device)
        ws, img = _sample_batch(G, z, truncation_psi, space)
        with torch.no_grad():
            p = classify(to_classifier_input(img))
        latents.append(ws.float().cpu())
        probs.append(_check_probs(p, count).cpu())
        if progress is not None:
            progress(start + count, num)
    probs_all = torch.cat(probs)
    conf, labels = probs_all.max(dim=1)
    source = f"{num} generator samples (seed {seed}, truncation {truncation_psi:g}) labelled by the classifier"
    return LabelledLatents(latents=torch.cat(latents), labels=labels.long(), confidences=conf, probs=probs_all,
                           source=source, generator=generator_identity)


def _check_probs(p: torch.Tensor, count: int) -> torch.Tensor:
    p = torch.as_tensor(p).float()
    if tuple(p.shape) != (count, len(EMOTIONS)):
        raise LatentShapeError(f"the classifier returned {tuple(p.shape)}, expected [{count}, {len(EMOTIONS)}]")
    return p


def latents_from_images(
    images: Sequence,
    labels: Sequence[int] | np.ndarray,
    encode: Encode,
    *,
    batch_size: int = 8,
    source: str = "labelled images",
    generator_identity: str = "",
    progress: Progress = None,
) -> LabelledLatents:
    """Encode labelled face images: ``images[i]`` is a uint8 HxWx3 RGB array (or any sequence that
    yields them, e.g. a lazily loading dataset), ``labels[i]`` its EMOTIONS index.

    ``encode`` gets lists of up to ``batch_size`` images and returns their latents; an image it
    cannot encode (no face found) may be signalled by a row of NaN, which drops that image.
    """
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(images) != labels.shape[0] or len(images) == 0:
        raise FaceLatentError(f"need one label per image and at least one image, got {len(images)} and {labels.shape[0]}")
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = [images[i] for i in range(start, min(start + batch_size, len(images)))]
        out = torch.as_tensor(encode(batch)).float().cpu()
        if out.ndim not in (2, 3) or out.shape[0] != len(batch):
            raise LatentShapeError(f"encode returned {tuple(out.shape)} for {len(batch)} images")
        chunks.append(out)
        if progress is not None:
            progress(start + len(batch), len(images))
    latents = torch.cat(chunks)
    keep = torch.isfinite(latents.reshape(latents.shape[0], -1)).all(dim=1)
    if not keep.any():
        raise FaceLatentError(f"{source}: no image could be encoded")
    dropped = int((~keep).sum())
    note = f" ({dropped} could not be encoded)" if dropped else ""
    return LabelledLatents(latents=latents[keep], labels=labels[keep], confidences=torch.ones(int(keep.sum())),
                           source=f"{source}{note}", generator=generator_identity)
