"""Reading official StyleGAN2-ADA / StyleGAN3 pickles without running any code from them.

The official pickles store every network as a ``torch_utils.persistence`` object: a call of
``_reconstruct_persistent_obj(meta)`` whose ``meta`` holds the *source code* of the network's
module (``module_src``), the class name and the object's ``__dict__`` (its ``_init_args``,
``_init_kwargs``, ``_parameters``, ``_buffers`` and child ``_modules``). Unpickling them with the
standard library would ``exec`` that source. Here a restricted :class:`pickle.Unpickler` answers
``find_class`` only for a short list of harmless globals and turns each persistent object into a
:class:`PersistentObject` record; ``module_src`` is kept as text and never executed. Tensor
storages (``torch.storage._load_from_bytes``) are read with ``torch.load(weights_only=True)``.
Any other global makes :func:`load_safe_pickle` raise one :class:`CheckpointError` line.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from inversion.common.errors import CheckpointError


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (a plain dict with attribute access) in pickles."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class PersistentObject:
    """One ``torch_utils.persistence`` object read from a pickle, as data only.

    ``init_args``/``init_kwargs`` are the constructor arguments the official code recorded,
    ``attributes`` the plain (non-tensor, non-module) entries of its ``__dict__``, ``parameters``
    and ``buffers`` its own tensors (a buffer may be ``None``), ``children`` its sub-modules in
    registration order. ``module_src`` is the source text of its module: kept for inspection,
    never executed.
    """

    class_name: str
    module_src: str
    init_args: tuple = ()
    init_kwargs: dict = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    buffers: dict = field(default_factory=dict)
    non_persistent: set = field(default_factory=set)
    children: dict = field(default_factory=dict)

    def state_dict(self, prefix: str = "") -> "OrderedDict[str, torch.Tensor]":
        """Parameters and persistent buffers of this object and its children, named as ``nn.Module`` does."""
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, value in self.parameters.items():
            if value is not None:
                out[prefix + name] = value.detach()
        for name, value in self.buffers.items():
            if value is not None and name not in self.non_persistent:
                out[prefix + name] = value
        for name, child in self.children.items():
            if isinstance(child, PersistentObject):
                out.update(child.state_dict(prefix + name + "."))
        return out

    def find(self, class_name: str) -> list["PersistentObject"]:
        """Every object of ``class_name`` in this tree (this one included), depth first."""
        found = [self] if self.class_name == class_name else []
        for child in self.children.values():
            if isinstance(child, PersistentObject):
                found.extend(child.find(class_name))
        return found


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    """Replacement for ``torch_utils.persistence._reconstruct_persistent_obj``: records, never executes."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("a persistent object without the expected class metadata")
    state = meta.get("state")
    class_name = meta.get("class_name")
    if not isinstance(state, dict) or not isinstance(class_name, str):
        raise pickle.UnpicklingError(f"persistent object '{class_name}' has no readable state")
    init_kwargs = state.get("_init_kwargs", {})
    skip = {"_init_args", "_init_kwargs", "_parameters", "_buffers", "_modules", "_non_persistent_buffers_set"}
    attributes = {k: v for k, v in state.items() if k not in skip and not k.endswith(("hooks", "_hook"))}
    return PersistentObject(
        class_name=class_name,
        module_src=str(meta.get("module_src", "")),
        init_args=tuple(state.get("_init_args", ())),
        init_kwargs=dict(init_kwargs) if isinstance(init_kwargs, dict) else {},
        attributes=attributes,
        parameters=dict(state.get("_parameters", {}) or {}),
        buffers=dict(state.get("_buffers", {}) or {}),
        non_persistent=set(state.get("_non_persistent_buffers_set", set()) or set()),
        children=dict(state.get("_modules", {}) or {}),
    )


def _load_storage_from_bytes(data: bytes) -> Any:
    """Replacement for ``torch.storage._load_from_bytes``: the same bytes, read with weights_only=True."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("a tensor storage that is not a byte string")
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception:
        raise pickle.UnpicklingError("a tensor storage that holds more than tensors, refused: it could run code") from None


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """``torch._utils._rebuild_tensor_v2`` restricted to real storages and no hooks."""
    if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
        raise pickle.UnpicklingError("a tensor whose storage is not a torch storage")
    if backward_hooks:
        raise pickle.UnpicklingError("a tensor with backward hooks")
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, OrderedDict())


def _rebuild_parameter(data, requires_grad, backward_hooks, *_ignored):
    """``torch._utils._rebuild_parameter`` restricted to a tensor and no hooks."""
    if not isinstance(data, torch.Tensor) or backward_hooks:
        raise pickle.UnpicklingError("a parameter that is not a plain tensor")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _numpy_reconstruct(subtype, shape, dtype):
    """``numpy.core.multiarray._reconstruct`` restricted to plain ndarrays."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("a numpy array subclass")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numpy_scalar(dtype, data=None):
    """``numpy.core.multiarray.scalar`` restricted to non-object dtypes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("a numpy scalar of object type")
    return np.frombuffer(data, dtype=dtype, count=1)[0] if data is not None else dtype.type()


def _numpy_dtype(spec, align=False, copy=False):
    """``numpy.dtype`` restricted to named numeric/bool types."""
    if not isinstance(spec, str):
        raise pickle.UnpicklingError("a numpy dtype that is not named by a string")
    return np.dtype(spec, align, copy)


_ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle asked for a global that is not on the allowed list."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.qualified_name = f"{module}.{name}"


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``_ALLOWED`` and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not supported in this format")


def load_safe_pickle(path: Path, data: Optional[bytes] = None) -> Any:
    """Unpickle ``path`` (or ``data``) with :class:`RestrictedUnpickler`; one-line CheckpointError on failure."""
    try:
        stream = io.BytesIO(data) if data is not None else open(path, "rb")
    except OSError as err:
        raise CheckpointError(f"cannot read {path}: {err.strerror or err}") from None
    with stream:
        try:
            return RestrictedUnpickler(stream).load()
        except RefusedGlobal as err:
            raise CheckpointError(
                f"refusing to load {path}: it asks for '{err.qualified_name}', which could run code; "
                "only official StyleGAN2-ADA/StyleGAN3 pickles, rosinality .pt files and facelatent "
                "checkpoints are read"
            ) from None
        except Exception as err:  # a damaged or foreign file can make the unpickler fail in many ways
            reason = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
            raise CheckpointError(f"{path} is not a readable StyleGAN pickle ({reason[:200]})") from None
