"""The project's own generator format, and the weights' identity.

Two equivalent layouts, both read with ``torch.load(weights_only=True)``:

* a folder with ``config.json`` (the generator's ``config`` dict) and ``weights.pt`` (its state dict;
  any single ``.pt`` file is accepted in its place), plus optionally ``MODEL_CARD.md``;
* one ``.pt`` file holding ``{"format": "facelatent-generator", "version": 1, "config": {...},
  "state_dict": {...}}``.

``config["network"]`` says which class to build (``stylegan2`` or ``stylegan3``); the other keys are
its constructor arguments (``alignment`` included).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Union

import torch

from inversion.common.errors import CheckpointError

FORMAT = "facelatent-generator"
VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.pt"


def build_generator(config: dict, source: Union[str, Path] = "config") -> torch.nn.Module:
    """A generator with random weights for ``config`` (a dict as in ``G.config``)."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{source}: the generator config is not a JSON object")
    kwargs = dict(config)
    network = kwargs.pop("network", "stylegan2")
    try:
        if network == "stylegan2":
            from inversion.networks.stylegan2 import Generator
        elif network == "stylegan3":
            from inversion.networks.stylegan3 import Generator
        else:
            raise CheckpointError(f"{source}: unknown network '{network}' (expected stylegan2 or stylegan3)")
        return Generator(**kwargs)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: cannot build a generator from its config ({err})") from None


def generator_from_parts(config: dict, state_dict: dict, source: Union[str, Path]) -> torch.nn.Module:
    """Build from ``config`` and load ``state_dict`` strictly; float32, CPU, eval mode."""
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f"{source}: the weights are not a state dict of tensors")
    G = build_generator(config, source)
    try:
        G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}, strict=True)
    except RuntimeError as err:
        detail = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise CheckpointError(f"{source}: the weights do not fit its config ({detail[-1] if detail else err})") from None
    return G.eval().requires_grad_(False)


def load_native_folder(folder: Path) -> torch.nn.Module:
    """Load a ``config.json`` + ``weights.pt`` folder."""
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not weights_path.is_file():
        candidates = sorted(folder.glob("*.pt"))
        weights_path = candidates[0] if len(candidates) == 1 else weights_path
    if not config_path.is_file() or not weights_path.is_file():
        raise CheckpointError(f"{folder} is a folder but not a generator ({CONFIG_NAME} + {WEIGHTS_NAME}, "
                              "or + one .pt state dict)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{config_path} is not valid JSON ({err})") from None
    return generator_from_parts(config, torch_load_safe(weights_path), folder)


def torch_load_safe(path: Path):
    """``torch.load(path, weights_only=True)`` on the CPU, failures as one CheckpointError line."""
    from inversion.checkpoints.safe_load import load_tensors  # noqa: PLC0415

    return load_tensors(path, "torch checkpoint", CheckpointError)


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, renamed into place; nothing is left on failure."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_text(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_generator(G: torch.nn.Module, path: Union[str, Path]) -> Path:
    """Write ``G`` in the project's format: ``*.pt`` → one file, anything else → a folder. Atomic per file."""
    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in G.state_dict().items()}
    config = json.loads(json.dumps(G.config))
    if path.suffix == ".pt":
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save({"format": FORMAT, "version": VERSION, "config": config, "state_dict": state}, path)
        return path
    path.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(state, path / WEIGHTS_NAME)
    _atomic_write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", path / CONFIG_NAME)
    return path


def generator_identity(G: torch.nn.Module) -> str:
    """SHA-256 hex of the weights: every state-dict entry in name order (name, dtype, shape, bytes).

    Independent of the device and of the order of registration; float tensors are hashed as
    little-endian float32, so the same weights give the same identity however they were loaded.
    """
    digest = hashlib.sha256()
    state = G.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu")
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        tensor = tensor.contiguous()
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(f"{tensor.dtype}:{list(tensor.shape)}\0".encode("ascii"))
        digest.update(tensor.numpy().astype(tensor.numpy().dtype.newbyteorder("<"), copy=False).tobytes())
    return digest.hexdigest()
