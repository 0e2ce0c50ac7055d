"""Masked projection and GAN inpainting: fit a latent to the known pixels only, render the rest.

The editor uses this to fill the parts of a face crop that the photo does not cover (outside the
photo's border after alignment, or uncovered background behind a moved head): the projector sees
only the pixels where ``known`` is 1 (LPIPS of the masked images plus a masked pixel term), and the
generator's rendering of the found latent fills the pixels where ``known`` is 0.

By default the noise maps are *not* optimised here (the generator's constant noise is used): in the
hole nothing constrains them, and optimised noise there would be unstructured.

Conventions: images NCHW float32 in [-1, 1] at the generator's resolution; masks ``[N or 1, 1, H, W]``
float in [0, 1], 1 = known pixel (counts in the loss, kept in the output), 0 = to be filled.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch
from torch import nn

from inversion.common.errors import FaceLatentError
from inversion.projection.projector import ProjectionResult, ProjectorConfig, Seeds, run_projection, synthesize, to_wplus


def masked_projector_config(**overrides) -> ProjectorConfig:
    """Defaults for masked projection: W+, const noise, LPIPS plus a unit-weight masked MSE."""
    base = ProjectorConfig(space="w+", num_steps=300, optimize_noise=False, pixel_weight=1.0)
    return replace(base, **overrides)


def project_masked(G: nn.Module, target: torch.Tensor, known: torch.Tensor, lpips: nn.Module,
                   config: Optional[ProjectorConfig] = None, *, seed: Seeds = 0, **kwargs) -> ProjectionResult:
    """Project ``target`` counting only the pixels where ``known`` is 1; see :func:`inversion.projection.projector.project`."""
    if not bool((known > 0).any()):
        raise FaceLatentError("the mask of known pixels is empty: there is nothing to project")
    config = config or masked_projector_config()
    return run_projection(G, target, lpips, config, seed=seed, mask=known, **kwargs)


@torch.no_grad()
def render_projection(G: nn.Module, result: ProjectionResult, synthesis: Optional[nn.Module] = None) -> torch.Tensor:
    """The generator's images ``[N, C, H, W]`` for a projection result (its latent and noise)."""
    return synthesize(G, to_wplus(result.latent, G.num_ws), result.noise, synthesis=synthesis)


def inpaint_with_generator(G: nn.Module, image: torch.Tensor, known: torch.Tensor, lpips: nn.Module,
                           config: Optional[ProjectorConfig] = None, *, seed: Seeds = 0, **kwargs):
    """Fill the pixels of ``image`` where ``known`` is 0 with the generator's reconstruction.

    Returns ``(filled, result)``: ``filled = known * image + (1 - known) * rendering`` (soft masks
    blend), and the :class:`ProjectionResult` of the masked projection.
    """
    result = project_masked(G, image, known, lpips, config, seed=seed, **kwargs)
    rendering = render_projection(G, result).to(image.dtype)
    known = known.to(image)
    return known * image + (1 - known) * rendering, result
