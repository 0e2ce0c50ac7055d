"""The project's MTCNN against facenet-pytorch 2.6.0's own results, batching, and NMS."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inversion.common.images import read_photo
from inversion.faces.mtcnn import detect_mtcnn, load_mtcnn, nms


@pytest.fixture(scope="module")
def nets():
    return load_mtcnn("cpu")


def test_matches_facenet_pytorch_reference(shared, nets):
    ref = json.loads(shared("fixtures", "mtcnn", "facenet-pytorch_2.6.0_reference.json").read_text())
    settings = ref["settings"]
    assert settings["min_face_size"] == 20 and settings["factor"] == 0.709
    total = 0
    for name, expected in ref["results"].items():
        photo = read_photo(shared("data", "photos", name))
        found = detect_mtcnn(nets, photo, settings["min_face_size"], settings["thresholds"],
                             settings["factor"])[0]
        boxes = np.asarray(expected["boxes"])

        assert len(found.boxes) == len(boxes), name
        for box, prob, points in zip(boxes, expected["probs"], np.asarray(expected["keypoints5"])):
            j = np.abs(found.boxes - box).max(axis=1).argmin()  # match by position, not by order
            assert np.abs(found.boxes[j] - box).max() < 2.0, (name, found.boxes[j], box)
            assert abs(found.scores[j] - prob) < 1e-3, name
            assert np.abs(found.keypoints[j] - points).max() < 1.0, name
        total += len(boxes)
    assert total == 16


def test_batch_gives_the_same_faces_as_one_by_one(shared, nets):
    a = read_photo(shared("data", "photos", "2008_001322.jpg"))
    b = read_photo(shared("data", "photos", "2008_002079.jpg"))
    assert a.shape == b.shape
    batch = detect_mtcnn(nets, np.stack([a, b]))
    for image, result in zip((a, b), batch):
        single = detect_mtcnn(nets, image)[0]
        assert len(single.boxes) == len(result.boxes) > 0
        np.testing.assert_allclose(result.boxes, single.boxes, atol=1e-3)
        np.testing.assert_allclose(result.keypoints, single.keypoints, atol=1e-3)


def test_no_faces_in_a_flat_or_tiny_image(nets):
    assert len(detect_mtcnn(nets, np.full((120, 160, 3), 128, np.uint8))[0].boxes) == 0
    assert len(detect_mtcnn(nets, np.zeros((10, 10, 3), np.uint8))[0].boxes) == 0  # below 12 px
    with pytest.raises(ValueError):
        detect_mtcnn(nets, np.zeros((10, 10), np.uint8))


def test_nms_union_and_min():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [2, 2, 6, 6]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # IoU(0,1) = 81/119 = 0.68; box 3 lies inside box 0: IoU 16/100, min-overlap 25/25 with +1 areas.
    assert nms(boxes, scores, 0.5, "union").tolist() == [3, 0, 2]
    assert nms(boxes, scores, 0.7, "union").tolist() == [3, 0, 1, 2]
    assert nms(boxes, scores, 0.7, "min").tolist() == [3, 2]  # box 3 lies inside box 1 as well
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    with pytest.raises(ValueError):
        nms(boxes, scores, 0.5, "other")


def test_weights_that_do_not_fit_are_a_checkpoint_error(tmp_path, monkeypatch):
    import inversion.assets
    from inversion.common.errors import CheckpointError

    wrong = tmp_path / "wrong.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong)
    monkeypatch.setattr(inversion.assets, "resolve_asset", lambda name: wrong)
    load_mtcnn.cache_clear()
    try:
        with pytest.raises(CheckpointError, match="PNET"):
            load_mtcnn("cpu")
    finally:
        load_mtcnn.cache_clear()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_finds_the_same_faces_as_cpu(shared, nets):
    photo = read_photo(shared("data", "photos", "2007_007763.jpg"))
    cpu = detect_mtcnn(nets, photo)[0]
    gpu = detect_mtcnn(load_mtcnn("cuda"), photo)[0]
    assert len(gpu.boxes) == len(cpu.boxes) == 7
    np.testing.assert_allclose(gpu.boxes, cpu.boxes, atol=1.0)
    np.testing.assert_allclose(gpu.scores, cpu.scores, atol=1e-3)
