"""directions.latent_sources: labelled latents from a dataset, generator samples or a file; latents to evaluate."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from directions.emotions import EMOTIONS
from directions.labelled_latents import LabelledLatents, save_labelled_latents
from directions.latent_sources import (
    check_one_source, dataset_faces, face_to_target, labelled_latents_from_dataset, labelled_latents_from_file,
    labelled_latents_from_samples, load_eval_latents, make_projector_encode,
)
from inversion.common.errors import FaceLatentError

JOY, NEUTRAL, SAD = EMOTIONS.index("joy"), EMOTIONS.index("neutral"), EMOTIONS.index("sadness")


def test_exactly_one_source():
    for given in ((1, None, None), (None, 4, None), (None, None, 1)):
        check_one_source(*given)
    for given in ((None, None, None), (1, 4, None), (1, 4, 1)):
        with pytest.raises(FaceLatentError, match="exactly one of --dataset PATH, --samples N or --latents FILE"):
            check_one_source(*given)


def test_face_to_target_scales_resizes_and_greys():
    rng = np.random.default_rng(0)
    rgb = SimpleNamespace(img_resolution=8, img_channels=3, config={})
    face = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    x = face_to_target(face, rgb, align=False)
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32
    assert torch.equal(x, torch.from_numpy(face.astype(np.float32) / 127.5 - 1).permute(2, 0, 1))
    assert x.min() >= -1 and x.max() <= 1
    big = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)  # larger crops shrink with INTER_AREA
    want = cv2.resize(big, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1
    assert torch.equal(face_to_target(big, rgb, align=False), torch.from_numpy(want).permute(2, 0, 1))
    small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)  # smaller ones grow with INTER_CUBIC
    want = cv2.resize(small, (8, 8), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 127.5 - 1
    assert torch.equal(face_to_target(small, rgb, align=False), torch.from_numpy(want).permute(2, 0, 1))
    grey = face_to_target(face, SimpleNamespace(img_resolution=8, img_channels=1, config={}), align=False)
    assert grey.shape == (1, 8, 8) and torch.allclose(grey[0], x.mean(0))
    assert face_to_target(np.full((64, 64, 3), 128, np.uint8), rgb, align=True) is None  # no face to align


def test_projector_encode_projects_found_faces_and_marks_the_rest(fixture_generator):
    G = fixture_generator
    rng = np.random.default_rng(1)
    faces = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(2)]
    encode = make_projector_encode(G, "w", steps=2, seed=5, align=False, lpips_net="alex")
    first = encode(faces)
    assert first.shape == (2, G.w_dim) and first.dtype == torch.float32 and torch.isfinite(first).all()
    again = make_projector_encode(G, "w", steps=2, seed=5, align=False, lpips_net="alex")(faces)
    assert torch.equal(first, again)  # same seed, same call order: same latents
    wplus = make_projector_encode(G, "w+", steps=1, seed=5, align=True, lpips_net="alex")
    blank = wplus([np.full((40, 40, 3), 128, np.uint8)])  # aligning finds no face: a NaN row, no projection
    assert blank.shape == (1, G.num_ws, G.w_dim) and torch.isnan(blank).all()


def _folder_dataset(root, per_class=3):
    rng = np.random.default_rng(0)
    for emotion in ("happy", "sad", "neutral"):
        (root / emotion).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / emotion / f"{i}.png")
    return root


def test_dataset_faces_keep_the_chosen_emotions_and_neutral(tmp_path):
    images = dataset_faces(_folder_dataset(tmp_path / "faces"), None, ["joy"], per_class=2, seed=0)
    assert len(images) == 4 and sorted(images.labels.tolist()) == [JOY, JOY, NEUTRAL, NEUTRAL]
    assert "folder faces" in images.description


def test_dataset_latents_are_what_encode_returns_with_the_dataset_labels(tmp_path):
    images = dataset_faces(_folder_dataset(tmp_path / "faces"), None, ["joy", "sadness"], per_class=3, seed=0)
    seen, calls = [], []

    def encode(batch):  # one number per face: its mean pixel
        seen.extend(batch)
        return torch.tensor([[float(face.mean())] for face in batch])

    data = labelled_latents_from_dataset(images, encode, batch_size=4, generator_identity="g" * 64,
                                         progress=lambda done, total: calls.append((done, total)))
    assert data.labels.tolist() == images.labels.tolist() and data.generator == "g" * 64
    assert torch.allclose(data.latents[:, 0], torch.tensor([float(images[i].mean()) for i in range(len(images))]))
    assert torch.all(data.confidences == 1) and len(seen) == 9 and calls[-1] == (9, 9)


def test_sample_latents_are_labelled_by_the_classifier(fixture_generator):
    G = fixture_generator

    def classify(x):  # joy for brighter-than-average renders, sadness otherwise
        bright = x.mean(dim=(1, 2, 3)) > x.mean()
        probs = torch.zeros(len(x), len(EMOTIONS))
        probs[bright, JOY], probs[~bright, SAD] = 0.9, 0.8
        probs[bright, NEUTRAL], probs[~bright, NEUTRAL] = 0.1, 0.2
        return probs

    data = labelled_latents_from_samples(G, classify, 6, seed=3, truncation_psi=0.7, space="w",
                                         generator_identity="id")
    assert data.latents.shape == (6, G.w_dim) and set(data.labels.tolist()) <= {JOY, SAD}
    assert torch.allclose(data.confidences, torch.where(data.labels == JOY, 0.9, 0.8))
    again = labelled_latents_from_samples(G, classify, 6, seed=3, truncation_psi=0.7, space="w",
                                          generator_identity="id")
    assert torch.equal(data.latents, again.latents)


def _saved(tmp_path, name, latents, generator):
    n = len(latents)
    return save_labelled_latents(LabelledLatents(latents, torch.full((n,), NEUTRAL), torch.ones(n),
                                                 generator=generator), tmp_path / name)


def test_file_latents_are_refused_for_another_generator(tmp_path):
    path = _saved(tmp_path, "a.pt", torch.randn(3, 4), "a" * 64)
    assert torch.equal(labelled_latents_from_file(path, "a" * 64).latents, torch.load(path)["latents"])
    with pytest.raises(FaceLatentError, match="was made with generator aaaaaaaaaaaa, not bbbbbbbbbbbb"):
        labelled_latents_from_file(path, "b" * 64)


def test_eval_latents_concatenate_and_broadcast_w_to_w_plus(tmp_path):
    w = torch.randn(2, 4)
    wplus = torch.randn(3, 5, 4)
    only_w = load_eval_latents([_saved(tmp_path, "w.pt", w, "g"), _saved(tmp_path, "w2.pt", w + 1, "g")], "g", 5)
    assert torch.equal(only_w, torch.cat([w, w + 1]))  # all W: stays [N, w_dim]
    mixed = load_eval_latents([_saved(tmp_path, "w.pt", w, "g"), _saved(tmp_path, "p.pt", wplus, "g")], "g", 5)
    assert mixed.shape == (5, 5, 4)
    assert torch.equal(mixed[:2], w[:, None].repeat(1, 5, 1)) and torch.equal(mixed[2:], wplus)
    with pytest.raises(FaceLatentError, match="was made with generator"):
        load_eval_latents([_saved(tmp_path, "o.pt", w, "other")], "g", 5)
    with pytest.raises(FaceLatentError, match="different shapes"):
        load_eval_latents([_saved(tmp_path, "p.pt", wplus, "g"), _saved(tmp_path, "q.pt", torch.randn(1, 2, 4), "g")],
                          "g", 5)


def test_eval_latents_from_an_invert_latents_file(fixture_generator, tmp_path):
    from inversion.checkpoints import generator_identity
    from inversion.latents_file import FaceLatent, LatentsFile, save_latents

    G = fixture_generator

    identity = generator_identity(G)
    latent = torch.randn(G.w_dim)
    face = FaceLatent(index=0, box=[0.0, 0.0, 10.0, 10.0], landmarks=torch.zeros(68, 2), alignment="ffhq",
                      forward=torch.eye(3, dtype=torch.float64), crop_size=G.img_resolution, latent=latent)
    path = save_latents(tmp_path / "photo.latents.pt", LatentsFile(
        generator=identity, num_ws=G.num_ws, w_dim=G.w_dim, resolution=G.img_resolution, space="w",
        photo_path="p.jpg", photo_size=(10, 10), faces=[face]))
    got = load_eval_latents([path], identity, G.num_ws)
    assert got.shape == (1, G.num_ws, G.w_dim) and torch.equal(got[0], latent.repeat(G.num_ws, 1))
    empty = save_latents(tmp_path / "none.latents.pt", LatentsFile(
        generator=identity, num_ws=G.num_ws, w_dim=G.w_dim, resolution=G.img_resolution, space="w",
        photo_path="p.jpg", photo_size=(10, 10), faces=[]))
    with pytest.raises(FaceLatentError, match="hold no faces"):
        load_eval_latents([empty], identity, G.num_ws)
