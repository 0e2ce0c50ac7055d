"""Read a torch state dict saved in torch's *legacy* (pre-1.6, non-zip) format as numpy arrays, without torch.

The facenet-pytorch MTCNN weights (``mtcnn-pnet``, ``mtcnn-rnet``, ``mtcnn-onet``) are in this format;
reading them without importing torch lets face detection start in a fraction of a second.

The legacy file is a run of pickles followed by raw storage bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``, 2. the protocol version ``1001``, 3. a dict of
system facts (``little_endian``, ``type_sizes``), 4. the object itself (here an ``OrderedDict``
of tensors, each ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` with the
storage as a persistent id ``("storage", <type>, key, location, numel, view)``), 5. the list of
storage keys in file order, 6. for each key, an int64 element count and then the elements.

Safety: the unpickler resolves only ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
and the numeric storage types, each mapped to a plain-Python stand-in here (nothing from torch is
imported or called), and refuses every other global, so a crafted file cannot run code.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inversion.common.errors import CheckpointError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: type


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: type
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple
    stride: tuple


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError("a tensor without a storage")
    return _TensorRef(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _StateUnpickler(pickle.Unpickler):
    """Unpickles the state dict's structure; tensors come back as references into the storages."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        return _StorageRef(str(pid[2]), pid[1].dtype, int(pid[4]))


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")


def read_legacy_state(path: Path) -> dict[str, np.ndarray]:
    """``{name: array}`` of a legacy-format torch state dict; anything else is a :class:`CheckpointError`.

    Arrays keep the tensors' dtypes and shapes (conv weights ``[out, in, kh, kw]``), C-contiguous.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if _PlainUnpickler(f).load() != MAGIC_NUMBER:
                raise CheckpointError(f"{path}: not a legacy torch file (no magic number)")
            if _PlainUnpickler(f).load() != PROTOCOL_VERSION:
                raise CheckpointError(f"{path}: unsupported legacy torch protocol")
            facts = _PlainUnpickler(f).load()
            if not (isinstance(facts, dict) and facts.get("little_endian", False)):
                raise CheckpointError(f"{path}: only little-endian legacy torch files are supported")
            state = _StateUnpickler(f).load()
            keys = _PlainUnpickler(f).load()
            storages = {}
            refs = {t.storage.key: t.storage for t in state.values() if isinstance(t, _TensorRef)}
            for key in keys:
                (count,) = struct.unpack("<q", f.read(8))
                ref = refs.get(str(key))
                dtype = np.dtype(ref.dtype if ref is not None else np.uint8)
                data = f.read(count * dtype.itemsize)
                if len(data) != count * dtype.itemsize:
                    raise CheckpointError(f"{path}: truncated storage {key}")
                storages[str(key)] = np.frombuffer(data, dtype=dtype.newbyteorder("<"))
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error, AttributeError) as err:
        raise CheckpointError(f"{path}: not a legacy torch state dict ({err})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a state dict")
    out = {}
    for name, tensor in state.items():
        if not isinstance(tensor, _TensorRef) or tensor.storage.key not in storages:
            raise CheckpointError(f"{path}: entry {name!r} is not a stored tensor")
        flat = storages[tensor.storage.key]
        itemsize = flat.dtype.itemsize
        last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride) if n > 0)
        if tensor.offset < 0 or last >= flat.size:
            raise CheckpointError(f"{path}: entry {name!r} reaches outside its storage")
        view = np.lib.stride_tricks.as_strided(flat[tensor.offset:], tensor.size,
                                               tuple(s * itemsize for s in tensor.stride))
        out[str(name)] = np.ascontiguousarray(view).astype(flat.dtype.newbyteorder("="))
    return out
