"""The StyleGAN2 generator: the official fixture reproduced, layouts, noise, truncation, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inversion.checkpoints import load_generator
from inversion.networks.stylegan2 import Generator

torch.set_num_threads(1)


def tiny_generator(resolution=16, architecture="skip", c_dim=0, seed=0, **synthesis):
    torch.manual_seed(seed)
    G = Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=resolution, img_channels=3,
                  mapping_kwargs={"num_layers": 2},
                  synthesis_kwargs={"channel_base": 64 * resolution, "channel_max": 16,
                                    "architecture": architecture, **synthesis})
    with torch.no_grad():  # make the noise and w_avg matter
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
        G.mapping.w_avg.normal_()
    return G.eval()


def _fixture(shared, name):
    return load_generator(shared("fixtures", f"{name}.pkl")), np.load(shared("fixtures", f"{name}_ref.npz"))


def test_official_stylegan2_fixture_mapping_and_synthesis(shared):
    G, ref = _fixture(shared, "stylegan2-ada_64_random")
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(ref["z"]), None, truncation_psi=float(ref["psi"]))
        assert np.abs(ws.numpy() - ref["ws"]).max() < 1e-3
        for fused in (True, False):
            img = G.synthesis(torch.from_numpy(ref["ws"]), noise_mode="const", fused_modconv=fused)
            assert img.shape == ref["img"].shape
            assert np.abs(img.numpy() - ref["img"]).max() < 1e-3
    assert (G.z_dim, G.w_dim, G.num_ws, G.img_resolution, G.img_channels) == (128, 128, 10, 64, 3)
    assert G.mapping.w_avg.shape == (128,)


@pytest.mark.parametrize("resolution,num_ws", [(4, 2), (8, 4), (64, 10), (1024, 18)])
def test_num_ws_and_block_layout(resolution, num_ws):
    G = Generator(z_dim=8, w_dim=8, img_resolution=resolution, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 4 * resolution, "channel_max": 4})
    assert G.num_ws == num_ws
    assert G.synthesis.block_resolutions[-1] == resolution
    if resolution <= 8:
        with torch.no_grad():
            assert G(torch.randn([2, 8])).shape == (2, 3, resolution, resolution)


@pytest.mark.parametrize("architecture", ["skip", "orig", "resnet"])
def test_architectures_run_and_round_trip_state(architecture):
    G = tiny_generator(16, architecture)
    z = torch.randn([2, 16], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        img = G(z, noise_mode="const")
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    H = Generator(**{k: v for k, v in G.config.items() if k != "network"})
    H.load_state_dict(G.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(H.eval()(z, noise_mode="const"), img)


def test_truncation_psi_and_cutoff():
    G = tiny_generator()
    z = torch.randn([3, 16], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = G.mapping(z)
        at_avg = G.mapping(z, truncation_psi=0.0)
        half = G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    assert full.shape == (3, G.num_ws, 16)
    assert torch.allclose(at_avg, G.mapping.w_avg.expand_as(at_avg))
    assert torch.allclose(half[:, :2], G.mapping.w_avg + 0.5 * (full[:, :2] - G.mapping.w_avg), atol=1e-6)
    assert torch.equal(half[:, 2:], full[:, 2:])


def test_noise_modes():
    G = tiny_generator()
    ws = G.mapping(torch.randn([2, 16], generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():
        const_a, const_b = G.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const")
        none = G.synthesis(ws, noise_mode="none")
        rand = [G.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(s)) for s in (5, 5, 6)]
    assert torch.equal(const_a, const_b)
    assert not torch.allclose(const_a, none, atol=1e-4)
    assert torch.equal(rand[0], rand[1])
    assert not torch.allclose(rand[0], rand[2], atol=1e-4)
    with pytest.raises(ValueError):
        G.synthesis(ws, noise_mode="loud")


def test_fp16_layers_run_in_fp32_on_cpu():
    G = tiny_generator(16, num_fp16_res=2, conv_clamp=256)
    ws = G.mapping(torch.randn([2, 16], generator=torch.Generator().manual_seed(4)))
    with torch.no_grad():
        a, b = G.synthesis(ws), G.synthesis(ws, force_fp32=True)
    assert a.dtype == torch.float32 and torch.equal(a, b)


def test_wrong_shapes_raise():
    G = tiny_generator()
    with pytest.raises(ValueError):
        G.mapping(torch.zeros([2, 15]))
    with pytest.raises(ValueError):
        G.synthesis(torch.zeros([2, G.num_ws + 1, 16]))


def test_gradients_through_synthesis_and_mapping_are_exact():
    """float64 gradcheck of a tiny generator (what inversion differentiates), both modconv paths."""
    torch.manual_seed(0)
    G = Generator(z_dim=4, w_dim=4, img_resolution=8, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 32, "channel_max": 4, "conv_clamp": 256}).double().eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
    ws = torch.randn([2, G.num_ws, 4], dtype=torch.float64, requires_grad=True)
    projection = torch.randn([2, 3, 8, 8], dtype=torch.float64)
    for fused in (True, False):
        assert torch.autograd.gradcheck(lambda w: (G.synthesis(w, fused_modconv=fused) * projection).sum(), (ws,))
    z = torch.randn([2, 4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: G.mapping(v, truncation_psi=0.7), (z,))
