"""``load_generator``: any supported checkpoint → a ready generator, without running code from the file.

Recognised, by content rather than by file name:

* official StyleGAN2-ADA / StyleGAN3 pickles (``G_ema``, else ``G``; ``D`` for the discriminator),
  read with a restricted unpickler (:mod:`inversion.checkpoints.safe_pickle`);
* rosinality/stylegan2-pytorch ``.pt`` checkpoints (``g_ema``), ``torch.load(weights_only=True)``;
* the project's own format: a folder (``config.json`` + ``weights.pt``) or a ``.pt`` dict with
  ``format == "facelatent-generator"`` (:mod:`inversion.checkpoints.native`).

``None`` means the embedded default generator (``inversion/models/default_generator/``).
Every failure is a :class:`CheckpointError` with one line naming the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Union

import torch

from inversion.checkpoints import native, official, rosinality
from inversion.checkpoints.safe_pickle import load_safe_pickle
from inversion.common.errors import CheckpointError, FaceLatentError

DEFAULT_GENERATOR_DIR = Path(__file__).resolve().parents[1] / "models" / "default_generator"
_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C

PathLike = Union[str, Path]


def _device(device: Union[None, str, torch.device]) -> torch.device:
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        return device
    from inversion.common.devices import pick_device
    return pick_device(device)


def _load_torch_dict(path: Path) -> dict:
    # rosinality's train.py stores its argparse options next to the weights; a Namespace only sets attributes.
    with torch.serialization.safe_globals([argparse.Namespace]):
        content = native.torch_load_safe(path)
    if not isinstance(content, dict):
        raise CheckpointError(f"{path} is a torch file but holds a {type(content).__name__}, not a checkpoint dict")
    return content


def _generator_from_torch_dict(content: dict, path: Path) -> torch.nn.Module:
    if content.get("format") == native.FORMAT:
        if "config" not in content or "state_dict" not in content:
            raise CheckpointError(f"{path}: a facelatent generator file without 'config' and 'state_dict'")
        return native.generator_from_parts(content["config"], content["state_dict"], path)
    if "g_ema" in content:
        return rosinality.generator_from_rosinality(content, path)
    keys = ", ".join(sorted(map(str, content))[:8])
    raise CheckpointError(f"{path}: a torch checkpoint without a generator (no 'g_ema' or facelatent format; keys: {keys})")


def _read_pickle_or_legacy(path: Path) -> tuple[str, object]:
    """('pickle', top-level dict) for official pickles, ('torch', dict) for legacy torch.save files."""
    data = path.read_bytes()
    if not data.startswith(b"\x80"):
        raise CheckpointError(f"{path} is neither a pickle, a torch checkpoint nor a facelatent generator folder")
    content = load_safe_pickle(path, data)
    if isinstance(content, int) and content == _LEGACY_TORCH_MAGIC:
        # A legacy (pre-zip) torch.save file: a pickled magic number, then its own records.
        return "torch", _load_torch_dict(path)
    if not isinstance(content, dict):
        raise CheckpointError(f"{path} is a pickle but not a StyleGAN2-ADA/StyleGAN3 network pickle")
    return "pickle", content


def _is_zip(path: Path) -> bool:
    """A torch.save zip archive starts with a local file header (``zipfile.is_zipfile`` looks at the end)."""
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _resolve_path(path: PathLike) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"no such checkpoint: {path}")
    return path


def load_generator(path: Optional[PathLike], device: Union[None, str, torch.device] = "cpu") -> torch.nn.Module:
    """Load a generator (eval mode, no gradients, float32 weights) onto ``device``.

    ``path=None`` loads the embedded default generator; it raises a :class:`FaceLatentError`
    while that model has not been trained into the package yet.
    """
    target = _device(device)
    if path is None:
        if not (DEFAULT_GENERATOR_DIR / native.CONFIG_NAME).is_file():
            raise FaceLatentError("the embedded default generator is not available in this version; "
                                  "pass a checkpoint with -g/--generator (an official StyleGAN2-ADA .pkl, say)")
        return native.load_native_folder(DEFAULT_GENERATOR_DIR).to(target)
    path = _resolve_path(path)
    if path.is_dir():
        return native.load_native_folder(path).to(target)
    if _is_zip(path):
        return _generator_from_torch_dict(_load_torch_dict(path), path).to(target)
    kind, content = _read_pickle_or_legacy(path)
    if kind == "torch":
        return _generator_from_torch_dict(content, path).to(target)
    record = official.pick_generator_record(content, path)
    return official.generator_from_record(record, path).to(target)


def load_discriminator(path: PathLike, device: Union[None, str, torch.device] = "cpu") -> torch.nn.Module:
    """Load the discriminator ``D`` of an official StyleGAN2-ADA pickle onto ``device``."""
    path = _resolve_path(path)
    if path.is_dir() or _is_zip(path):
        raise CheckpointError(f"{path}: discriminators are read from official StyleGAN2-ADA pickles only")
    kind, content = _read_pickle_or_legacy(path)
    record = content.get("D") if kind == "pickle" else None
    if record is None:
        raise CheckpointError(f"{path} holds no discriminator ('D')")
    return official.discriminator_from_record(record, path).to(_device(device))
