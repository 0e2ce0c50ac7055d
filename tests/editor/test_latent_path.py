"""The blended emotion direction and the latent path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from editor.latent_path import blend_directions, latent_path


def test_blend_directions_renormalises():
    d = torch.eye(4)[:2] * torch.tensor([[1.0], [1.0]])
    out = blend_directions(d, [0.5, 0.5], scales=[2.0, 2.0])
    assert out.norm().item() == pytest.approx(2.0)
    torch.testing.assert_close(out / out.norm(), torch.tensor([1.0, 1.0, 0, 0]) / 2 ** 0.5)
    raw = blend_directions(d, [0.5, 0.5], renormalise=False)
    torch.testing.assert_close(raw, torch.tensor([0.5, 0.5, 0, 0]))
    per_layer = torch.zeros(2, 5, 4)
    per_layer[0, :2, 0] = 1
    per_layer[1, 2:, 1] = 1
    assert blend_directions(per_layer, [1.0, 0.0]).shape == (5, 4)


def test_latent_path_w_and_wplus():
    w0 = torch.randn(8, generator=torch.Generator().manual_seed(0))
    d = torch.zeros(8)
    d[2] = 1.0
    s = np.array([0.0, 0.5, 1.0])
    path = latent_path(w0, d, s)
    assert path.shape == (3, 8)
    torch.testing.assert_close(path[0], w0)
    torch.testing.assert_close(path[2] - path[0], d)
    # W+: [num_ws, D] start, a W-space direction broadcast over layers, per-frame noise and blink.
    wp = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    noise = np.zeros((3, 8))
    noise[:, 5] = [0, 0.1, 0.2]
    blink_dir = torch.zeros(4, 8)
    blink_dir[:2, 7] = 1.0
    out = latent_path(wp, d, s, noise=noise, blink_direction=blink_dir, blink=[0, 1, 0])
    assert out.shape == (3, 4, 8)
    delta = out - wp
    torch.testing.assert_close(delta[2, :, 2], torch.ones(4))
    torch.testing.assert_close(delta[2, :, 5], torch.full((4,), 0.2))
    torch.testing.assert_close(delta[1, :, 7], torch.tensor([1.0, 1.0, 0, 0]))
    assert delta[0].abs().max() == 0
