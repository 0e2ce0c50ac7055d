"""One face of a photo made editable: crop size, alignment, latent (from a latents-file record), reference.

Conventions: photo uint8 ``H x W x 3`` RGB; landmarks ``[68, 2]`` photo pixels (x right, y down);
``forward`` 3x3 float64 photo -> crop pixels of the ``crop_size`` crop (docs/CONVENTIONS.md).
Latents are W+ ``[num_ws, w_dim]`` float32; noise maps a dict from synthesis buffer name to
``[1, 1, H, W]``, always complete (the generator's own constant noise where none was fitted), so
every frame of a face is rendered with the same noise. Images between stages are float32 NCHW in
[-1, 1] at the generator's resolution ``R``; ``reference`` is the uint8 ``R x R x 3`` rendering of
the unedited latent (grey generators repeated over the channels).

The crop the face is composited with is aligned at ``crop_size`` = the face's size in the photo
(the alignment quad's side, clipped to [R, 1024]), so a high-resolution face keeps its detail;
the generator works on the same view at ``R`` pixels. The latent, noise and pivotal tuning come
from a latents-file record (:mod:`inversion.latents_file`): read from ``facelatent invert``'s file,
or made on the spot by :func:`inversion.photo_inversion.invert_photo`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torch import nn

from inversion.faces.alignment import align_face, face_quad
from inversion.common.errors import FaceLatentError
from inversion.common.images import tensor_to_images
from inversion.latents_file import face_generator

#: Faces whose detector box is smaller than this (longer side, photo pixels) stay still.
MAX_CROP_SIZE = 1024


@dataclass
class EditableFace:
    """One face on its way through the pipeline (see the module docstring for conventions).

    ``index`` is the face's index among the photo's detections (left to right), ``photo_crop`` the
    uint8 ``crop_size`` view the compositor moves. ``synthesis`` is a pivotally tuned synthesis
    network or None (the generator's own).
    """

    index: int
    box: tuple
    landmarks: np.ndarray
    variant: str
    crop_size: int
    forward: np.ndarray
    photo_crop: np.ndarray
    latent: Optional[torch.Tensor] = None
    noise: dict = field(default_factory=dict)
    synthesis: Optional[nn.Module] = None
    reference: Optional[np.ndarray] = None

    @property
    def width(self) -> float:
        """The face's width in photo pixels (jaw to jaw, landmarks 0 and 16)."""
        return float(np.linalg.norm(self.landmarks[16] - self.landmarks[0]))


def crop_size_for(landmarks68, variant: str, resolution: int, max_size: int = MAX_CROP_SIZE) -> int:
    """The compositing crop's side: the alignment quad's side in photo pixels, even, in [R, max_size]."""
    quad = face_quad(np.asarray(landmarks68, dtype=np.float64), variant)
    side = float(np.hypot(*(quad[3] - quad[0])))
    size = 2 * int(math.ceil(side / 2.0))
    return int(min(max(size, int(resolution)), int(max_size)))


def prepare_face(photo: np.ndarray, index: int, box, landmarks68, variant: str, resolution: int) -> EditableFace:
    """Align a face at its own size (for compositing; at least the generator's resolution)."""
    landmarks = np.asarray(landmarks68, dtype=np.float64)
    size = crop_size_for(landmarks, variant, resolution)
    big = align_face(photo, landmarks, size=size, variant=variant)
    return EditableFace(index=int(index), box=tuple(float(v) for v in box), landmarks=landmarks, variant=variant,
                        crop_size=size, forward=big.forward, photo_crop=big.image)


def full_noise(G: nn.Module, noise: Optional[dict]) -> dict:
    """Every noise buffer of ``G.synthesis`` as ``[1, 1, H, W]``: ``noise``'s map where given, else G's own."""
    noise = noise or {}
    out = {}
    for name, buf in G.synthesis.named_buffers():
        if not name.endswith("noise_const"):
            continue
        value = noise.get(name, buf)
        out[name] = value.detach().float().reshape(1, 1, *buf.shape[-2:]).to(buf.device)
    return out


@torch.no_grad()
def render_latents(G: nn.Module, ws: torch.Tensor, noise: dict, synthesis: Optional[nn.Module] = None) -> torch.Tensor:
    """Images ``[N, C, R, R]`` in about [-1, 1] of W+ ``ws`` ``[N, num_ws, w_dim]`` with one face's noise."""
    net = G.synthesis if synthesis is None else synthesis
    batch = {k: v.expand(ws.shape[0], -1, -1, -1) for k, v in noise.items()}
    return torch.func.functional_call(net, batch, (ws,), {"noise_mode": "const"}, strict=False)


def finish_faces(G: nn.Module, faces: list[EditableFace]) -> None:
    """Render each face's reference: its unedited latent with its noise (and its tuned synthesis)."""
    for face in faces:
        recon = render_latents(G, face.latent[None].to(G.mapping.w_avg.device), face.noise, face.synthesis)
        face.reference = tensor_to_images(recon.clamp(-1, 1))[0]


def faces_from_latents_file(photo: np.ndarray, G: nn.Module, data, resolution: int) -> list[EditableFace]:
    """Editable faces from a loaded latents file (``inversion.latents_file.LatentsFile``) of this photo.

    The file's landmarks, alignment variant, latent, noise and pivotal-tuning delta are used; the
    photo must have the size the file records.
    """
    width, height = (int(v) for v in data.photo_size)
    if (photo.shape[1], photo.shape[0]) != (width, height):
        raise FaceLatentError(f"the latents file was made from a {width}x{height} photo, this one is "
                              f"{photo.shape[1]}x{photo.shape[0]}: invert this photo again")
    faces = []
    for entry in data.faces:
        if entry.alignment not in ("ffhq", "tight") or entry.landmarks.shape[0] != 68:
            raise FaceLatentError(f"face {entry.index} of the latents file is not a detected face "
                                  f"(alignment {entry.alignment!r}): animate needs detected faces")
        face = prepare_face(photo, entry.index, entry.box, entry.landmarks.numpy(), entry.alignment, resolution)
        latent = entry.latent.float()
        face.latent = latent.reshape(1, -1).repeat(G.num_ws, 1) if latent.ndim == 1 else latent
        face.noise = full_noise(G, {k: v for k, v in entry.noise.items()})
        tuned = face_generator(G, entry)
        face.synthesis = None if tuned is G else tuned.synthesis
        faces.append(face)
    finish_faces(G, faces)
    return faces
