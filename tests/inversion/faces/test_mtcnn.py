"""The project's numpy MTCNN against facenet-pytorch 2.6.0's own results, its layers against torch's, batching, NMS."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import torch.nn.functional as F

from inversion.assets import resolve_asset
from inversion.assets.legacy_state import read_legacy_state
from inversion.common.errors import CheckpointError
from inversion.common.images import read_photo
from inversion.faces.mtcnn import area_resize, conv2d, detect_mtcnn, load_mtcnn, max_pool, nms, prelu


@pytest.fixture(scope="module")
def nets():
    return load_mtcnn()


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
    import inversion.faces.mtcnn

    wrong = tmp_path / "wrong.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong, _use_new_zipfile_serialization=False)
    monkeypatch.setattr(inversion.faces.mtcnn, "resolve_asset", lambda name: wrong)
    load_mtcnn.cache_clear()
    try:
        with pytest.raises(CheckpointError, match="PNET"):
            load_mtcnn()
    finally:
        load_mtcnn.cache_clear()


@pytest.mark.parametrize("name", ["mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"])
def test_legacy_state_reader_gives_what_torch_load_gives(name):
    path = resolve_asset(name)
    ours, theirs = read_legacy_state(path), torch.load(path, map_location="cpu", weights_only=True)
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert ours[key].dtype == np.float32
        np.testing.assert_array_equal(ours[key], value.numpy(), err_msg=key)


def test_legacy_state_reader_refuses_other_files(tmp_path):
    zipped = tmp_path / "zipped.pt"
    torch.save({"w": torch.ones(2)}, zipped)  # the current (zip) format
    with pytest.raises(CheckpointError, match="not a legacy torch"):
        read_legacy_state(zipped)
    crafted = tmp_path / "crafted.pt"
    import pickle
    with open(crafted, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(obj, f, protocol=2)
        f.write(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    with pytest.raises(CheckpointError, match="refusing global os.system"):
        read_legacy_state(crafted)


def test_layers_match_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 17, 23)).astype(np.float32)
    weight, bias = rng.normal(size=(5, 3, 3, 2)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    nhwc = x.transpose(0, 2, 3, 1)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias)).numpy()
    np.testing.assert_allclose(conv2d(nhwc, weight, bias).transpose(0, 3, 1, 2), expected, atol=1e-5)
    for kernel, stride in ((2, 2), (3, 2)):
        expected = F.max_pool2d(torch.from_numpy(x), kernel, stride, ceil_mode=True).numpy()
        np.testing.assert_array_equal(max_pool(nhwc, kernel, stride).transpose(0, 3, 1, 2), expected)
    slope = np.array([0.25, -0.5, 2.0], np.float32)
    expected = F.prelu(torch.from_numpy(x), torch.from_numpy(slope)).numpy()
    np.testing.assert_allclose(prelu(nhwc, slope).transpose(0, 3, 1, 2), expected, atol=1e-7)
    for size in ((12, 12), (5, 9), (17, 23)):
        expected = F.interpolate(torch.from_numpy(x), size=size, mode="area").numpy()
        np.testing.assert_allclose(area_resize(x, size), expected, atol=1e-5)


def test_detection_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from inversion.faces.detection import find_faces; "
            "from inversion.common.images import read_photo; "
            "found = find_faces(read_photo('docs/examples/astronaut.jpg')).faces; "
            "print(len(found), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=__import__("pathlib").Path(__file__).resolve().parents[3])
    assert out.stdout.split() == ["1", "False"]
