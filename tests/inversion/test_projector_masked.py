"""Masked projection (GAN inpainting): only known pixels count, and the hole is filled better than a blur."""

from __future__ import annotations


import cv2
import numpy as np
import pytest
import torch

from inversion.common.errors import FaceLatentError
from inversion.projection.masked_projection import inpaint_with_generator, masked_projector_config, project_masked
from inversion.projection.projector import estimate_w_stats


def _generated(G, seed, psi=0.5):
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G.synthesis(G.mapping(z, None, truncation_psi=psi), noise_mode="const")


def _blur_fills(image, known, sigma=4.0):
    """Classical fills of the hole, per channel in float: OpenCV's Telea inpainting, a normalised Gaussian fill."""
    keep = known[0, 0].numpy().astype(np.float32)
    telea, gauss = [], []
    for channel in image[0].numpy().astype(np.float32):
        telea.append(cv2.inpaint(channel, (1 - keep).astype(np.uint8), 5, cv2.INPAINT_TELEA))
        blurred = cv2.GaussianBlur(channel * keep, (0, 0), sigma)
        weight = cv2.GaussianBlur(keep, (0, 0), sigma)
        gauss.append(channel * keep + blurred / np.maximum(weight, 1e-6) * (1 - keep))
    return torch.from_numpy(np.stack(telea))[None], torch.from_numpy(np.stack(gauss))[None]


def test_masked_projection_fills_a_border_band_better_than_blur(G, alex):
    # The editor's case: a crop reaching past the photo's border, here the right quarter is unknown.
    image = _generated(G, 21)
    known = torch.ones(1, 1, G.img_resolution, G.img_resolution)
    known[..., 48:] = 0
    # The hole's contents must not leak in: scramble them before projecting.
    scrambled = image * known + torch.rand(image.shape, generator=torch.Generator().manual_seed(0)) * (1 - known)
    config = masked_projector_config(num_steps=50)
    filled, result = inpaint_with_generator(G, scrambled, known, alex, config, seed=0,
                                            w_stats=estimate_w_stats(G, 2000))
    assert torch.equal(filled * known, scrambled * known)
    hole = (known == 0).expand_as(image)

    def hole_mse(candidate):
        return float((candidate - image)[hole].square().mean())

    telea, gauss = _blur_fills(scrambled, known)
    ours = hole_mse(filled)
    assert ours < 0.8 * hole_mse(telea) and ours < 0.8 * hole_mse(gauss), (ours, hole_mse(telea), hole_mse(gauss))
    assert result.lpips_history[-5:].mean() < 0.5 * result.lpips_history[:5].mean()


def test_pixels_outside_the_mask_do_not_count(G, alex):
    image = _generated(G, 5)
    known = torch.ones(1, 1, G.img_resolution, G.img_resolution)
    known[..., :32, :32] = 0
    other = image.clone()
    other[known.expand_as(image) == 0] = -image[known.expand_as(image) == 0]
    config = masked_projector_config(num_steps=3)
    stats = estimate_w_stats(G, 500)
    first = project_masked(G, image, known, alex, config, w_stats=stats)
    second = project_masked(G, other, known, alex, config, w_stats=stats)
    assert torch.allclose(first.loss_history, second.loss_history, atol=1e-6)
    assert torch.allclose(first.latent, second.latent, atol=1e-6)


def test_empty_or_misshapen_masks_are_refused(G, alex):
    image = _generated(G, 1)
    with pytest.raises(FaceLatentError, match="empty"):
        project_masked(G, image, torch.zeros(1, 1, 64, 64), alex)
    with pytest.raises(FaceLatentError, match="mask of shape"):
        project_masked(G, image, torch.ones(1, 3, 64, 64), alex)
