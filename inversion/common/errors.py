"""User-facing errors.

A :class:`FaceLatentError` carries one clear line for a person: what went wrong and, where there
is one, what to do about it. The CLI prints it on stderr and exits with code 1; it never shows a
traceback for these. Every layer (inversion, directions, editor) raises subclasses of it for bad
input, missing files and incompatible models; programming errors stay ordinary exceptions.
"""

from __future__ import annotations


class FaceLatentError(Exception):
    """An error caused by the user's input or environment; ``str(err)`` is the one line to show."""


class CheckpointError(FaceLatentError):
    """A model file that cannot be read, is of an unknown format, or would run code when loaded."""


class AssetMissingError(FaceLatentError):
    """Third-party weights that are not installed, not cached and could not be fetched."""


class ImageReadError(FaceLatentError):
    """A photo or video that is missing, empty, truncated, corrupt or of an unsupported format."""


class IncompatibleModelError(FaceLatentError):
    """A latents or directions file used with a generator other than the one it was made for."""
