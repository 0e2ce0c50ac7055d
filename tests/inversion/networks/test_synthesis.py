"""inversion.networks.synthesis: seeds to z, class labels, batched synthesis and the official rounding."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from inversion.common.errors import FaceLatentError
from inversion.networks.synthesis import class_label, official_uint8, synthesize_images, z_from_seeds


def test_seed_z_is_the_official_draw():
    z = z_from_seeds([0, 42, 2 ** 32 - 1], 128)
    assert z.shape == (3, 128) and z.dtype == np.float32
    for row, seed in zip(z, (0, 42, 2 ** 32 - 1)):  # the official generate.py: RandomState(seed).randn(1, z_dim)
        assert np.array_equal(row, np.random.RandomState(seed).randn(1, 128)[0].astype(np.float32))
    assert np.array_equal(z_from_seeds([42], 128)[0], z[1])  # a seed's z does not depend on its neighbours


def test_class_label_is_one_hot_for_conditional_generators_only():
    assert class_label(SimpleNamespace(c_dim=0), None) is None
    with pytest.raises(FaceLatentError, match="only for conditional"):
        class_label(SimpleNamespace(c_dim=0), 0)
    label = class_label(SimpleNamespace(c_dim=4), 2)
    assert label.dtype == torch.float32 and label.tolist() == [[0.0, 0.0, 1.0, 0.0]]
    for bad in (None, -1, 4):
        with pytest.raises(FaceLatentError, match="between 0 and 3"):
            class_label(SimpleNamespace(c_dim=4), bad)


def test_official_uint8_rounds_as_the_official_script():
    x = torch.tensor([-2.0, -1.0, -0.999, -0.5, 0.0, 0.3, 0.999, 1.0, 3.0]).reshape(1, 1, 1, 9)
    got = official_uint8(x)
    assert got.dtype == np.uint8 and got.shape == (1, 1, 9, 1)
    want = np.clip(x.numpy().reshape(-1) * np.float32(127.5) + np.float32(128), 0, 255).astype(np.uint8)
    assert got.reshape(-1).tolist() == want.tolist() == [0, 0, 0, 64, 128, 166, 255, 255, 255]
    rgb = torch.linspace(-1, 1, 2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    assert np.array_equal(official_uint8(rgb)[1, 2, 3], (rgb[1, :, 2, 3] * 127.5 + 128).to(torch.uint8).numpy())


def test_synthesis_matches_the_fixture_reference(G, shared):
    """The official code's images for the fixture's z (with its truncation) and ws."""
    ref = np.load(shared("fixtures", "stylegan2-ada_64_random_ref.npz"))
    from_z = synthesize_images(G, ref["z"].astype(np.float32), "z", float(ref["psi"]), "const", 0, torch.device("cpu"))
    from_w = synthesize_images(G, ref["ws"].astype(np.float32), "w", 1.0, "const", 0, torch.device("cpu"),
                               batch_size=3)
    assert from_z.shape == from_w.shape == ref["img"].shape and from_z.dtype == torch.float32
    assert np.abs(from_z.numpy() - ref["img"]).max() < 1e-3
    assert np.abs(from_w.numpy() - ref["img"]).max() < 1e-3


def test_random_noise_follows_the_seed(G):
    z = z_from_seeds([0, 1], G.z_dim)
    cpu = torch.device("cpu")
    a, b = (synthesize_images(G, z, "z", 1.0, "random", s, cpu) for s in (1, 1))
    assert torch.equal(a, b)
    assert not torch.allclose(a, synthesize_images(G, z, "z", 1.0, "random", 2, cpu))
    assert not torch.allclose(a, synthesize_images(G, z, "z", 1.0, "const", 1, cpu))


def test_the_same_images_as_facelatent_generate_writes(tmp_path):
    """On the embedded default generator: the PNGs ``facelatent generate --seeds`` writes are
    official_uint8(synthesize_images(z_from_seeds(seeds))), byte for byte in pixels."""
    from editor.cli.app import app
    from inversion.checkpoints import load_generator

    result = CliRunner().invoke(app, ["generate", "--seeds", "3,7", "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    G = load_generator(None, torch.device("cpu"))
    pixels = official_uint8(synthesize_images(G, z_from_seeds([3, 7], G.z_dim), "z", 1.0, "const", 0,
                                              torch.device("cpu")))
    for seed, want in zip((3, 7), pixels):
        got = np.asarray(Image.open(tmp_path / "out" / f"seed{seed:04d}.png"))
        assert np.array_equal(got.reshape(want.shape), want)
