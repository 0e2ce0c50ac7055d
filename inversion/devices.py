"""Choosing the torch device: CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from inversion.common.errors import FaceLatentError


def pick_device(name: str = "auto") -> torch.device:
    """Return the device for ``name``: ``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda``, ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise FaceLatentError(f"unknown device '{name}': use auto, cpu or cuda") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FaceLatentError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu")
    return device
