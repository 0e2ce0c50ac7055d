"""Helpers every layer uses (inversion, directions, editor); they import nothing else of the project.

:mod:`~inversion.common.errors` (the one-line user errors), :mod:`~inversion.common.devices`
(``pick_device``), :mod:`~inversion.common.images` (``read_photo``) and
:mod:`~inversion.common.output_files` (outputs checked before work, written atomically).

The names below are imported on first use (PEP 562): every CLI module imports ``errors`` at
start-up, which must not pull in torch (``devices``) or Pillow (``images``) with it.
"""

import importlib

_HOME = {
    "AssetMissingError": "errors", "CheckpointError": "errors", "FaceLatentError": "errors",
    "ImageReadError": "errors", "IncompatibleModelError": "errors",
    "pick_device": "devices",
    "read_photo": "images",
    "Stopped": "output_files", "atomic_output": "output_files", "check_output_file": "output_files",
    "check_output_folder": "output_files", "remove_temporaries": "output_files", "stop_on_signals": "output_files",
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
