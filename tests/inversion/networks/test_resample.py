"""Resampling convolutions: the fast paths against the definition, modulated convolution fused and not."""

from __future__ import annotations

import pytest
import torch

from cuda_ops import setup_filter
from inversion.networks.resample import conv2d_resample, conv2d_resample_ref, modulated_conv2d

torch.set_num_threads(1)


@pytest.mark.parametrize("up,down,k", [(2, 1, 3), (1, 2, 3), (1, 2, 1), (2, 1, 1), (1, 1, 3), (2, 2, 3)])
@pytest.mark.parametrize("flip_weight", [True, False])
def test_conv2d_resample_fast_paths_match_definition(up, down, k, flip_weight):
    gen = torch.Generator().manual_seed(up * 10 + down + k)
    x = torch.randn([2, 4, 8, 8], generator=gen)
    w = torch.randn([6, 2, k, k], generator=gen)
    f = setup_filter([1, 3, 3, 1])
    kwargs = dict(f=f, up=up, down=down, padding=k // 2, groups=2, flip_weight=flip_weight)
    fast, ref = conv2d_resample(x, w, **kwargs), conv2d_resample_ref(x, w, **kwargs)
    assert fast.shape == ref.shape == (2, 6, 8 * up // down, 8 * up // down)
    assert torch.allclose(fast, ref, atol=1e-5)


def test_modulated_conv_fused_equals_unfused_and_demodulates():
    gen = torch.Generator().manual_seed(1)
    x, weight = torch.randn([3, 4, 8, 8], generator=gen), torch.randn([5, 4, 3, 3], generator=gen)
    styles = torch.rand([3, 4], generator=gen) + 0.5
    f = setup_filter([1, 3, 3, 1])
    for up in (1, 2):
        a = modulated_conv2d(x, weight, styles, up=up, padding=1, resample_filter=f, fused_modconv=True)
        b = modulated_conv2d(x, weight, styles, up=up, padding=1, resample_filter=f, fused_modconv=False)
        assert torch.allclose(a, b, atol=1e-5)
    # Demodulated weights have unit norm per output channel: scaling the styles changes nothing.
    a = modulated_conv2d(x, weight, styles, padding=1)
    b = modulated_conv2d(x, weight, styles * 7.0, padding=1)
    assert torch.allclose(a, b, atol=1e-5)
