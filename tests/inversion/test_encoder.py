"""The W+ encoder: shapes, the w_avg convention, files (round trip, float16, refusals) and matching."""

from __future__ import annotations

import pytest
import torch

from inversion.checkpoints.native import build_generator, generator_identity
from inversion.projection.encoder import Encoder, encoder_for, load_encoder, save_encoder
from inversion.common.errors import CheckpointError


def small_encoder(**kwargs) -> Encoder:
    torch.manual_seed(0)
    return Encoder(img_resolution=32, img_channels=1, num_ws=6, w_dim=16, channels=(8, 16, 16), hidden=32, **kwargs)


def test_shapes_and_w_avg_offset():
    E = small_encoder()
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    ws = E(x)
    assert ws.shape == (3, 6, 16) and ws.dtype == torch.float32
    E.w_avg.fill_(2.5)
    shifted = E(x)
    assert torch.allclose(shifted - ws, torch.full_like(ws, 2.5), atol=1e-6)
    shared, per_layer = E.offsets(x)
    assert torch.allclose(shifted, (E.w_avg + shared)[:, None] + per_layer, atol=1e-6)
    assert torch.allclose(E.encode_w(x), shifted.mean(dim=1), atol=1e-6)


def test_images_of_another_shape_are_refused():
    E = small_encoder()
    with pytest.raises(ValueError, match=r"\[N, 1, 32, 32\]"):
        E(torch.zeros(1, 3, 32, 32))


def test_different_faces_give_different_latents():
    E = small_encoder()
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    ws = E(x)
    assert (ws[0] - ws[1]).abs().max() > 1e-4


def test_file_round_trip_float32_and_float16(tmp_path):
    E = small_encoder(generator_identity="abc")
    E.w_avg.normal_()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    path = save_encoder(E, tmp_path / "enc.pt")
    loaded = load_encoder(path)
    assert loaded.config == E.config and not loaded.training
    assert torch.equal(loaded(x), E(x))
    half = load_encoder(save_encoder(E, tmp_path / "enc16.pt", half=True))
    assert (tmp_path / "enc16.pt").stat().st_size < 0.6 * path.stat().st_size
    assert torch.allclose(half(x), E(x), atol=2e-2)


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such encoder"):
        load_encoder(tmp_path / "missing.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a facelatent encoder"):
        load_encoder(tmp_path / "other.pt")
    E = small_encoder()
    content = {"format": "facelatent-encoder", "config": dict(E.config, hidden=64),
               "state_dict": E.state_dict()}
    torch.save(content, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_encoder(tmp_path / "mismatch.pt")


def test_encoder_for_matches_by_generator_identity(tmp_path, monkeypatch):
    import inversion.projection.encoder as module

    config = {"network": "stylegan2", "z_dim": 16, "w_dim": 16, "img_resolution": 32, "img_channels": 1,
              "mapping_kwargs": {"num_layers": 2}, "synthesis_kwargs": {"channel_base": 256, "channel_max": 16},
              "alignment": "tight"}
    torch.manual_seed(0)
    G = build_generator(config)
    other = build_generator(config)
    E = Encoder(img_resolution=32, img_channels=1, num_ws=G.num_ws, w_dim=16, channels=(8, 16, 16), hidden=32,
                generator_identity=generator_identity(G))
    monkeypatch.setattr(module, "DEFAULT_ENCODER_PATH", save_encoder(E, tmp_path / "encoder.pt"))
    assert encoder_for(G) is not None
    assert encoder_for(other) is None
    monkeypatch.setattr(module, "DEFAULT_ENCODER_PATH", tmp_path / "absent.pt")
    assert encoder_for(G) is None
