"""StyleGAN3 (T/R): the official fixture reproduced, filter design and padding, filtered lrelu, config R."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cuda_ops import bias_act
from inversion.checkpoints import build_generator, generator_identity, load_generator, save_generator
from inversion.checkpoints.safe_pickle import load_safe_pickle
from inversion.networks.stylegan3 import Generator, filtered_lrelu

torch.set_num_threads(1)
NAME = "stylegan3_64_random"


def test_official_stylegan3_fixture(shared):
    G = load_generator(shared("fixtures", f"{NAME}.pkl"))
    ref = np.load(shared("fixtures", f"{NAME}_ref.npz"))
    assert G.config["network"] == "stylegan3" and G.num_ws == 16
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(ref["z"]), None, truncation_psi=float(ref["psi"]))
        assert np.abs(ws.numpy() - ref["ws"]).max() < 1e-3
        img = G.synthesis(torch.from_numpy(ref["ws"]), noise_mode="const")
    assert img.shape == ref["img"].shape
    assert np.abs(img.numpy() - ref["img"]).max() < 1e-3


def test_fresh_network_matches_the_official_layout(shared):
    """Built from the pickle's arguments alone: same names and shapes, same designed filters and padding."""
    path = shared("fixtures", f"{NAME}.pkl")
    loaded = load_generator(path)
    fresh = build_generator(loaded.config)
    a, b = loaded.state_dict(), fresh.state_dict()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    for name in loaded.synthesis.layer_names:
        for buf in ("up_filter", "down_filter"):
            if a.get(f"synthesis.{name}.{buf}") is not None:
                assert torch.allclose(a[f"synthesis.{name}.{buf}"], b[f"synthesis.{name}.{buf}"], atol=1e-6)
    record = load_safe_pickle(path)["G_ema"].children["synthesis"]
    for name in loaded.synthesis.layer_names:
        assert getattr(fresh.synthesis, name).padding == list(record.children[name].attributes["padding"])


def test_own_format_round_trip(shared, tmp_path):
    G = load_generator(shared("fixtures", f"{NAME}.pkl"))
    save_generator(G, tmp_path / "g3.pt")
    H = load_generator(tmp_path / "g3.pt")
    assert generator_identity(H) == generator_identity(G) and H.config == G.config


def test_filtered_lrelu_matches_explicit_steps():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn([2, 3, 10, 10], generator=gen)
    b = torch.randn([3], generator=gen)
    f = torch.tensor([0.25, 0.75, 0.75, 0.25]) / 2
    y = filtered_lrelu(x, f, f, b, up=2, down=2, padding=[2, 1, 2, 1], gain=np.sqrt(2), slope=0.2, clamp=0.5)
    # Explicitly: bias, zero-insert x2, pad, separable filter (gain 4), lrelu, clamp, filter, decimate.
    t = x + b.reshape(1, -1, 1, 1)
    up = torch.zeros([2, 3, 20, 20])
    up[:, :, ::2, ::2] = t
    up = torch.nn.functional.pad(up, [2, 1, 2, 1])
    k = torch.outer(f, f) * 4
    conv = lambda z: torch.nn.functional.conv2d(z.reshape(-1, 1, *z.shape[2:]), k.flip([0, 1])[None, None])
    z = conv(up).reshape(2, 3, 20, 20)
    z = (torch.nn.functional.leaky_relu(z, 0.2) * np.sqrt(2)).clamp(-0.5, 0.5)
    z = torch.nn.functional.conv2d(z.reshape(-1, 1, 20, 20), (torch.outer(f, f)).flip([0, 1])[None, None])
    expected = z.reshape(2, 3, 17, 17)[:, :, ::2, ::2]
    assert y.shape == expected.shape == (2, 3, 9, 9)
    assert torch.allclose(y, expected, atol=1e-5)
    assert torch.allclose(filtered_lrelu(x, b=b, gain=1, slope=1), bias_act(x, b))


@pytest.mark.parametrize("config", ["T", "R"])
def test_configs_build_and_run(config):
    torch.manual_seed(0)
    extra = {"conv_kernel": 1, "use_radial_filters": True} if config == "R" else {}
    G = Generator(z_dim=16, w_dim=16, img_resolution=16, channel_base=256, channel_max=16, num_layers=6,
                  num_critical=2, margin_size=4, **extra).eval()
    z = torch.randn([2, 16], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        img = G(z, truncation_psi=0.7)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    assert G.num_ws == 8
    radial = [getattr(G.synthesis, n).down_filter for n in G.synthesis.layer_names[:-3]]
    assert all(f.ndim == (2 if config == "R" else 1) for f in radial)
    for f in radial:
        assert abs(float(f.sum()) - 1) < 1e-4  # unit DC gain


def test_gradients_through_stylegan3_synthesis_are_exact():
    torch.manual_seed(0)
    G = Generator(z_dim=4, w_dim=4, img_resolution=8, channel_base=64, channel_max=4, num_layers=4,
                  num_critical=1, margin_size=2).double().eval()
    ws = torch.randn([1, G.num_ws, 4], dtype=torch.float64, requires_grad=True)
    projection = torch.randn([1, 3, 8, 8], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda w: (G.synthesis(w) * projection).sum(), (ws,))
