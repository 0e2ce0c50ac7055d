"""The projector on the 64 px fixture generator: it recovers generated images, is seeded, batched, safe."""

from __future__ import annotations

import math

import pytest
import torch

from inversion.common.errors import FaceLatentError
from inversion.projection.projector import (
    ProjectorConfig, estimate_w_stats, learning_rate_at, lpips_distance, noise_penalty, normalize_noise_,
    project, psnr, run_projection, synthesize, to_wplus,
)


@pytest.fixture
def w_stats(G):
    return estimate_w_stats(G, 2000)


def _targets(G, seeds):
    """Images of the generator (its own constant noise) from z of the given seeds, and their W+."""
    z = torch.cat([torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=0.7)
        return G.synthesis(ws, noise_mode="const"), ws


def _state(G):
    return {k: v.clone() for k, v in G.state_dict().items()}


def test_wplus_projection_recovers_a_generated_image(G, alex, w_stats):
    target, _ = _targets(G, [11])
    before = _state(G)
    config = ProjectorConfig(space="w+", num_steps=40)
    result = run_projection(G, target, alex, config, seed=3, w_stats=w_stats)
    history = result.lpips_history[:, 0]
    assert history.shape == (40,)
    # "monotonically-ish": every block of 10 steps ends lower than the previous one, and much lower overall
    blocks = history.reshape(4, 10).mean(dim=1)
    assert torch.all(blocks[1:] < blocks[:-1]), blocks
    assert history[-5:].mean() < 0.6 * history[:5].mean()
    with torch.no_grad():
        start = G.synthesis(to_wplus(G.mapping.w_avg.reshape(1, -1), G.num_ws), noise_mode="const")
        final = synthesize(G, to_wplus(result.latent, G.num_ws), result.noise)
        assert lpips_distance(alex, final, target) < 0.6 * lpips_distance(alex, start, target)
        assert psnr(final, target) > psnr(start, target) + 2.0
    assert all(torch.equal(v, before[k]) for k, v in G.state_dict().items()), "the projector changed G"


def test_result_shapes_for_w_and_wplus(G, alex, w_stats):
    target, _ = _targets(G, [1, 2])
    for space, shape in (("w", (2, G.w_dim)), ("w+", (2, G.num_ws, G.w_dim))):
        steps = list(project(G, target, alex, ProjectorConfig(space=space, num_steps=2), w_stats=w_stats))
        assert [s.step for s in steps] == [0, 1] and steps[-1].last and not steps[0].last
        assert steps[-1].latent.shape == shape and steps[0].loss.shape == (2,)
        assert steps[-1].noise is not None and steps[-1].noise.keys() == steps[0].noise.keys()
        for name, maps in steps[-1].noise.items():
            assert name.endswith("noise_const") and maps.shape[:2] == (2, 1)
            # renormalised after every step: zero mean, unit variance per face
            assert torch.allclose(maps.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5)
            assert torch.allclose(maps.square().mean(dim=(1, 2, 3)), torch.ones(2), atol=1e-4)


def test_same_seed_same_result_and_another_seed_differs(G, alex, w_stats):
    target, _ = _targets(G, [4])
    config = ProjectorConfig(num_steps=4)
    runs = [run_projection(G, target, alex, config, seed=s, w_stats=w_stats) for s in (7, 7, 8)]
    assert torch.equal(runs[0].latent, runs[1].latent)
    assert all(torch.equal(runs[0].noise[k], runs[1].noise[k]) for k in runs[0].noise)
    assert not torch.equal(runs[0].latent, runs[2].latent)


def test_batched_projection_equals_per_face_projection(G, alex, w_stats):
    target, _ = _targets(G, [5, 6])
    config = ProjectorConfig(num_steps=5)
    both = run_projection(G, target, alex, config, seed=[20, 30], w_stats=w_stats)
    moved = (both.latent - to_wplus(G.mapping.w_avg.reshape(1, -1), G.num_ws)).abs().mean()
    for i, seed in enumerate((20, 30)):
        alone = run_projection(G, target[i:i + 1], alex, config, seed=seed, w_stats=w_stats)
        # Same path up to float rounding: batched convolutions round differently, and Adam's first
        # steps (update ~ lr * sign(gradient)) turn rounding-level gradients into lr-sized moves.
        assert (both.latent[i] - alone.latent[0]).abs().mean() < 0.02 * moved
        # The losses follow the same path to within 1 %: 0.3 % apart by step 5 on a CPU whose BLAS
        # rounds batched and single convolutions differently (this check's 0.1 % held on another one).
        assert torch.allclose(both.loss_history[:, i], alone.loss_history[:, 0], rtol=1e-2)
        for name in alone.noise:
            assert (both.noise[name][i] - alone.noise[name][0]).abs().mean() < 0.01


def test_starting_at_the_true_latent_beats_starting_at_w_avg(G, alex, w_stats):
    target, ws = _targets(G, [9])
    config = ProjectorConfig(space="w", num_steps=1, optimize_noise=False, initial_noise_factor=0.0)
    from_avg = next(project(G, target, alex, config, w_stats=w_stats))
    from_truth = next(project(G, target, alex, config, init=ws[:, 0], w_stats=w_stats))
    assert from_truth.lpips[0] < 1e-3 < from_avg.lpips[0]


def test_pixel_term_is_reported_and_used(G, alex, w_stats):
    target, _ = _targets(G, [12])
    plain = next(project(G, target, alex, ProjectorConfig(num_steps=3), w_stats=w_stats))
    mixed = next(project(G, target, alex, ProjectorConfig(num_steps=3, pixel_weight=2.0), w_stats=w_stats))
    assert torch.allclose(mixed.loss, plain.lpips + 2.0 * plain.pixel, atol=1e-5)
    assert torch.allclose(plain.loss, plain.lpips)


def test_grey_generator_projects_through_three_channel_lpips(alex):
    from inversion.networks.stylegan2 import Generator
    with torch.random.fork_rng():
        torch.manual_seed(0)
        grey = Generator(z_dim=32, w_dim=32, img_resolution=32, img_channels=1,
                         mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 512, "channel_max": 32}).eval()
    target, _ = _targets(grey, [0])
    result = run_projection(grey, target, alex, ProjectorConfig(num_steps=15), w_stats=estimate_w_stats(grey, 500))
    assert result.latent.shape == (1, grey.num_ws, 32)
    assert result.lpips_history[-3:].mean() < result.lpips_history[:3].mean()


def test_bad_inputs_raise_one_line_errors(G, alex, w_stats):
    target, _ = _targets(G, [0])
    with pytest.raises(FaceLatentError, match="do not fit the generator"):
        next(project(G, target[:, :, :32], alex, w_stats=w_stats))
    with pytest.raises(FaceLatentError, match="unknown latent space"):
        next(project(G, target, alex, ProjectorConfig(space="z"), w_stats=w_stats))
    with pytest.raises(FaceLatentError, match="W\\+ latent cannot start"):
        next(project(G, target, alex, ProjectorConfig(space="w"), init=torch.zeros(1, G.num_ws, G.w_dim),
                     w_stats=w_stats))
    with pytest.raises(FaceLatentError, match="seeds"):
        next(project(G, target, alex, seed=[1, 2], w_stats=w_stats))


def test_learning_rate_schedule_is_the_official_one():
    config = ProjectorConfig(initial_learning_rate=0.1)
    assert learning_rate_at(config, 0.0) == 0.0
    assert learning_rate_at(config, 0.025) == pytest.approx(0.05)
    assert learning_rate_at(config, 0.5) == pytest.approx(0.1)
    assert learning_rate_at(config, 0.875) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.5 * math.pi)))
    assert learning_rate_at(config, 0.99) < learning_rate_at(config, 0.9) < 0.1


def test_noise_penalty_punishes_correlated_noise():
    gen = torch.Generator().manual_seed(0)
    white = {"n": torch.randn(2, 1, 32, 32, generator=gen)}
    smooth = {"n": torch.nn.functional.avg_pool2d(torch.randn(2, 1, 34, 34, generator=gen), 3, stride=1)}
    normalize_noise_(smooth)
    assert torch.all(noise_penalty(smooth) > 100 * noise_penalty(white))
    assert torch.allclose(smooth["n"].std(dim=(1, 2, 3), unbiased=False), torch.ones(2), atol=1e-5)
