"""The shipped default generator + encoder: loads through the normal path, renders, reconstructs."""

from __future__ import annotations

import csv
import io
import tarfile

import numpy as np
import pytest
import torch

from inversion.checkpoints import generator_identity, load_generator
from inversion.checkpoints.loader import DEFAULT_GENERATOR_DIR
from inversion.projection.encoder import encoder_for

pytestmark = pytest.mark.skipif(not (DEFAULT_GENERATOR_DIR / "config.json").is_file(),
                                reason="the default generator has not been exported into this checkout")


@pytest.fixture(scope="module")
def default_G():
    torch.set_num_threads(1)
    return load_generator(None)


def test_loads_and_renders_tight_grey_faces(default_G):
    G = default_G
    assert G.config["alignment"] == "tight" and G.img_channels == 1 and G.img_resolution >= 64
    z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        img = G(z, truncation_psi=0.7, noise_mode="const")
    assert img.shape == (4, 1, G.img_resolution, G.img_resolution)
    assert torch.isfinite(img).all() and img.abs().amax() < 3
    assert img.std(dim=(1, 2, 3)).min() > 0.05  # faces, not flat images
    assert (img[0] - img[1]).abs().mean() > 0.01  # different z, different faces


def test_weights_are_small_enough_for_the_repo():
    total = sum(p.stat().st_size for p in DEFAULT_GENERATOR_DIR.glob("*.pt"))
    assert total < 20 * 2**20


def test_identity_is_stable_across_loads(default_G):
    assert generator_identity(load_generator(None)) == generator_identity(default_G)


def _held_out_faces128(shared, count: int = 16) -> np.ndarray:
    """The last ``count`` faces of faces128's labels.csv (held out from training), tight-aligned 64 px."""
    from PIL import Image

    from inversion.faces.alignment import align_face
    from inversion.faces.landmarks import predict_landmarks

    with tarfile.open(shared("data", "faces128", "faces128.tar")) as tar:
        members = {m.name.split("/")[-1]: m for m in tar.getmembers() if m.isfile()}
        rows = list(csv.DictReader(io.StringIO(tar.extractfile(members["labels.csv"]).read().decode())))
        faces = []
        for row in rows[-count:]:
            grey = np.asarray(Image.open(io.BytesIO(tar.extractfile(members[row["image"]]).read())).convert("L"))
            rgb = np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
            points = predict_landmarks(rgb, (0, 0, grey.shape[1], grey.shape[0]))
            faces.append(align_face(rgb, points, 64, variant="tight").image[:, :, 0])
    return np.stack(faces)


def test_encoder_reconstructs_held_out_faces_better_than_the_average(default_G, shared):
    G = default_G
    E = encoder_for(G)
    assert E is not None, "the default generator ships with its encoder"
    faces = torch.from_numpy(_held_out_faces128(shared)).float().unsqueeze(1) / 127.5 - 1
    with torch.no_grad():
        ws = E(faces)
        rec = G.synthesis(ws, noise_mode="const")
        avg = G.synthesis(G.mapping.w_avg.expand(len(faces), G.num_ws, -1), noise_mode="const")
    assert ws.shape == (len(faces), G.num_ws, G.w_dim)
    err_rec = (rec - faces).square().mean(dim=(1, 2, 3))
    err_avg = (avg - faces).square().mean(dim=(1, 2, 3))
    assert err_rec.mean() < 0.6 * err_avg.mean()
    assert (err_rec < err_avg).float().mean() >= 0.8
