"""Official StyleGAN2-ADA / StyleGAN3 pickles → this package's networks, without running their code.

The pickle is read by :mod:`inversion.checkpoints.safe_pickle` into :class:`PersistentObject`
records; the network is rebuilt here from the recorded constructor arguments (``_init_kwargs``) and
its weights are loaded with ``load_state_dict(strict=True)``. Which network a record is comes from
its structure (a synthesis with an ``input`` layer of class ``SynthesisInput`` is StyleGAN3), not
from the source code in the pickle, which is never executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from inversion.checkpoints.safe_pickle import PersistentObject
from inversion.common.errors import CheckpointError

GENERATOR_KEYS = ("G_ema", "G")
_POSITIONAL = {
    "Generator": ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"),
    "Discriminator": ("c_dim", "img_resolution", "img_channels"),
}
# Constructor options of the official code that only concern training speed or memory layout.
_IGNORED_OPTIONS = {"fused_modconv_default", "fp16_channels_last", "channels_last"}


def plain(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and dict subclasses turned into JSON-friendly Python."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _constructor_kwargs(record: PersistentObject, path: Path) -> dict:
    names = _POSITIONAL.get(record.class_name, ())
    if len(record.init_args) > len(names):
        raise CheckpointError(f"{path}: {record.class_name} has positional arguments this loader does not know")
    kwargs = dict(zip(names, record.init_args))
    kwargs.update(plain(record.init_kwargs))
    return kwargs


def _drop_ignored(options: dict) -> dict:
    return {k: v for k, v in options.items() if k not in _IGNORED_OPTIONS}


def is_stylegan3(record: PersistentObject) -> bool:
    """Whether a generator record is a StyleGAN3 (T/R) network rather than a StyleGAN2 one."""
    synthesis = record.children.get("synthesis")
    return isinstance(synthesis, PersistentObject) and any(
        isinstance(child, PersistentObject) and child.class_name == "SynthesisInput"
        for child in synthesis.children.values())


def _load_weights(module: torch.nn.Module, record: PersistentObject, path: Path, what: str) -> None:
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in record.state_dict().items()}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = [line.strip() for line in str(err).splitlines() if line.strip()][1:2]
        raise CheckpointError(f"{path}: the {what} weights do not fit the network described by its own "
                              f"arguments ({first[0][:200] if first else 'shape mismatch'})") from None


def generator_from_record(record: PersistentObject, path: Path, alignment: str = "ffhq") -> torch.nn.Module:
    """Build the generator a pickle record describes and load its weights (float32, CPU, eval mode)."""
    if record.class_name != "Generator":
        raise CheckpointError(f"{path}: expected a Generator, found a {record.class_name}")
    kwargs = _constructor_kwargs(record, path)
    mapping_kwargs = dict(kwargs.pop("mapping_kwargs", {}) or {})
    synthesis_kwargs = dict(kwargs.pop("synthesis_kwargs", {}) or {})
    base = {k: kwargs.pop(k) for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels") if k in kwargs}
    synthesis_kwargs = _drop_ignored({**synthesis_kwargs, **kwargs})  # StyleGAN3-era code passes them flat
    try:
        if is_stylegan3(record):
            from inversion.networks.stylegan3 import Generator as Generator3
            G = Generator3(**base, mapping_kwargs=mapping_kwargs, alignment=alignment, **synthesis_kwargs)
        else:
            from inversion.networks.stylegan2 import Generator as Generator2
            G = Generator2(**base, mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs,
                           alignment=alignment)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot build its generator ({err})") from None
    _load_weights(G, record, path, "generator")
    return G.eval().requires_grad_(False)


def discriminator_from_record(record: PersistentObject, path: Path) -> torch.nn.Module:
    """Build the StyleGAN2 discriminator a pickle record describes and load its weights."""
    from inversion.networks.discriminator import Discriminator

    if record.class_name != "Discriminator":
        raise CheckpointError(f"{path}: expected a Discriminator, found a {record.class_name}")
    kwargs = _constructor_kwargs(record, path)
    for key in ("block_kwargs", "mapping_kwargs", "epilogue_kwargs"):
        if key in kwargs:
            kwargs[key] = _drop_ignored(dict(kwargs[key] or {}))
    try:
        D = Discriminator(**_drop_ignored(kwargs))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot build its discriminator ({err})") from None
    _load_weights(D, record, path, "discriminator")
    return D.eval().requires_grad_(False)


def pick_generator_record(content: dict, path: Path) -> PersistentObject:
    """``G_ema`` if present, else ``G``."""
    for key in GENERATOR_KEYS:
        if isinstance(content.get(key), PersistentObject):
            return content[key]
    raise CheckpointError(f"{path} holds no generator ('G_ema' or 'G'); keys: {', '.join(map(str, content))}")
