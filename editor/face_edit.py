"""One face of a photo made editable: crop size, alignment, latent (inversion or a latents file), reference.

Conventions: photo uint8 ``H x W x 3`` RGB; landmarks ``[68, 2]`` photo pixels (x right, y down);
``forward`` 3x3 float64 photo -> crop pixels of the ``crop_size`` crop (docs/CONVENTIONS.md).
Latents are W+ ``[num_ws, w_dim]`` float32; noise maps a dict from synthesis buffer name to
``[1, 1, H, W]``, always complete (the generator's own constant noise where none was fitted), so
every frame of a face is rendered with the same noise. Images between stages are float32 NCHW in
[-1, 1] at the generator's resolution ``R``; ``reference`` is the uint8 ``R x R x 3`` rendering of
the unedited latent (grey generators repeated over the channels).

The crop the face is composited with is aligned at ``crop_size`` = the face's size in the photo
(the alignment quad's side, clipped to [R, 1024]), so a high-resolution face keeps its detail;
the generator works on the same view at ``R`` pixels. Inversion runs an optional encoder (image
-> W+) and then a few projector steps; crop pixels that fall outside the photo are left out of
the loss (masked projection), so the generator paints them instead of the alignment's padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from editor.composite import tensors_to_images
from inversion.faces.alignment import align_face, face_quad
from inversion.common.errors import FaceLatentError

#: Faces whose detector box is smaller than this (longer side, photo pixels) stay still.
MIN_ANIMATED_FACE = 28
MAX_CROP_SIZE = 1024


@dataclass
class EditableFace:
    """One face on its way through the pipeline (see the module docstring for conventions).

    ``index`` is the face's index among the photo's detections (left to right), ``target`` the
    uint8 ``R x R x 3`` aligned view the generator inverts, ``known`` float32 ``[R, R]`` (1 where
    that view lies inside the photo), ``photo_crop`` the uint8 ``crop_size`` view the compositor
    moves. ``synthesis`` is a pivotally tuned synthesis network or None (the generator's own).
    """

    index: int
    box: tuple
    landmarks: np.ndarray
    variant: str
    crop_size: int
    forward: np.ndarray
    photo_crop: np.ndarray
    target: np.ndarray
    known: np.ndarray
    latent: Optional[torch.Tensor] = None
    noise: dict = field(default_factory=dict)
    synthesis: Optional[nn.Module] = None
    reference: Optional[np.ndarray] = None
    lpips: Optional[float] = None

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


def prepare_face(photo: np.ndarray, index: int, box, landmarks68, variant: str, resolution: int) -> EditableFace:
    """Align a face at the generator's resolution (for inversion) and at its own size (for compositing)."""
    landmarks = np.asarray(landmarks68, dtype=np.float64)
    size = crop_size_for(landmarks, variant, resolution)
    big = align_face(photo, landmarks, size=size, variant=variant)
    small = align_face(photo, landmarks, size=int(resolution), variant=variant)
    return EditableFace(index=int(index), box=tuple(float(v) for v in box), landmarks=landmarks, variant=variant,
                        crop_size=size, forward=big.forward, photo_crop=big.image, target=small.image,
                        known=known_pixels(photo.shape, small.forward, int(resolution)))


def images_to_tensor(images: Sequence[np.ndarray], channels: int) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` RGB images -> float32 ``[N, channels, H, W]`` in [-1, 1] (grey: BT.601 luma)."""
    x = torch.from_numpy(np.stack([np.ascontiguousarray(i) for i in images])).float().permute(0, 3, 1, 2) / 127.5 - 1
    if channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    return x


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


def _encoder_init(encoder: Optional[Callable], targets: torch.Tensor, G: nn.Module) -> Optional[torch.Tensor]:
    if encoder is None:
        return None
    with torch.no_grad():
        init = encoder(targets)
    if init.ndim == 2:
        init = init.unsqueeze(1).repeat(1, G.num_ws, 1)
    if tuple(init.shape) != (targets.shape[0], G.num_ws, G.w_dim):
        raise FaceLatentError(f"the encoder gave latents of shape {list(init.shape)}; the generator needs "
                              f"[N, {G.num_ws}, {G.w_dim}]")
    return init.float()


def invert_faces(G: nn.Module, faces: list[EditableFace], lpips: Optional[nn.Module], steps: int, *,
                 encoder: Optional[Callable] = None, seed: int = 0, progress: Optional[Callable] = None) -> None:
    """Give every face a W+ latent, its noise and its reference rendering (in place).

    Start from the encoder's W+ (or the generator's average W) and run ``steps`` projector steps
    (LPIPS, all faces in one batch, W+; noise maps optimised; face ``i`` seeded with
    ``seed + i`` for its index ``i``, so a face's latent does not depend on the run's seed or on
    which other faces are animated). ``steps = 0`` keeps the starting latent and G's own noise.
    ``progress`` is called once per step.
    """
    from inversion.projection.projector import ProjectorConfig, estimate_w_stats, run_projection  # noqa: PLC0415

    if not faces:
        return
    device = G.mapping.w_avg.device
    targets = images_to_tensor([f.target for f in faces], G.img_channels).to(device)
    init = _encoder_init(encoder, targets, G)
    noise_batch: Optional[dict] = None
    if steps > 0:
        if lpips is None:
            raise ValueError("projection steps need an LPIPS module")
        known = torch.from_numpy(np.stack([f.known for f in faces]))[:, None].to(device)
        mask = None if bool((known > 0.5).all()) else known
        result = run_projection(G, targets, lpips, ProjectorConfig(space="w+", num_steps=steps),
                                seed=[seed + f.index for f in faces], init=init, mask=mask,
                                w_stats=estimate_w_stats(G, 2000), progress=progress)
        latents, noise_batch = result.latent.reshape(len(faces), G.num_ws, G.w_dim), result.noise
    elif init is not None:
        latents = init
    else:
        latents = G.mapping.w_avg.float().reshape(1, 1, -1).repeat(len(faces), G.num_ws, 1)
    for k, face in enumerate(faces):
        face.latent = latents[k].detach().clone()
        face.noise = full_noise(G, {n: v[k] for n, v in (noise_batch or {}).items()})
    finish_faces(G, faces, lpips, targets)


def finish_faces(G: nn.Module, faces: list[EditableFace], lpips: Optional[nn.Module],
                 targets: Optional[torch.Tensor] = None) -> None:
    """Render each face's reference (its unedited latent) and, with ``lpips``, its distance to the target."""
    from inversion.projection.projector import lpips_distance  # noqa: PLC0415

    for k, face in enumerate(faces):
        recon = render_latents(G, face.latent[None].to(G.mapping.w_avg.device), face.noise, face.synthesis)
        face.reference = tensors_to_images(recon.clamp(-1, 1))[0]
        if lpips is not None and targets is not None:
            with torch.no_grad():
                face.lpips = float(lpips_distance(lpips, recon, targets[k:k + 1]))


def faces_from_latents_file(photo: np.ndarray, G: nn.Module, data, resolution: int) -> list[EditableFace]:
    """Editable faces from a loaded latents file (``inversion.latents_file.LatentsFile``) of this photo.

    The file's landmarks, alignment variant, latent, noise and pivotal-tuning delta are used; the
    photo must have the size the file records.
    """
    from inversion.latents_file import face_generator  # noqa: PLC0415

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
    finish_faces(G, faces, None)
    return faces


def too_small(box, min_size: float = MIN_ANIMATED_FACE) -> bool:
    """True when a detector box (x0, y0, x1, y1) is too small to animate (longer side < ``min_size`` px)."""
    return max(box[2] - box[0], box[3] - box[1]) < min_size

