"""The StyleGAN2 discriminator: minibatch standard deviation, shapes, conditioning, state-dict names."""

from __future__ import annotations

import pytest
import torch

from inversion.networks.discriminator import Discriminator, MinibatchStdLayer

torch.set_num_threads(1)


def test_minibatch_std_matches_explicit_computation():
    x = torch.randn([4, 6, 3, 3], generator=torch.Generator().manual_seed(7))
    out = MinibatchStdLayer(group_size=2, num_channels=2)(x)
    assert out.shape == (4, 8, 3, 3)
    # Groups are samples {0, 2} and {1, 3}; channels split into two halves of 3.
    for sample, partner in ((0, 2), (1, 3), (2, 0), (3, 1)):
        pair = torch.stack([x[sample], x[partner]])
        std = (pair.var(dim=0, unbiased=False) + 1e-8).sqrt()
        for half in range(2):
            expected = std[3 * half:3 * half + 3].mean()
            assert torch.allclose(out[sample, 6 + half], expected.expand(3, 3), atol=1e-6)


@pytest.mark.parametrize("architecture", ["resnet", "skip", "orig"])
def test_discriminator_shapes_and_conditioning(architecture):
    torch.manual_seed(0)
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, architecture=architecture,
                      channel_base=256, channel_max=16).eval()
    img = torch.randn([4, 3, 16, 16], generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        logits = D(img)
    assert logits.shape == (4, 1) and torch.isfinite(logits).all()
    Dc = Discriminator(c_dim=5, img_resolution=16, img_channels=3, channel_base=256, channel_max=16).eval()
    with torch.no_grad():
        a = Dc(img, torch.eye(5)[:4])
        b = Dc(img, torch.eye(5)[1:5])
    assert a.shape == (4, 1) and not torch.allclose(a, b)
    names = set(D.state_dict())
    assert "b4.mbstd.group_size" not in names and "b4.fc.weight" in names and "b16.conv0.weight" in names
