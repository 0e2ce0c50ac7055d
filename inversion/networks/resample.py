"""Convolution combined with FIR up/down-sampling, and StyleGAN2's modulated convolution.

:func:`conv2d_resample` is defined as: upsample ``x`` by ``up`` (zero insertion, then the filter
``f`` with gain ``up**2``), pad by ``padding``, convolve with ``w``, then filter with ``f`` and keep
every ``down``-th pixel. ``flip_weight=True`` means ``torch.nn.functional.conv2d``'s correlation;
``False`` a true convolution (the official generator uses it for its upsampling layers, which
therefore map onto transposed convolutions with the weight as stored). The fast paths below are
rearrangements of that definition (filtering commutes with convolution); the tests check them
against it. Layout NCHW; ``w`` is [out, in/groups, kh, kw]; ``f`` a 2-D filter from
:func:`cuda_ops.setup_filter`.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from cuda_ops import upfirdn2d
from cuda_ops.upfirdn2d_args import filter_size, parse_padding


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding=0, groups: int = 1,
          transpose: bool = False, flip_weight: bool = True) -> torch.Tensor:
    if not flip_weight:
        w = w.flip([2, 3])
    if not transpose:
        return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)
    out_per_group, in_per_group, kh, kw = w.shape[0] // groups, w.shape[1], w.shape[2], w.shape[3]
    # conv_transpose2d wants [in, out/groups, kh, kw].
    w = w.reshape(groups, out_per_group, in_per_group, kh, kw).transpose(1, 2)
    w = w.reshape(groups * in_per_group, out_per_group, kh, kw)
    return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)


def _total_padding(f, up: int, down: int, padding) -> list[int]:
    """``padding`` plus what keeps the image centred through the filter's up/down-sampling."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    return [px0, px1, py0, py1]


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: Optional[torch.Tensor] = None, up: int = 1,
                    down: int = 1, padding=0, groups: int = 1, flip_weight: bool = True,
                    flip_filter: bool = False) -> torch.Tensor:
    """Convolve ``x`` [N, C, H, W] with ``w`` and resample by ``up``/``down`` (see the module docstring)."""
    kh, kw = w.shape[2], w.shape[3]
    pad = _total_padding(f, up, down, padding)
    px0, px1, py0, py1 = pad

    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up ** 2, flip_filter=flip_filter)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        return _conv2d_up(x, w, f, up, down, pad, groups, flip_weight, flip_filter)
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
    return conv2d_resample_ref(x, w, f, up, down, padding, groups, flip_weight, flip_filter)


def _conv2d_up(x, w, f, up, down, pad, groups, flip_weight, flip_filter):
    """Upsampling as a strided transposed convolution followed by the filter.

    The transposed convolution inserts zeros and pads by ``k - 1 - t`` on each side; the filter's
    padding makes up the rest of the definition's padding (``t`` keeps both non-negative).
    """
    kh, kw = w.shape[2], w.shape[3]
    px0, px1, py0, py1 = pad
    px0, px1, py0, py1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
    pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
    # A transposed convolution is a true convolution: flip the weight to keep correlation semantics.
    x = _conv(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight)
    x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2,
                  flip_filter=flip_filter)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x


def conv2d_resample_ref(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False):
    """The definition of :func:`conv2d_resample`, step by step (slow; used by the tests)."""
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=_total_padding(f, up, down, padding), gain=up ** 2,
                  flip_filter=flip_filter)
    x = _conv(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     noise: Optional[torch.Tensor] = None, up: int = 1, down: int = 1, padding=0,
                     resample_filter: Optional[torch.Tensor] = None, demodulate: bool = True,
                     flip_weight: bool = True, fused_modconv: bool = True) -> torch.Tensor:
    """StyleGAN2's modulated convolution: per-sample weights ``weight * styles`` (scaled per input channel),
    demodulated to unit norm per output channel when ``demodulate``, then ``+ noise``.

    ``x`` [N, I, H, W], ``weight`` [O, I, kh, kw], ``styles`` [N, I], ``noise`` broadcastable to the
    output. ``fused_modconv`` runs one grouped convolution; otherwise the activations are scaled
    before and after a shared convolution (same result, often faster for large batches).
    In float16 the weight and styles are first scaled to max 1 to avoid overflow.
    """
    batch = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x
    if demodulate:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_ch, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                        groups=batch, flip_weight=flip_weight)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x
