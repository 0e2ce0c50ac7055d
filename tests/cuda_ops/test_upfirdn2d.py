"""The pure-PyTorch upfirdn2d reference: against a direct loop definition, filters, gradcheck/gradgradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cuda_ops import downsample2d, filter2d, setup_filter, upfirdn2d_ref, upsample2d


def _direct_upfirdn2d(x, f, up, down, pad, flip, gain):
    """upfirdn2d written as the sum it is: each output pixel reads the zero-stuffed padded input."""
    x = x.double().numpy()
    f = f.double().numpy()
    if f.ndim == 1:
        f = np.outer(f, f)
    n, c, h, w = x.shape
    x0, x1, y0, y1 = pad
    fh, fw = f.shape
    out_h = (h * up + y0 + y1 - fh) // down + 1
    out_w = (w * up + x0 + x1 - fw) // down + 1
    out = np.zeros((n, c, out_h, out_w))
    for oy in range(out_h):
        for ox in range(out_w):
            for i in range(fh):
                for j in range(fw):
                    py, px = oy * down + i - y0, ox * down + j - x0
                    if py % up or px % up or not (0 <= py // up < h and 0 <= px // up < w):
                        continue
                    tap = f[i, j] if flip else f[fh - 1 - i, fw - 1 - j]
                    out[:, :, oy, ox] += x[:, :, py // up, px // up] * tap
    return out * gain


@pytest.mark.parametrize("up,down,pad,flip,gain,separable", [
    (1, 1, (0, 0, 0, 0), False, 1.0, False),
    (2, 1, (1, 2, -1, 3), False, 2.0, False),
    (1, 2, (0, 1, 2, -1), True, 1.0, True),
    (3, 2, (2, 2, 2, 2), False, 0.5, False),
    (4, 4, (3, -2, 1, 0), True, 3.0, True),
])
def test_upfirdn2d_ref_matches_direct_sum(up, down, pad, flip, gain, separable):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 7, 9, generator=gen, dtype=torch.float64)
    f = torch.randn(4, generator=gen) if separable else torch.randn(3, 4, generator=gen)
    y = upfirdn2d_ref(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
    expected = _direct_upfirdn2d(x, f, up, down, pad, flip, gain)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_resampling_shapes_and_dc_gain():
    x = torch.ones(1, 2, 8, 10)
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and math.isclose(f.sum().item(), 1.0, rel_tol=1e-6)
    assert setup_filter([1] * 8).shape == (8,)
    up = upsample2d(x, f, impl="ref")
    down = downsample2d(x, f, impl="ref")
    same = filter2d(x, f, impl="ref")
    assert up.shape == (1, 2, 16, 20) and down.shape == (1, 2, 4, 5) and same.shape == x.shape
    # A normalised filter keeps a constant image constant away from the zero-padded border.
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.ones(1), atol=1e-6)
    assert torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1), atol=1e-6)


@pytest.mark.parametrize("up,down,pad", [(2, 1, (1, 2, 2, 1)), (1, 2, (1, 0, -1, 2))])
def test_upfirdn2d_ref_gradcheck(up, down, pad):
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(1, 2, 5, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    f = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    fn = lambda x: upfirdn2d_ref(x, f, up=up, down=down, padding=pad, gain=1.5)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))
