"""The one table describing the activation functions of :func:`cuda_ops.bias_act`.

Each entry drives every implementation: ``func`` is the readable PyTorch definition used by the
reference, ``kernel_index`` selects the same activation in the C++ and CUDA kernels (the ``A``
template argument in ``csrc/bias_act_math.h``), ``def_alpha``/``def_gain`` are the defaults
(``gain`` sqrt(2) for the ReLU family and swish, as in StyleGAN2), ``ref`` says which tensor the
first derivative needs (``"x"`` the biased input, ``"y"`` the output, ``""`` none), and
``has_2nd_grad`` whether the first derivative itself depends on the input (piecewise-linear
activations have a zero second derivative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Activation:
    """One activation: its definition, defaults and how the kernels compute its derivatives."""

    name: str
    func: Callable[..., torch.Tensor]
    def_alpha: float
    def_gain: float
    kernel_index: int
    ref: str
    has_2nd_grad: bool


def _table(*rows: Activation) -> dict[str, Activation]:
    return {row.name: row for row in rows}


ACTIVATIONS: dict[str, Activation] = _table(
    Activation("linear", lambda x, **_: x, 0.0, 1.0, 1, "", False),
    Activation("relu", lambda x, **_: F.relu(x), 0.0, math.sqrt(2), 2, "y", False),
    Activation("lrelu", lambda x, alpha, **_: F.leaky_relu(x, alpha), 0.2, math.sqrt(2), 3, "y", False),
    Activation("tanh", lambda x, **_: torch.tanh(x), 0.0, 1.0, 4, "y", True),
    Activation("sigmoid", lambda x, **_: torch.sigmoid(x), 0.0, 1.0, 5, "y", True),
    Activation("elu", lambda x, **_: F.elu(x), 0.0, 1.0, 6, "y", True),
    Activation("selu", lambda x, **_: F.selu(x), 0.0, 1.0, 7, "y", True),
    Activation("softplus", lambda x, **_: F.softplus(x), 0.0, 1.0, 8, "y", True),
    Activation("swish", lambda x, **_: torch.sigmoid(x) * x, 0.0, math.sqrt(2), 9, "x", True),
)


def get_activation(name: str) -> Activation:
    """The table entry for ``name``; ``ValueError`` naming the choices for an unknown one."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation '{name}': use one of {', '.join(ACTIVATIONS)}") from None
