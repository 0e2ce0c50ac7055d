"""The arguments of ``upfirdn2d`` as both implementations read them: scaling, padding, filter size.

Shared by the reference (:mod:`cuda_ops.upfirdn2d`) and the kernels (:mod:`cuda_ops.upfirdn2d_compiled`),
as :mod:`cuda_ops.activations` is by the two ``bias_act`` implementations. ``up``/``down`` are an int or
``[sx, sy]``; ``padding`` is an int, ``[px, py]`` or ``[x0, x1, y0, y1]`` (left, right, top, bottom);
a filter is ``[fh, fw]`` (2-D) or ``[fw]`` (separable).
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch

Scaling = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int]]


def parse_scaling(scaling: Scaling) -> tuple[int, int]:
    """``up``/``down`` as ``(sx, sy)``, each >= 1."""
    if isinstance(scaling, int):
        scaling = [scaling, scaling]
    sx, sy = (int(s) for s in scaling)
    if sx < 1 or sy < 1:
        raise ValueError(f"up/down factors must be >= 1, got {scaling}")
    return sx, sy


def parse_padding(padding: Padding) -> tuple[int, int, int, int]:
    """``padding`` as ``(x0, x1, y0, y1)``: int → all four, ``[px, py]`` → ``(px, px, py, py)``."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    if len(padding) != 4:
        raise ValueError(f"padding must be an int, [px, py] or [x0, x1, y0, y1], got {padding}")
    x0, x1, y0, y1 = padding
    return x0, x1, y0, y1


def filter_size(f: Optional[torch.Tensor]) -> tuple[int, int]:
    """``(fw, fh)`` of a filter: ``[fh, fw]`` 2-D, or ``[fw]`` separable (then ``fh == fw``)."""
    if f is None:
        return 1, 1
    if not isinstance(f, torch.Tensor) or f.ndim not in (1, 2):
        raise ValueError("the filter must be a 1-D or 2-D tensor")
    fw, fh = int(f.shape[-1]), int(f.shape[0])
    if fw < 1 or fh < 1:
        raise ValueError("the filter must not be empty")
    return fw, fh
