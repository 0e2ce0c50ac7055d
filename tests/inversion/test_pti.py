"""Pivotal tuning on the 64 px fixture generator: better fit, small float16 delta, G never mutated."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from inversion.common.errors import FaceLatentError, IncompatibleModelError
from inversion.projection.projector import estimate_w_stats, lpips_distance, pixel_distance, synthesize, to_wplus
from inversion.projection.pti import (
    PTIConfig, apply_delta, locality_latents, locality_radius, pivotal_tuning, pivotal_tuning_steps,
    tuned_synthesis_copy,
)


@pytest.fixture
def photo(shared):
    """A real 64 x 64 photo (the LPIPS example) as [1, 3, 64, 64] in [-1, 1]."""
    rgb = np.asarray(Image.open(shared("fixtures", "lpips", "ex_ref.png")).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None] / 127.5 - 1


def _pivot(G, seed=3):
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G.mapping(z, None, truncation_psi=0.5)


def test_pti_fits_better_and_never_touches_the_shared_generator(G, alex, photo):
    from inversion.checkpoints import generator_identity
    identity = generator_identity(G)
    pivot = _pivot(G)
    result = pivotal_tuning(G, photo, pivot, alex, PTIConfig(num_steps=12, learning_rate=1e-3), seed=0)
    assert generator_identity(G) == identity
    assert result.loss_history.shape == (12,) and result.loss_history[-1] < 0.8 * result.loss_history[0]
    with torch.no_grad():
        before = G.synthesis(pivot, noise_mode="const")
        after = synthesize(G, pivot, None, synthesis=result.synthesis)
        assert pixel_distance(after, photo) < 0.8 * pixel_distance(before, photo)
        assert lpips_distance(alex, after, photo) < lpips_distance(alex, before, photo)


def test_delta_is_small_float16_and_reproduces_the_tuned_network(G, alex, photo):
    pivot = _pivot(G)
    result = pivotal_tuning(G, photo, pivot, alex, PTIConfig(num_steps=5, learning_rate=1e-3, locality=False))
    params = dict(G.named_parameters())
    assert result.delta and all(name.startswith("synthesis.") for name in result.delta)
    for name, diff in result.delta.items():
        assert diff.dtype == torch.float16 and diff.shape == params[name].shape
    assert not any(name.startswith("mapping.") for name in result.delta)
    tuned = apply_delta(G, result.delta)
    assert tuned is not G and tuned.synthesis is not G.synthesis
    with torch.no_grad():
        want = synthesize(G, pivot, None, synthesis=result.synthesis)
        got = tuned.synthesis(pivot, noise_mode="const")
        untouched = G.synthesis(pivot, noise_mode="const")
    error = (got - want).abs().max()
    assert error < 1e-3 and error < 0.05 * (want - untouched).abs().max()


def test_locality_regulariser_measures_drift_near_the_pivot(G, alex, photo):
    pivot = _pivot(G)
    config = PTIConfig(num_steps=4, learning_rate=2e-3, locality_samples=2)
    # the latents it draws lie at distance alpha * w_std (RMS over layers) from the pivot, towards mapped z
    w_std = estimate_w_stats(G, 2000)[1]
    assert locality_radius(G, config) == pytest.approx(config.locality_alpha * w_std)
    assert locality_radius(G, replace(config, locality_alpha=30.0, locality_alpha_units="w")) == 30.0
    probe = locality_latents(G, pivot, config, torch.Generator().manual_seed(0))
    assert torch.allclose((probe - to_wplus(pivot, G.num_ws)).norm(dim=2).square().mean(dim=1).sqrt(),
                          torch.full((2,), config.locality_alpha * w_std), rtol=1e-4)
    synthesis = tuned_synthesis_copy(G)
    steps = list(pivotal_tuning_steps(G, synthesis, photo, pivot, alex, config, seed=0))
    assert steps[0].locality == 0.0  # untouched copy: renders exactly as G
    assert all(step.locality > 0 for step in steps[1:])
    assert steps[0].loss == pytest.approx(steps[0].lpips + steps[0].l2, rel=1e-6)
    off = list(pivotal_tuning_steps(G, tuned_synthesis_copy(G), photo, pivot, alex,
                                    replace(config, locality=False, num_steps=2)))
    assert off[1].locality == 0.0 and off[1].loss == pytest.approx(off[1].lpips + off[1].l2, rel=1e-6)


def test_delta_for_another_generator_is_refused(G, alex, photo):
    from inversion.networks.stylegan2 import Generator
    result = pivotal_tuning(G, photo, _pivot(G), alex, PTIConfig(num_steps=1, locality=False))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        other = Generator(z_dim=32, w_dim=32, img_resolution=32, img_channels=1,
                          mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 512, "channel_max": 32})
    with pytest.raises(IncompatibleModelError, match="another generator"):
        apply_delta(other, result.delta)


def test_pti_takes_one_face_at_a_time(G, alex, photo):
    with pytest.raises(FaceLatentError, match="one face at a time"):
        pivotal_tuning(G, photo.repeat(2, 1, 1, 1), _pivot(G).repeat(2, 1, 1), alex, PTIConfig(num_steps=1))


def test_unknown_locality_units_are_refused():
    with pytest.raises(FaceLatentError, match="locality radius units"):
        PTIConfig(locality_alpha_units="pixels").check()
