"""From a photo to its latents-file record: detect, align, invert, optionally tune, score.

The one inversion of the project: ``facelatent invert`` saves the :class:`~inversion.latents_file.LatentsFile`
that :func:`invert_photo` returns, and ``facelatent animate`` builds its editable faces from the
record :func:`invert_photo` returns exactly as from a latents file read back (the latents file is
the contract between the two).

Steps: the faces (detected left to right, or the whole photo as one aligned crop) are aligned with
the generator's ``config["alignment"]`` variant at its resolution ``R`` → the projection starts from
the encoder's latents (W+, or their mean over layers for W) or ``w_avg`` → ``settings.steps``
projector steps, all faces in one batch, face ``i`` seeded with ``seed + i`` (``i`` its index among
the photo's faces, so a face gets the same latent whatever other faces are inverted) → optional
pivotal tuning per face → scores (LPIPS against the aligned view, PSNR, seconds).

Conventions: photo uint8 ``H x W x 3`` RGB; boxes ``[x0, y0, x1, y1]`` and landmarks ``[68, 2]`` in
photo pixels (x right, y down); ``forward`` 3x3 float64 photo pixel -> crop pixel; images between
stages float32 NCHW in [-1, 1] (grey generators: ITU-R 601 luma).

Example (the embedded default generator, an already aligned crop, no projector steps)::

    >>> import numpy as np
    >>> from inversion.checkpoints import load_generator
    >>> G = load_generator(None, "cpu")
    >>> crop = np.full((G.img_resolution, G.img_resolution, 3), 128, np.uint8)
    >>> faces = faces_to_invert(crop, G, aligned=True)
    >>> record, images = invert_photo(crop, G, faces, None, InversionSettings(steps=0))
    >>> [f.index for f in record.faces], record.faces[0].alignment, tuple(record.faces[0].latent.shape)
    ([0], 'none', (10, 128))
    >>> images.reconstructions[0].shape
    (64, 64, 3)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from inversion.faces.alignment import align_face
from inversion.checkpoints import generator_identity
from inversion.common.errors import FaceLatentError
from inversion.common.images import images_to_tensor, tensor_to_images
from inversion.faces.detection import chosen_indices, detect_faces
from inversion.latents_file import FaceLatent, LatentsFile
from inversion.projection.projector import (
    ProjectorConfig, estimate_w_stats, lpips_distance, psnr, run_projection, synthesize, to_wplus,
)
from inversion.projection.pti import PTIConfig, pivotal_tuning

#: ``progress(description, step)``: called once per projector step and per pivotal tuning step.
Progress = Callable[[str, object], None]


@dataclass
class FaceToInvert:
    """One face of a photo aligned for the generator (see the module docstring for conventions).

    ``index`` is the face's index among the photo's detections (left to right; 0 for a whole-photo
    crop), ``landmarks`` ``[68, 2]`` (``[0, 2]`` for a whole-photo crop), ``image`` the uint8
    ``R x R x 3`` aligned view, ``known`` float32 ``[R, R]`` (1 where that view lies inside the
    photo) when the projection should leave the outside out of its loss, else None.
    """

    index: int
    box: list
    landmarks: np.ndarray
    alignment: str
    forward: np.ndarray
    image: np.ndarray
    known: Optional[np.ndarray] = None


@dataclass
class InversionSettings:
    """How to invert: latent space ("w" or "w+"), projector and pivotal tuning steps, seed, masking.

    ``mask_outside``: crop pixels outside the photo are left out of the loss (the generator paints
    them instead of the alignment's padding). ``w_stats_samples``: mapped samples for W's mean and spread.
    """

    space: str = "w+"
    steps: int = 100
    pti_steps: int = 0
    seed: int = 0
    mask_outside: bool = False
    w_stats_samples: int = 10000


@dataclass
class InversionImages:
    """Per inverted face (in order): the uint8 aligned view it was fitted to and its reconstruction."""

    targets: list = field(default_factory=list)
    reconstructions: list = field(default_factory=list)


def known_pixels(photo_hw, forward, size: int) -> np.ndarray:
    """float32 ``[size, size]``: 1 where crop pixel lies inside the photo, 0 outside (a hard mask).

    ``forward`` is the photo -> crop matrix of this ``size``; a crop pixel counts as inside when
    its centre maps to a point at least half a pixel inside the photo's border.
    """
    h, w = int(photo_hw[0]), int(photo_hw[1])
    inverse = np.linalg.inv(np.asarray(forward, dtype=np.float64))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    px = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    py = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    inside = (px >= -0.5) & (px <= w - 0.5) & (py >= -0.5) & (py <= h - 0.5)
    return inside.astype(np.float32)


def whole_photo_face(photo: np.ndarray, size: int) -> FaceToInvert:
    """The whole photo as one already aligned crop: resized to ``size``; alignment "none", forward the resize."""
    h, w = photo.shape[:2]
    sx, sy = size / w, size / h
    crop = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_CUBIC)
    forward = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)
    return FaceToInvert(index=0, box=[0.0, 0.0, float(w), float(h)], landmarks=np.zeros((0, 2), np.float32),
                        alignment="none", forward=forward, image=crop)


def align_detections(photo: np.ndarray, detections: Sequence, indices: Sequence[int], variant: str, size: int,
                     mask_outside: bool = False) -> list[FaceToInvert]:
    """Align the chosen detections (``inversion.faces.detection.Face``) at ``size``; ``known`` set with ``mask_outside``."""
    faces = []
    for i in indices:
        aligned = align_face(photo, detections[i].landmarks68, size=size, variant=variant)
        faces.append(FaceToInvert(index=int(i), box=[float(v) for v in detections[i].box],
                                  landmarks=np.asarray(detections[i].landmarks68), alignment=variant,
                                  forward=aligned.forward, image=aligned.image,
                                  known=known_pixels(photo.shape, aligned.forward, size) if mask_outside else None))
    return faces


def encoder_start(encoder: Optional[Callable], targets: torch.Tensor, G: nn.Module, space: str) -> Optional[torch.Tensor]:
    """The encoder's latents for ``targets``: W ``[N, w_dim]`` (its ``encode_w``) for ``space == "w"``,
    else W+ ``[N, num_ws, w_dim]`` (a W answer broadcast over layers); None without an encoder."""
    if encoder is None:
        return None
    with torch.no_grad():
        if space == "w":
            return encoder.encode_w(targets)
        init = encoder(targets)
    if init.ndim == 2:
        init = init.unsqueeze(1).repeat(1, G.num_ws, 1)
    if tuple(init.shape) != (targets.shape[0], G.num_ws, G.w_dim):
        raise FaceLatentError(f"the encoder gave latents of shape {list(init.shape)}; the generator needs "
                              f"[N, {G.num_ws}, {G.w_dim}]")
    return init.float()


def _project(G, faces, targets, lpips, settings, encoder, progress):
    """(latents ``[F, ...]``, noise batch or None, W spread or None, seconds) of the batch projection."""
    start = time.perf_counter()
    init = encoder_start(encoder, targets, G, settings.space)
    if settings.steps <= 0:
        if init is None:
            init = G.mapping.w_avg.float().reshape(1, 1, -1).repeat(len(faces), G.num_ws, 1)
        return init, None, None, time.perf_counter() - start
    if lpips is None:
        raise ValueError("projection steps need an LPIPS module")
    mask = None
    if settings.mask_outside:
        known = torch.from_numpy(np.stack([f.known for f in faces]))[:, None].to(targets.device)
        mask = None if bool((known > 0.5).all()) else known
    w_stats = estimate_w_stats(G, settings.w_stats_samples)
    description = f"projecting {len(faces)} face(s) into {settings.space.upper()}"
    result = run_projection(G, targets, lpips, ProjectorConfig(space=settings.space, num_steps=settings.steps),
                            seed=[settings.seed + f.index for f in faces], w_stats=w_stats, init=init, mask=mask,
                            progress=lambda step: progress(description, step))
    return result.latent, result.noise, w_stats[1], time.perf_counter() - start


def invert_faces(G: nn.Module, faces: Sequence[FaceToInvert], lpips: Optional[nn.Module], settings: InversionSettings,
                 *, encoder: Optional[Callable] = None,
                 progress: Optional[Progress] = None) -> tuple[list[FaceLatent], InversionImages]:
    """Project (and with ``settings.pti_steps`` tune) aligned faces; one record per face, in order.

    ``steps == 0`` keeps the starting latent (the encoder's, else ``w_avg``) and the generator's own
    noise. Scores: ``lpips`` (when an LPIPS module is given), ``psnr`` and ``seconds`` (the batch's
    projection time shared out, plus the face's own tuning).
    """
    progress = progress or (lambda description, step: None)
    if not faces:
        return [], InversionImages()
    device = G.mapping.w_avg.device
    targets = images_to_tensor([f.image for f in faces], G.img_channels).to(device)
    latents, noise_batch, w_std, seconds = _project(G, faces, targets, lpips, settings, encoder, progress)
    records, images = [], InversionImages()
    for k, face in enumerate(faces):
        latent, noise = latents[k:k + 1], {n: v[k:k + 1] for n, v in (noise_batch or {}).items()}
        tuned, delta, start = None, None, time.perf_counter()
        if settings.pti_steps > 0:
            description = f"pivotal tuning of face {face.index}"
            tuning = pivotal_tuning(G, targets[k:k + 1], latent, lpips, PTIConfig(num_steps=settings.pti_steps),
                                    noise=noise, seed=settings.seed + face.index, w_std=w_std,
                                    progress=lambda step: progress(description, step))
            tuned, delta = tuning.synthesis, tuning.delta
        with torch.no_grad():
            recon = synthesize(G, to_wplus(latent, G.num_ws), noise, synthesis=tuned)
            metrics = {} if lpips is None else {"lpips": float(lpips_distance(lpips, recon, targets[k:k + 1]))}
            metrics.update(psnr=float(psnr(recon, targets[k:k + 1])),
                           seconds=seconds / len(faces) + time.perf_counter() - start)
        images.targets.append(tensor_to_images(targets[k:k + 1])[0])
        images.reconstructions.append(tensor_to_images(recon[:1])[0])
        records.append(FaceLatent(index=face.index, box=face.box, landmarks=torch.from_numpy(face.landmarks),
                                  alignment=face.alignment, forward=torch.from_numpy(face.forward),
                                  crop_size=G.img_resolution, latent=latent[0], noise=noise, pti_delta=delta,
                                  metrics=metrics))
    return records, images


def faces_to_invert(photo: np.ndarray, G: nn.Module, *, aligned: bool = False,
                    wanted: Optional[Sequence[int]] = None) -> list[FaceToInvert]:
    """The faces of ``photo`` aligned for ``G``: the whole photo as one crop (``aligned``), else its
    detected faces (left to right; ``wanted`` indices, None: all) aligned with ``G``'s variant."""
    size = G.img_resolution
    if aligned:
        return [whole_photo_face(photo, size)]
    found = detect_faces(photo)
    if not found:
        raise FaceLatentError("no face found in the photo; if it is already an aligned face crop, use --aligned")
    return align_detections(photo, found, chosen_indices(wanted, len(found)), G.config.get("alignment", "ffhq"), size)


def invert_photo(photo: np.ndarray, G: nn.Module, faces: Sequence[FaceToInvert], lpips: Optional[nn.Module],
                 settings: InversionSettings, *, photo_path: str = "", encoder: Optional[Callable] = None,
                 lpips_name: Optional[str] = None,
                 progress: Optional[Progress] = None) -> tuple[LatentsFile, InversionImages]:
    """A photo's faces (:func:`faces_to_invert`) -> its latents-file record and the images per face.

    The record holds each face's box, landmarks, alignment, latent, noise, pivotal tuning delta and
    scores (:func:`invert_faces`); its settings say how (``lpips_name``: the loss's backbone;
    ``aligned_input``: the photo was one aligned crop).
    """
    records, images = invert_faces(G, faces, lpips, settings, encoder=encoder, progress=progress)
    record = LatentsFile(generator=generator_identity(G), num_ws=G.num_ws, w_dim=G.w_dim, resolution=G.img_resolution,
                         space=settings.space, photo_path=str(photo_path), photo_size=(photo.shape[1], photo.shape[0]),
                         faces=records, settings={"steps": settings.steps, "pti_steps": settings.pti_steps,
                                                  "seed": settings.seed, "lpips": lpips_name,
                                                  "aligned_input": any(f.alignment == "none" for f in faces),
                                                  "start": "encoder" if encoder is not None else "w_avg"})
    return record, images
