"""Choosing the implementation of an op: the reference, the C++ CPU kernel or the CUDA kernel.

``impl`` (per call) or else ``$FACELATENT_OPS``: ``auto`` (default) runs the CUDA kernel on CUDA
tensors and the C++ kernel on CPU tensors when they build, else the reference (one warning per
process for a failed build, never a retry); ``ref`` always runs the reference; ``cpp``/``cuda``
force a kernel and raise :class:`OpsUnavailableError` when it cannot be built or does not fit the
tensor's device. Building happens on first use, never at import (see :mod:`cuda_ops.builder`).
"""

from __future__ import annotations

import os
from typing import Optional

import torch

from cuda_ops import builder
from cuda_ops.builder import OpsUnavailableError

IMPLS = ("auto", "ref", "cpp", "cuda")
ENV_VAR = "FACELATENT_OPS"

#: Dtypes the C++ CPU kernels compute; others (float16, bfloat16) run the reference on the CPU.
CPU_KERNEL_DTYPES = (torch.float32, torch.float64)
#: Dtypes the CUDA kernels compute.
CUDA_KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def requested_impl(impl: Optional[str] = None) -> str:
    """The requested implementation: ``impl`` if given, else ``$FACELATENT_OPS``, else ``auto``."""
    name = impl if impl is not None else os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if name not in IMPLS:
        source = "impl" if impl is not None else ENV_VAR
        raise ValueError(f"{source}={name!r} is not one of {', '.join(IMPLS)}")
    return name


def _kind_for_device(device: torch.device) -> str:
    return "cuda" if device.type == "cuda" else "cpp"


def resolve_impl(impl: Optional[str], device: torch.device, dtype: torch.dtype) -> str:
    """Return ``ref``, ``cpp`` or ``cuda``: the implementation that will run for this tensor."""
    name = requested_impl(impl)
    if name == "ref":
        return "ref"
    natural = _kind_for_device(device)
    if name == "auto":
        dtypes = CUDA_KERNEL_DTYPES if natural == "cuda" else CPU_KERNEL_DTYPES
        if dtype not in dtypes or builder.get_plugin(natural, warn=True) is None:
            return "ref"
        return natural
    if name != natural:
        raise OpsUnavailableError(f"{ENV_VAR}/impl '{name}' cannot run on a {device.type} tensor")
    dtypes = CUDA_KERNEL_DTYPES if name == "cuda" else CPU_KERNEL_DTYPES
    if dtype not in dtypes:
        raise OpsUnavailableError(f"the {name} kernels do not support {dtype}; use impl='ref'")
    builder.require_plugin(name)
    return name
