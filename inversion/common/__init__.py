"""Helpers every layer uses (inversion, directions, editor); they import nothing else of the project.

:mod:`~inversion.common.errors` (the one-line user errors), :mod:`~inversion.common.devices`
(``pick_device``), :mod:`~inversion.common.images` (``read_photo``) and
:mod:`~inversion.common.output_files` (outputs checked before work, written atomically).

The names below are imported on first use (PEP 562): every CLI module imports ``errors`` at
start-up, which must not pull in torch (``devices``) or Pillow (``images``) with it.
"""

from inversion.common.lazy_names import lazy_names

_HOME = {
    "AssetMissingError": "errors", "CheckpointError": "errors", "FaceLatentError": "errors",
    "ImageReadError": "errors", "IncompatibleModelError": "errors",
    "pick_device": "devices",
    "read_photo": "images",
    "Stopped": "output_files", "atomic_output": "output_files", "check_output_file": "output_files",
    "check_output_folder": "output_files", "remove_temporaries": "output_files", "stop_on_signals": "output_files",
}

__getattr__, __dir__, __all__ = lazy_names(__name__, _HOME)
