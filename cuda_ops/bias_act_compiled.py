"""``bias_act`` on the compiled kernels (C++ CPU or CUDA), as autograd Functions with 2nd derivatives.

Structure after NVlabs: the forward kernel (grad=0) is wrapped in ``BiasAct``; its backward runs
``BiasActGrad``, the first-derivative kernel (grad=1), which is itself differentiable: its backward
runs the same kernel again for the part linear in the incoming gradient and the second-derivative
kernel (grad=2) for the part through the input. Tensors are made contiguous (the output is
contiguous). Unlike NVlabs, the output is also kept whenever ``clamp`` is set, so that swish's
gradient is zeroed where the output was clamped (as the reference's is).
"""

from __future__ import annotations

import functools
from typing import Optional

import torch

from cuda_ops.activations import get_activation
from cuda_ops.builder import require_plugin


def bias_act_compiled(x: torch.Tensor, b: Optional[torch.Tensor], dim: int, act: str, alpha: Optional[float],
                      gain: Optional[float], clamp: Optional[float], kind: str) -> torch.Tensor:
    """:func:`cuda_ops.bias_act` on the ``kind`` (``cpp``/``cuda``) kernels; arguments already checked."""
    spec = get_activation(act)
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    clamp = float(clamp if clamp is not None else -1)
    if act == "linear" and gain == 1 and clamp < 0 and b is None:
        return x
    if b is not None and b.dtype != x.dtype:  # promote as the reference's x + b does
        dtype = torch.result_type(x, b)
        x, b = x.to(dtype), b.to(dtype)
    return _bias_act_function(dim, act, alpha, gain, clamp, kind).apply(x, b)


def _sum_except(t: torch.Tensor, dim: int) -> torch.Tensor:
    return t.sum([i for i in range(t.ndim) if i != dim])


@functools.lru_cache(maxsize=None)
def _bias_act_function(dim: int, act: str, alpha: float, gain: float, clamp: float, kind: str):
    """The autograd Function for one configuration (classes cached per configuration, as in NVlabs)."""
    spec = get_activation(act)
    plugin = require_plugin(kind)
    keep_x = "x" in spec.ref or spec.has_2nd_grad
    keep_y = "y" in spec.ref or clamp >= 0
    identity_grad = act == "linear" and gain == 1 and clamp < 0

    def kernel(x, b, xref, yref, dy, grad):
        empty = x.new_empty([0])
        pick = lambda t: empty if t is None else t  # noqa: E731
        return plugin.bias_act(x, pick(b), pick(xref), pick(yref), pick(dy), grad, dim,
                               spec.kernel_index, alpha, gain, clamp)

    class BiasAct(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, b):  # pylint: disable=arguments-differ
            x = x.contiguous()
            b = b.contiguous() if b is not None else None
            y = kernel(x, b, None, None, None, 0)
            ctx.save_for_backward(x if keep_x else None, b if keep_x else None, y if keep_y else None)
            return y

        @staticmethod
        def backward(ctx, dy):  # pylint: disable=arguments-differ
            x, b, y = ctx.saved_tensors
            dx = db = None
            if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
                dy = dy.contiguous()
                dx = dy if identity_grad else BiasActGrad.apply(dy, x, b, y)
            if ctx.needs_input_grad[1]:
                db = _sum_except(dx, dim)
            return dx, db

    class BiasActGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, dy, x, b, y):  # pylint: disable=arguments-differ
            dx = kernel(dy, b, x, y, None, 1)
            ctx.save_for_backward(dy if spec.has_2nd_grad else None, x, b, y)
            return dx

        @staticmethod
        def backward(ctx, d_dx):  # pylint: disable=arguments-differ
            d_dx = d_dx.contiguous()
            dy, x, b, y = ctx.saved_tensors
            d_dy = d_x = d_b = None
            if ctx.needs_input_grad[0]:
                d_dy = BiasActGrad.apply(d_dx, x, b, y)
            if spec.has_2nd_grad and (ctx.needs_input_grad[1] or ctx.needs_input_grad[2]):
                d_x = kernel(d_dx, b, x, y, dy, 2)
            if spec.has_2nd_grad and ctx.needs_input_grad[2]:
                d_b = _sum_except(d_x, dim)
            return d_dy, d_x, d_b, None

    return BiasAct
