"""Labelled latents: the generator-samples route, the images route, files and classifier input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from directions.emotions import EMOTIONS
from directions.fitting import LatentShapeError
from directions.labelled_latents import (
    LabelledLatents, latents_from_images, latents_from_samples, load_labelled_latents,
    save_labelled_latents, to_classifier_input,
)
from inversion.common.errors import FaceLatentError

FIXTURE = ("fixtures", "stylegan2-ada_64_random.pkl")


_CACHE: dict = {}


def load_generator_fixture(shared):
    """The fixture generator (random weights, 64 px) and its identity, loaded once per module."""
    from inversion.checkpoints import generator_identity, load_generator

    path = shared(*FIXTURE)
    if path not in _CACHE:
        G = load_generator(path, "cpu")
        _CACHE[path] = (G, generator_identity(G))
    return _CACHE[path]


def shipped_or_random_classifier(seed=0):
    """The shipped classifier when it has landed, else the project's classifier network with random
    weights: the route's plumbing is what is tested with it."""
    from directions.classifier import EmotionClassifier, build_model
    from inversion.common.errors import CheckpointError

    try:
        return EmotionClassifier.load()
    except CheckpointError:
        pass
    torch.manual_seed(seed)
    model = build_model()
    return EmotionClassifier(model, {"input_size": 48, "eval_crop": 48})


def test_to_classifier_input_grey_and_size():
    img = torch.zeros(2, 3, 64, 64)
    img[:, 0] = 1.0  # pure red
    img[1] = -1.0
    out = to_classifier_input(img)
    assert out.shape == (2, 1, 48, 48) and out.dtype == torch.float32
    # Red at +1, green/blue at 0 -> luma 0.299 in [-1, 1] units; black stays -1.
    assert torch.allclose(out[0], torch.full((1, 48, 48), 0.299), atol=1e-6)
    assert torch.allclose(out[1], torch.full((1, 48, 48), -1.0))
    assert to_classifier_input(torch.full((1, 1, 48, 48), 5.0)).max() == 1.0  # clamped
    with pytest.raises(LatentShapeError):
        to_classifier_input(torch.zeros(1, 2, 8, 8))


def test_samples_route_with_fixture_generator(shared):
    G, identity = load_generator_fixture(shared)
    clf = shipped_or_random_classifier()
    seen = []
    data = latents_from_samples(G, clf.predict, 10, seed=5, batch_size=4, generator_identity=identity,
                                progress=lambda done, total: seen.append((done, total)))
    assert seen == [(4, 10), (8, 10), (10, 10)]
    assert data.latents.shape == (10, G.w_dim) and data.probs.shape == (10, 7)
    assert torch.allclose(data.probs.sum(1), torch.ones(10), atol=1e-5)
    # The label is the classifier's top class on the render, its confidence the top probability.
    z = torch.randn(10, G.z_dim, generator=torch.Generator().manual_seed(5))
    ws = G.mapping(z, None, truncation_psi=0.7)
    assert torch.allclose(data.latents, ws[:, 0], atol=1e-5)
    probs = clf.predict(to_classifier_input(G.synthesis(ws, noise_mode="const")))
    assert torch.equal(data.labels, probs.argmax(1))
    assert torch.allclose(data.confidences, probs.max(1).values, atol=1e-5)
    assert data.generator == identity and "seed 5" in data.source
    again = latents_from_samples(G, clf.predict, 10, seed=5, batch_size=3)
    assert torch.allclose(again.latents, data.latents, atol=1e-5)  # batch size does not change the samples
    other = latents_from_samples(G, clf.predict, 4, seed=6, space="w+")
    assert other.latents.shape == (4, G.num_ws, G.w_dim)


def test_samples_route_checks_classifier_output(shared):
    G, _ = load_generator_fixture(shared)
    with pytest.raises(LatentShapeError, match="classifier returned"):
        latents_from_samples(G, lambda x: torch.ones(x.shape[0], 3), 2)


def test_images_route_encodes_in_batches_and_drops_failures():
    images = [np.full((8, 8, 3), i, dtype=np.uint8) for i in range(5)]
    labels = [0, 6, 0, 6, 1]
    batches = []

    def encode(batch):
        batches.append(len(batch))
        out = torch.stack([torch.full((4,), float(img[0, 0, 0])) for img in batch])
        out[[i for i, img in enumerate(batch) if img[0, 0, 0] == 3]] = float("nan")  # "no face found"
        return out

    data = latents_from_images(images, labels, encode, batch_size=2, source="toy")
    assert batches == [2, 2, 1]
    assert data.latents[:, 0].tolist() == [0.0, 1.0, 2.0, 4.0]
    assert data.labels.tolist() == [0, 6, 0, 1]
    assert torch.equal(data.confidences, torch.ones(4))
    assert "1 could not be encoded" in data.source
    with pytest.raises(FaceLatentError, match="no image"):
        latents_from_images(images[3:4], [0], encode)
    with pytest.raises(FaceLatentError):
        latents_from_images(images, labels[:2], encode)


def test_container_checks_and_counts():
    data = LabelledLatents(torch.zeros(3, 4), torch.tensor([0, 6, 6]), torch.ones(3), source="s")
    assert data.class_counts()["neutral"] == 2 and data.class_counts()["fear"] == 0
    assert "3 latents" in data.describe()
    with pytest.raises(LatentShapeError):
        LabelledLatents(torch.zeros(3, 4), torch.tensor([0, 9, 1]), torch.ones(3))
    with pytest.raises(LatentShapeError):
        LabelledLatents(torch.zeros(3, 4), torch.tensor([0, 1, 1]), torch.ones(2))
    with pytest.raises(LatentShapeError):
        LabelledLatents(torch.zeros(3, 4), torch.tensor([0, 1, 1]), torch.ones(3), probs=torch.ones(3, 5))


def test_file_round_trip(tmp_path):
    probs = torch.softmax(torch.randn(5, len(EMOTIONS), generator=torch.Generator().manual_seed(0)), 1)
    data = LabelledLatents(torch.randn(5, 3, 4), probs.argmax(1), probs.max(1).values, probs, "src", "g" * 64)
    path = save_labelled_latents(data, tmp_path / "l.pt")
    back = load_labelled_latents(path)
    assert torch.equal(back.latents, data.latents) and torch.equal(back.labels, data.labels)
    assert torch.equal(back.probs, data.probs) and back.source == "src" and back.generator == "g" * 64
    (tmp_path / "bad.pt").write_text("nope")
    with pytest.raises(FaceLatentError):
        load_labelled_latents(tmp_path / "bad.pt")
