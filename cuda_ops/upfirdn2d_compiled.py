"""``upfirdn2d`` on the compiled kernels (C++ CPU or CUDA), as an autograd Function.

The kernels correlate with prepared weights ``w`` (:func:`prepare_weights`: the filter times the
gain, cast, flipped unless ``flip_filter``), exactly as the reference builds its conv2d weight. A
1-D (separable) filter runs as two passes, along x then along y, each with ``gain**0.5``. The
gradient with respect to ``x`` is upfirdn2d again, with up and down swapped, the filter flipped
and the padding adjusted (NVlabs' formulation), so it is differentiable to any order.
"""

from __future__ import annotations

import functools

import torch

from cuda_ops.builder import require_plugin
from cuda_ops.upfirdn2d_args import filter_size, parse_padding, parse_scaling


def prepare_weights(f: torch.Tensor, flip_filter: bool, gain: float, dtype: torch.dtype) -> torch.Tensor:
    """The correlation weights the kernels read: ``[fh, fw]`` or ``[fw]``, contiguous.

    Their dtype is ``dtype`` for float32/float64 data and float32 for half-precision data.
    """
    w = f * (gain ** (f.ndim / 2))
    w = w.to(dtype if dtype in (torch.float32, torch.float64) else torch.float32)
    if not flip_filter:
        w = w.flip(list(range(w.ndim)))
    return w.contiguous()


def upfirdn2d_compiled(x: torch.Tensor, f: torch.Tensor, up=1, down=1, padding=0, flip_filter=False,
                       gain=1, kind: str = "cpp", pixel_mode: bool = False) -> torch.Tensor:
    """:func:`cuda_ops.upfirdn2d` on the ``kind`` kernels; arguments already checked.

    ``pixel_mode`` makes the C++ module compute every pixel with the CUDA kernel's per-pixel code
    (slower; it is there so that the tests run that code). The CUDA module always does.
    """
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    pad = parse_padding(padding)
    fn = _upfirdn2d_function(upx, upy, downx, downy, pad, bool(flip_filter), float(gain), kind, pixel_mode)
    return fn.apply(x, f)


@functools.lru_cache(maxsize=None)
def _upfirdn2d_function(upx, upy, downx, downy, pad, flip_filter, gain, kind, pixel_mode):
    plugin = require_plugin(kind)
    padx0, padx1, pady0, pady1 = pad

    def run(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        w = prepare_weights(f, flip_filter, gain, x.dtype)
        if w.ndim == 2:
            return plugin.upfirdn2d(x, w, upx, upy, downx, downy, padx0, padx1, pady0, pady1, pixel_mode)
        y = plugin.upfirdn2d(x, w.unsqueeze(0), upx, 1, downx, 1, padx0, padx1, 0, 0, pixel_mode)
        return plugin.upfirdn2d(y, w.unsqueeze(1), 1, upy, 1, downy, 0, 0, pady0, pady1, pixel_mode)

    class Upfirdn2d(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, f):  # pylint: disable=arguments-differ
            ctx.save_for_backward(f)
            ctx.x_shape = x.shape
            return run(x, f)

        @staticmethod
        def backward(ctx, dy):  # pylint: disable=arguments-differ
            f, = ctx.saved_tensors
            _, _, ih, iw = ctx.x_shape
            _, _, oh, ow = dy.shape
            fw, fh = filter_size(f)
            p = (fw - padx0 - 1, iw * upx - ow * downx + padx0 - upx + 1,
                 fh - pady0 - 1, ih * upy - oh * downy + pady0 - upy + 1)
            dx = None
            if ctx.needs_input_grad[0]:
                back = _upfirdn2d_function(downx, downy, upx, upy, p, not flip_filter, gain, kind, pixel_mode)
                dx = back.apply(dy, f)
            return dx, None

    return Upfirdn2d
