"""``upfirdn2d``: upsample, pad, FIR-filter and downsample a batch of 2-D images, in one op.

Semantics are those of NVlabs' StyleGAN2-ADA ``torch_utils/ops/upfirdn2d.py``. On an NCHW
tensor ``x``, per image and channel:

1. upsample by inserting ``up - 1`` zeros after each pixel (``up`` = int or ``[upx, upy]``);
2. pad with zeros (or crop, for negative values) by ``padding`` = int, ``[px, py]`` or
   ``[x0, x1, y0, y1]`` (left, right, top, bottom);
3. convolve with the filter ``f`` (true convolution; ``flip_filter=True`` gives correlation),
   scaled by ``gain`` (a 1-D ``f`` is separable: applied along x then y, ``gain**0.5`` each);
4. downsample by keeping every ``down``-th pixel, starting with the first.

The output is ``[N, C, (H*upy + py0 + py1 - fh) // downy + 1, (W*upx + px0 + px1 - fw) // downx + 1]``.
Filters are float tensors ``[fh, fw]`` (2-D) or ``[fw]`` (separable), usually made by
:func:`setup_filter`. :func:`upfirdn2d_ref` is the readable definition; ``impl`` selects the C++
or CUDA kernel instead (see :mod:`cuda_ops.dispatch`). Gradients with respect to ``x`` (first
and second order) are supported by every implementation; the filter gets no gradient.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from cuda_ops.dispatch import resolve_impl
from cuda_ops.upfirdn2d_args import Padding, Scaling, filter_size, parse_padding, parse_scaling
from cuda_ops.upfirdn2d_compiled import upfirdn2d_compiled


def setup_filter(f, device: torch.device = torch.device("cpu"), normalize: bool = True,
                 flip_filter: bool = False, gain: float = 1, separable: Optional[bool] = None) -> torch.Tensor:
    """Make a float32 filter for :func:`upfirdn2d` from a list, array or tensor.

    A 1-D ``f`` becomes the 2-D outer product ``f ⊗ f`` unless ``separable`` (default: only for
    1-D filters of 8 taps or more). ``normalize`` divides by the sum, ``flip_filter`` flips it,
    and ``gain`` is spread over the dimensions (``gain**(ndim/2)``). ``None`` is the 1-tap filter.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim not in (0, 1, 2) or f.numel() == 0:
        raise ValueError("setup_filter: f must be a non-empty scalar, 1-D or 2-D array")
    if f.ndim == 0:
        f = f[np.newaxis]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if f.ndim != (1 if separable else 2):
        raise ValueError("setup_filter: a 2-D filter cannot be made separable")
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def _check_upfirdn2d_args(x: torch.Tensor, f: torch.Tensor, up, down, padding) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError("upfirdn2d: x must be a 4-D NCHW tensor")
    if f.device != x.device:
        raise ValueError(f"upfirdn2d: the filter is on {f.device} but x is on {x.device}")
    if f.requires_grad:
        raise ValueError("upfirdn2d: the filter cannot require a gradient")
    fw, fh = filter_size(f)
    upx, upy = parse_scaling(up)
    parse_scaling(down)
    x0, x1, y0, y1 = parse_padding(padding)
    up_w = x.shape[3] * upx + x0 + x1
    up_h = x.shape[2] * upy + y0 + y1
    if up_w < fw or up_h < fh:
        raise ValueError(f"upfirdn2d: the padded upsampled image ({up_h}x{up_w}) is smaller than the filter ({fh}x{fw})")


def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up: Scaling = 1, down: Scaling = 1,
              padding: Padding = 0, flip_filter: bool = False, gain: float = 1,
              impl: Optional[str] = None) -> torch.Tensor:
    """Upsample, pad, filter and downsample ``x`` (NCHW); see the module docstring for the order."""
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    _check_upfirdn2d_args(x, f, up, down, padding)
    chosen = resolve_impl(impl, x.device, x.dtype)
    if chosen == "ref":
        return upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)
    return upfirdn2d_compiled(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter,
                              gain=gain, kind=chosen)


def upfirdn2d_ref(x: torch.Tensor, f: Optional[torch.Tensor], up: Scaling = 1, down: Scaling = 1,
                  padding: Padding = 0, flip_filter: bool = False, gain: float = 1) -> torch.Tensor:
    """The pure-PyTorch definition of :func:`upfirdn2d` (zero insertion, pad, grouped conv2d, slice)."""
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    _check_upfirdn2d_args(x, f, up, down, padding)
    batch, channels, in_h, in_w = x.shape
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    x0, x1, y0, y1 = parse_padding(padding)

    # Upsample by inserting zeros.
    x = x.reshape([batch, channels, in_h, 1, in_w, 1])
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
    x = x.reshape([batch, channels, in_h * upy, in_w * upx])

    # Pad with zeros, then crop for negative padding.
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]

    # Filter: conv2d correlates, so flip for a true convolution.
    f = f * (gain ** (f.ndim / 2))
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f[np.newaxis, np.newaxis].repeat([channels, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=channels)
    else:
        x = F.conv2d(x, f.unsqueeze(2), groups=channels)
        x = F.conv2d(x, f.unsqueeze(3), groups=channels)

    # Downsample by keeping every down-th pixel.
    return x[:, :, ::downy, ::downx]


def filter2d(x: torch.Tensor, f: Optional[torch.Tensor], padding: Padding = 0, flip_filter: bool = False,
             gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Filter ``x`` with ``f``, padded so that the output has the input's size (plus ``padding``)."""
    x0, x1, y0, y1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [x0 + fw // 2, x1 + (fw - 1) // 2, y0 + fh // 2, y1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x: torch.Tensor, f: Optional[torch.Tensor], up: Scaling = 2, padding: Padding = 0,
               flip_filter: bool = False, gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Upsample ``x`` by ``up`` with the interpolation filter ``f``; output ``H*upy x W*upx`` (plus padding).

    The gain is multiplied by ``upx*upy`` so that the filter's DC gain is preserved.
    """
    upx, upy = parse_scaling(up)
    x0, x1, y0, y1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [x0 + (fw + upx - 1) // 2, x1 + (fw - upx) // 2, y0 + (fh + upy - 1) // 2, y1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x: torch.Tensor, f: Optional[torch.Tensor], down: Scaling = 2, padding: Padding = 0,
                 flip_filter: bool = False, gain: float = 1, impl: Optional[str] = None) -> torch.Tensor:
    """Anti-alias with ``f`` and downsample ``x`` by ``down``; output ``H/downy x W/downx`` (plus padding)."""
    downx, downy = parse_scaling(down)
    x0, x1, y0, y1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [x0 + (fw - downx + 1) // 2, x1 + (fw - downx) // 2, y0 + (fh - downy + 1) // 2, y1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)
