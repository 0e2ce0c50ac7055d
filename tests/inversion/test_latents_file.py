"""Latents files: round trip through torch.load(weights_only=True), refusal with another generator, export."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from inversion.common.errors import IncompatibleModelError
from inversion.latents_file import (
    LATENTS_FORMAT, FaceLatent, LatentsFile, LatentsFileError, export_projected_w, face_generator, load_latents,
    save_latents,
)


def _face(G, index, space, with_delta=False):
    gen = torch.Generator().manual_seed(index)
    shape = (G.w_dim,) if space == "w" else (G.num_ws, G.w_dim)
    forward = torch.tensor([[0.5, 0.1, -3.0], [-0.1, 0.5, 7.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    noise = {name: torch.randn(1, 1, *buf.shape[-2:], generator=gen)
             for name, buf in G.synthesis.named_buffers() if name.endswith("noise_const")}
    delta = None
    if with_delta:
        weight = dict(G.named_parameters())["synthesis.b4.conv1.weight"]
        delta = {"synthesis.b4.conv1.weight": (0.01 * torch.randn(weight.shape, generator=gen)).half()}
    return FaceLatent(index=index, box=[10.0 * index, 20.0, 10.0 * index + 50, 80.0],
                      landmarks=torch.rand(68, 2, generator=gen) * 100, alignment="ffhq", forward=forward,
                      crop_size=G.img_resolution, latent=torch.randn(shape, generator=gen), noise=noise,
                      pti_delta=delta, metrics={"lpips": 0.25, "psnr": 21.5, "seconds": 3.0})


def _file(G, space="w+", faces=None):
    from inversion.checkpoints import generator_identity
    return LatentsFile(generator=generator_identity(G), num_ws=G.num_ws, w_dim=G.w_dim, resolution=G.img_resolution,
                       space=space, photo_path="photos/group.jpg", photo_size=(640, 480),
                       faces=faces if faces is not None else [_face(G, 0, space), _face(G, 2, space, with_delta=True)],
                       settings={"steps": 100, "pti_steps": 0, "seed": 7})


def test_round_trip_and_plain_weights_only_contents(G, tmp_path):
    data = _file(G)
    path = save_latents(tmp_path / "photo.latents.pt", data)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == LATENTS_FORMAT and raw["version"] == 1 and raw["space"] == "w+"
    assert raw["faces"][0]["forward"].dtype == torch.float64
    assert list(raw["faces"][0]["noise"].values())[0].ndim == 2
    back = load_latents(path, G)
    assert back.photo_size == (640, 480) and back.settings == data.settings and len(back.faces) == 2
    for want, got in zip(data.faces, back.faces):
        assert got.index == want.index and got.box == want.box and got.alignment == want.alignment
        assert torch.equal(got.latent, want.latent) and torch.equal(got.forward, want.forward)
        assert torch.equal(got.landmarks, want.landmarks) and got.metrics == want.metrics
        for name, maps in want.noise.items():
            assert torch.equal(got.noise_batch()[name], maps)
    assert back.faces[0].pti_delta is None
    assert torch.equal(back.faces[1].pti_delta["synthesis.b4.conv1.weight"],
                       data.faces[1].pti_delta["synthesis.b4.conv1.weight"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.latents.pt"]  # no temporary file left


def test_another_generator_is_refused_with_one_line(G, tmp_path):
    path = save_latents(tmp_path / "a.pt", _file(G))
    other = face_generator(G, _face(G, 1, "w", with_delta=True))  # a tuned copy: other weights
    with pytest.raises(IncompatibleModelError, match="another generator") as err:
        load_latents(path, other)
    assert "\n" not in str(err.value)
    with pytest.raises(IncompatibleModelError):
        load_latents(path, "0" * 64)
    assert load_latents(path, None).generator == _file(G).generator


def test_face_generator_applies_the_pti_delta(G):
    plain, tuned = _face(G, 0, "w"), _face(G, 2, "w", with_delta=True)
    assert face_generator(G, plain) is G
    copy = face_generator(G, tuned)
    delta = tuned.pti_delta["synthesis.b4.conv1.weight"].float()
    assert torch.allclose(copy.synthesis.b4.conv1.weight - G.synthesis.b4.conv1.weight, delta, atol=1e-6)


def test_export_projected_w_like_the_official_projector(G, tmp_path):
    faces = [_face(G, 0, "w"), _face(G, 1, "w")]
    path = export_projected_w(tmp_path / "projected_w.npz", _file(G, "w", faces))
    w = np.load(path)["w"]
    assert w.dtype == np.float32 and w.shape == (2, G.num_ws, G.w_dim)
    assert np.array_equal(w[1, 3], faces[1].latent.numpy()) and np.array_equal(w[1, 0], w[1, -1])


def test_bad_files_are_refused_with_one_line(G, tmp_path):
    with pytest.raises(LatentsFileError, match="not found"):
        load_latents(tmp_path / "missing.pt", G)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a torch file")
    with pytest.raises(LatentsFileError, match="is not a facelatent latents file"):
        load_latents(junk, G)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(LatentsFileError, match="not a facelatent latents file"):
        load_latents(other, G)
    newer = _file(G).to_dict()
    newer["version"] = 99
    torch.save(newer, tmp_path / "newer.pt")
    with pytest.raises(LatentsFileError, match="update facelatent"):
        load_latents(tmp_path / "newer.pt", G)
