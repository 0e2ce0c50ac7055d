"""FER2013 faces by usage from the prepared face-data file, and their encoding."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from directions.encoded_faces import FaceDataError, encode_images, fer_faces, fer_usage, pick


def write_fer_csv(path, usages):
    with gzip.open(path, "wt") as handle:
        handle.write("emotion,pixels,Usage\n")
        for u in usages:
            handle.write(f"0,{' '.join(['0'] * 4)},{u}\n")


def test_fer_faces_split_by_the_csv_usage(tmp_path):
    usages = ["Training", "PublicTest", "Training", "PrivateTest", "PublicTest"]
    write_fer_csv(tmp_path / "fer.csv.gz", usages)
    assert list(fer_usage(tmp_path / "fer.csv.gz")) == usages
    images = np.arange(7 * 4, dtype=np.uint8).reshape(7, 2, 2)
    # rows 0-1 from faces128 (source 0), then FER rows 4, 0, 1, 2, 3 in a shuffled order; one unlabelled
    np.savez(tmp_path / "faces.npz", images=images, source=np.array([0, 0, 1, 1, 1, 1, 1], np.int8),
             row=np.array([0, 1, 4, 0, 1, 2, 3]), labels=np.array([3, 3, 5, 6, 2, -1, 1]),
             split=np.zeros(7, np.int8))
    public, labels = fer_faces(tmp_path / "faces.npz", tmp_path / "fer.csv.gz", "PublicTest")
    assert np.array_equal(public, images[[2, 4]]) and list(labels) == [5, 2]
    training, labels = fer_faces(tmp_path / "faces.npz", tmp_path / "fer.csv.gz", "Training")
    assert np.array_equal(training, images[[3]]) and list(labels) == [6]  # row 2 is unlabelled
    with pytest.raises(FaceDataError, match="unknown FER2013 usage"):
        fer_faces(tmp_path / "faces.npz", tmp_path / "fer.csv.gz", "Test")
    with pytest.raises(FaceDataError, match="no such face-data file"):
        fer_faces(tmp_path / "none.npz", tmp_path / "fer.csv.gz", "Training")
    np.savez(tmp_path / "other.npz", images=images)
    with pytest.raises(FaceDataError, match="lacks"):
        fer_faces(tmp_path / "other.npz", tmp_path / "fer.csv.gz", "Training")


def test_shared_fer2013_usage_counts(shared):
    usage = fer_usage(shared("data", "fer2013", "fer2013.csv.gz"))
    assert len(usage) == 35886
    assert {u: int((usage == u).sum()) for u in set(usage)} == {"Training": 28708, "PublicTest": 3589,
                                                                "PrivateTest": 3589}


def test_pick_is_seeded_and_encode_gives_wplus():
    labels = np.array([6, 0, 6, 6, 1, 6, 6])
    a, b = pick(labels, 6, 3, seed=0), pick(labels, 6, 3, seed=0)
    assert np.array_equal(a, b) and len(a) == 3 and all(labels[a] == 6) and np.all(np.diff(a) > 0)
    assert len(pick(labels, 1, 5, seed=0)) == 1
    from inversion.checkpoints import load_generator  # noqa: PLC0415
    from inversion.projection.encoder import encoder_for  # noqa: PLC0415

    G = load_generator(None)
    E = encoder_for(G)
    if E is None:
        pytest.skip("the embedded generator has no encoder")
    faces = np.random.default_rng(0).integers(0, 256, (3, G.img_resolution, G.img_resolution), dtype=np.uint8)
    ws = encode_images(E, faces, batch_size=2)
    assert ws.shape == (3, G.num_ws, G.w_dim) and ws.dtype == torch.float32
    with torch.no_grad():
        one = E(torch.from_numpy(faces[1:2]).float().unsqueeze(1) / 127.5 - 1)
    assert torch.allclose(ws[1:2], one, atol=1e-5)
