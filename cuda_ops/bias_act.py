"""``bias_act``: add a bias, apply an activation, scale by a gain and clamp, in one op.

Semantics are those of NVlabs' StyleGAN2-ADA ``torch_utils/ops/bias_act.py``::

    y = clamp(act(x + b) * gain, -clamp, clamp)

``b`` is 1-D and broadcast along dimension ``dim`` of ``x``; ``alpha``/``gain`` default per
activation (see :mod:`cuda_ops.activations`); ``clamp=None`` means no clamping. Three
implementations compute it: :func:`bias_act_ref` (pure PyTorch, the readable definition), a C++
CPU kernel and a CUDA kernel; ``impl`` picks one (see :func:`cuda_ops.dispatch.resolve_impl`).
Every implementation supports first and second derivatives.
"""

from __future__ import annotations

from typing import Optional

import torch

from cuda_ops.activations import get_activation
from cuda_ops.bias_act_compiled import bias_act_compiled
from cuda_ops.dispatch import resolve_impl


def _check_args(x: torch.Tensor, b: Optional[torch.Tensor], dim: int, clamp: Optional[float]) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError("bias_act: x must be a torch.Tensor")
    if clamp is not None and clamp < 0:
        raise ValueError(f"bias_act: clamp must be >= 0 or None, got {clamp}")
    if b is not None:
        if not isinstance(b, torch.Tensor) or b.ndim != 1:
            raise ValueError("bias_act: b must be a 1-D tensor")
        if not 0 <= dim < x.ndim:
            raise ValueError(f"bias_act: dim {dim} is out of range for a {x.ndim}-D tensor")
        if b.device != x.device:
            raise ValueError(f"bias_act: b is on {b.device} but x is on {x.device}")
        if b.shape[0] != x.shape[dim]:
            raise ValueError(f"bias_act: b has {b.shape[0]} entries but x has {x.shape[dim]} along dim {dim}")


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, dim: int = 1, act: str = "linear",
             alpha: Optional[float] = None, gain: Optional[float] = None, clamp: Optional[float] = None,
             impl: Optional[str] = None) -> torch.Tensor:
    """Fused bias + activation + gain + clamp; returns a tensor of the shape and dtype of ``x``.

    Args:
        x: input of any shape and floating dtype.
        b: optional 1-D bias with ``x.shape[dim]`` entries, added along ``dim``.
        dim: the dimension of ``x`` that ``b`` runs along (1 = channels of NCHW).
        act: ``linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus, swish``.
        alpha: the activation's shape parameter (lrelu's negative slope, default 0.2).
        gain: factor applied after the activation (default per activation, e.g. sqrt(2) for lrelu).
        clamp: clamp the output to ``[-clamp, clamp]``; ``None`` = no clamping.
        impl: ``ref``, ``cpp``, ``cuda``, ``auto`` or ``None`` (= ``$FACELATENT_OPS``, default auto).
    """
    _check_args(x, b, dim, clamp)
    get_activation(act)
    compute_dtype = x.dtype if b is None else torch.result_type(x, b)  # x + b promotes
    chosen = resolve_impl(impl, x.device, compute_dtype)
    if chosen == "ref":
        return bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    return bias_act_compiled(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp, kind=chosen)


def bias_act_ref(x: torch.Tensor, b: Optional[torch.Tensor] = None, dim: int = 1, act: str = "linear",
                 alpha: Optional[float] = None, gain: Optional[float] = None,
                 clamp: Optional[float] = None) -> torch.Tensor:
    """The pure-PyTorch definition of :func:`bias_act` (differentiable through autograd)."""
    _check_args(x, b, dim, clamp)
    spec = get_activation(act)
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha=alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-float(clamp), float(clamp))
    return x
