"""Where the latents of direction fitting and evaluation come from: labelled face images projected into the
generator, the generator's own samples labelled by a classifier, or files saved earlier.

``facelatent directions train`` takes exactly one source (:func:`check_one_source`):

- a dataset (:func:`dataset_faces` reads and balances it; :func:`make_projector_encode` builds the
  ``encode`` callable that projects its faces; :func:`labelled_latents_from_dataset` runs it);
- generator samples (:func:`labelled_latents_from_samples`);
- a labelled-latents file (:func:`labelled_latents_from_file`).

``facelatent directions eval`` edits the faces of given files (:func:`load_eval_latents`).

Conventions: faces are uint8 RGB ``[H, W, 3]``; a projection target is float32 ``[C, R, R]`` in [-1, 1]
(``C = G.img_channels``, ``R = G.img_resolution``, grey the mean of R, G and B); latents are float32
``[N, w_dim]`` (W) or ``[N, num_ws, w_dim]`` (W+) on the CPU; labels are indices into
:data:`directions.emotions.EMOTIONS`; a generator is named by its identity
(:func:`inversion.checkpoints.generator_identity`), and files made with another generator are refused.
``progress(done, total)`` callables report work as it goes (the CLI passes its progress bar's ``update``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import cv2
import numpy as np
import torch

from directions.datasets import LabelledImages, balanced_subset, read_labelled_images
from inversion.checkpoints.safe_load import load_tensors
from inversion.common.errors import FaceLatentError
from inversion.faces.detection import detect_faces
from inversion.latents_file import load_latents
from inversion.projection.lpips import LPIPS
from inversion.projection.projector import ProjectorConfig, estimate_w_stats, run_projection

if TYPE_CHECKING:
    from directions.labelled_latents import LabelledLatents

Progress = Optional[Callable[[int, int], None]]


def check_one_source(dataset, samples, latents_file) -> None:
    """Refuse anything but exactly one of a dataset path, a sample count or a labelled-latents file."""
    if sum(x is not None for x in (dataset, samples, latents_file)) != 1:
        raise FaceLatentError("give exactly one of --dataset PATH, --samples N or --latents FILE")


def face_to_target(face: np.ndarray, G, align: bool) -> Optional[torch.Tensor]:
    """uint8 RGB face [H, W, 3] -> float32 [C, R, R] in [-1, 1] at the generator's size (``pixel / 127.5 - 1``;
    grey generators get the mean of R, G and B); ``None`` when ``align`` and no face is found.

    With ``align`` the largest detected face is aligned (the generator's ``alignment`` config, FFHQ by
    default); otherwise the image is taken as a crop and resized (INTER_AREA down, INTER_CUBIC up).
    """
    from inversion.faces.alignment import align_face  # noqa: PLC0415 (scipy: ~1 s of start-up)

    if align:
        faces = detect_faces(face, min_face=8)
        if not faces:
            return None
        largest = max(faces, key=lambda f: f.size)
        face = align_face(face, largest.landmarks68, G.img_resolution, G.config.get("alignment", "ffhq")).image
    res = G.img_resolution
    if face.shape[:2] != (res, res):
        shrink = face.shape[0] > res
        face = cv2.resize(face, (res, res), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    x = torch.from_numpy(face.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)
    return x.mean(0, keepdim=True) if G.img_channels == 1 else x


def make_projector_encode(G, space: str, steps: int, seed: int, align: bool, lpips_net: str):
    """An ``encode(list of uint8 RGB faces) -> latents`` callable running the project's projector.

    Latents are float32 on the CPU, ``[B, w_dim]`` for ``space="w"``, ``[B, num_ws, w_dim]`` for W+; faces
    without a detected face (with ``align``) come back as NaN rows. Projection runs on the generator's
    device with ``steps`` steps and the ``lpips_net`` ("vgg" or "alex") LPIPS; the k-th call is seeded
    with ``seed + 100_000 * k``, so a dataset encodes the same way for the same seed and batch size.
    """

    device = G.mapping.w_avg.device
    lpips = LPIPS(lpips_net).to(device)
    config = ProjectorConfig(space=space, num_steps=steps)
    stats = estimate_w_stats(G, config.w_avg_samples)
    shape = (G.w_dim,) if space == "w" else (G.num_ws, G.w_dim)
    calls = [0]

    def encode(batch):
        targets = [face_to_target(face, G, align) for face in batch]
        found = [i for i, t in enumerate(targets) if t is not None]
        out = torch.full((len(batch), *shape), float("nan"))
        if found:
            stack = torch.stack([targets[i] for i in found]).to(device)
            result = run_projection(G, stack, lpips, config, seed=seed + 100_000 * calls[0], w_stats=stats)
            out[found] = result.latent.float().cpu()
        calls[0] += 1
        return out

    return encode


def dataset_faces(dataset: Path, split: Optional[str], emotions: Sequence[str], per_class: int,
                  seed: int) -> LabelledImages:
    """The labelled faces of ``dataset`` (see :func:`directions.datasets.read_labelled_images`; ``split``
    is a FER2013 Usage split) for ``emotions`` plus neutral, at most ``per_class`` of each, chosen with ``seed``."""
    images = read_labelled_images(dataset, split=split)
    return balanced_subset(images, [*emotions, "neutral"], per_class, seed)


def labelled_latents_from_dataset(images: LabelledImages, encode, *, batch_size: int, generator_identity: str,
                                  progress: Progress = None) -> "LabelledLatents":
    """Encode the faces of :func:`dataset_faces` with ``encode`` (e.g. :func:`make_projector_encode`),
    ``batch_size`` at a time; labels come from the dataset (confidence 1)."""
    from directions.labelled_latents import latents_from_images  # noqa: PLC0415 (scipy: ~1 s of start-up)

    return latents_from_images(images, images.labels, encode, batch_size=batch_size, source=images.description,
                               generator_identity=generator_identity, progress=progress)


def labelled_latents_from_samples(G, classify, samples: int, *, seed: int, truncation_psi: float, space: str,
                                  generator_identity: str, progress: Progress = None) -> "LabelledLatents":
    """``samples`` generator samples (z from ``seed``, truncation ``truncation_psi``) on the generator's
    device, labelled by ``classify`` (see :func:`directions.labelled_latents.latents_from_samples`)."""
    from directions.labelled_latents import latents_from_samples  # noqa: PLC0415 (scipy: ~1 s of start-up)

    return latents_from_samples(G, classify, samples, seed=seed, truncation_psi=truncation_psi, space=space,
                                device=G.mapping.w_avg.device, generator_identity=generator_identity,
                                progress=progress)


def labelled_latents_from_file(path: Path, generator_identity: str) -> "LabelledLatents":
    """A labelled-latents file saved earlier; refused (FaceLatentError) when it names another generator."""
    from directions.labelled_latents import load_labelled_latents  # noqa: PLC0415 (scipy: ~1 s of start-up)

    data = load_labelled_latents(path)
    if data.generator and data.generator != generator_identity:
        raise FaceLatentError(f"{path} was made with generator {data.generator[:12]}, not {generator_identity[:12]}")
    return data


def load_eval_latents(paths: list[Path], identity: str, num_ws: int) -> torch.Tensor:
    """Latents to edit from files: ``facelatent invert`` latents files (each face's W+ latent;
    PTI tuning is not applied) or labelled-latents files. Refused when made with another generator.

    Returns float32 ``[N, w_dim]`` when every file holds W latents, else ``[N, num_ws, w_dim]`` (W latents
    are repeated over the ``num_ws`` layers when files mix W and W+); FaceLatentError when the shapes
    disagree or the files hold no face.
    """

    rows = []
    for path in paths:
        try:
            kind = load_tensors(path, "latents file").get("format")
        except Exception:  # noqa: BLE001 - the loaders below give the one-line reason
            kind = None
        if kind == "facelatent-latents":
            rows.append(load_latents(path, identity).latents_wplus())
            continue
        rows.append(labelled_latents_from_file(path, identity).latents)
    if len({tuple(r.shape[1:]) for r in rows}) > 1:  # a mix of W and W+: broadcast W to every layer
        rows = [r[:, None].repeat(1, num_ws, 1) if r.ndim == 2 else r for r in rows]
    try:
        latents = torch.cat(rows)
    except RuntimeError:
        raise FaceLatentError("the --latents files hold latents of different shapes") from None
    if latents.shape[0] == 0:
        raise FaceLatentError("the --latents files hold no faces")
    return latents
