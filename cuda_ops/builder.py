"""Building the compiled kernels (placeholder until the C++/CUDA sources land: always unavailable)."""

from __future__ import annotations

from cuda_ops.dispatch import OpsUnavailableError


def get_plugin(kind: str, warn: bool = True):
    """The compiled module for ``kind`` (``cpp``/``cuda``), or ``None`` when it cannot be built."""
    return None


def require_plugin(kind: str):
    """The compiled module for ``kind``; raises :class:`OpsUnavailableError` when it cannot be built."""
    raise OpsUnavailableError(f"the {kind} kernels are not available in this version; use impl='ref'")
