"""Images from a generator as the official StyleGAN2-ADA ``generate.py`` makes them: seeds to z, class
labels, batched synthesis, and the official rounding to uint8.

Conventions:

* z is float32 ``[N, z_dim]``, one row per seed, drawn as the official script draws it:
  ``np.random.RandomState(seed).randn(1, z_dim)`` (so a seed picks the same image there and here);
* w latents are float32 ``[N, num_ws, w_dim]`` (W+; broadcast a W ``[N, w_dim]`` first);
* images are float32 ``[N, C, H, W]`` in about [-1, 1] (C = ``G.img_channels``, H = W =
  ``G.img_resolution``), on the CPU;
* :func:`official_uint8` rounds as the official script does, ``x * 127.5 + 128`` clamped to 0..255 and
  truncated: not :func:`inversion.common.images.tensor_to_images` (``round((x + 1) * 127.5)``), so that
  ``facelatent generate`` writes the official script's pixels.

This is not the projector's :func:`inversion.projection.projector.synthesize` (W+ and a noise dict, with
gradients): :func:`synthesize_images` maps z (with truncation) or takes w, in batches, without gradients.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from inversion.common.errors import FaceLatentError

#: ``noise_mode`` values of :func:`synthesize_images` (those of the official synthesis network).
NOISE_MODES = ("const", "random", "none")


def z_from_seeds(seeds: list[int], z_dim: int) -> np.ndarray:
    """z [N, z_dim] float32, one row per seed, exactly as the official generate.py draws it.

    >>> z_from_seeds([0, 42], 4).shape
    (2, 4)
    """
    return np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in seeds]).astype(np.float32)


def class_label(G, class_idx: Optional[int]) -> Optional[torch.Tensor]:
    """The one-hot label [1, c_dim] float32 for conditional generators (``G.c_dim > 0``); None for
    unconditional ones. A class for an unconditional generator, or a missing or out-of-range one for a
    conditional generator, raises :class:`FaceLatentError` (its message names ``--class``)."""
    if G.c_dim == 0:
        if class_idx is not None:
            raise FaceLatentError("--class is only for conditional generators; this one has no classes")
        return None
    if class_idx is None or not 0 <= class_idx < G.c_dim:
        raise FaceLatentError(f"this generator is conditional: pass --class between 0 and {G.c_dim - 1}")
    label = torch.zeros([1, G.c_dim])
    label[0, class_idx] = 1
    return label


@torch.no_grad()
def synthesize_images(G, latents: np.ndarray, space: str, truncation: float, noise_mode: str, seed: int,
                      device: torch.device, batch_size: int = 8,
                      label: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Images [N, C, H, W] float32 in about [-1, 1] on the CPU, from z (``space="z"``, float32 [N, z_dim],
    mapped with ``truncation`` psi) or ws (``space="w"``, float32 [N, num_ws, w_dim], used as given).

    ``noise_mode`` is one of :data:`NOISE_MODES`; with ``"random"`` the noise comes from one
    ``torch.Generator`` on ``device`` seeded with ``seed`` and drawn batch after batch (so the images depend
    on ``batch_size``). ``label`` [1, c_dim] is the class of a conditional generator (used with z only).
    """
    noise_gen = torch.Generator(device=device).manual_seed(seed) if noise_mode == "random" else None
    out = []
    for start in range(0, len(latents), batch_size):
        chunk = torch.from_numpy(latents[start:start + batch_size]).to(device)
        c = label.to(device).expand(len(chunk), -1) if label is not None else None
        ws = G.mapping(chunk, c, truncation_psi=truncation) if space == "z" else chunk
        out.append(G.synthesis(ws, noise_mode=noise_mode, generator=noise_gen).float().cpu())
    return torch.cat(out)


def official_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> uint8 [N, H, W, C] (C kept: 1 or 3), as the official generate.py rounds it:
    ``x * 127.5 + 128``, clamped to 0..255, truncated toward zero.

    >>> official_uint8(torch.tensor([-1.0, -0.5, 0.0, 1.0]).reshape(1, 1, 1, 4))[0, 0, :, 0].tolist()
    [0, 64, 128, 255]
    """
    return (images.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()
