"""The emotion classifier: network shapes, preprocessing, gradients, loading, shipped accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from directions.classifier import (DEFAULT_ARCH, DEFAULT_MODEL_DIR, EmotionClassifier, build_model,
                                  describe_view_sets, targeted_attack)
from directions.emotions import EMOTIONS
from directions.fer2013 import read_fer2013
from inversion.common.errors import CheckpointError, FaceLatentError, ImageReadError


@pytest.fixture(scope="module")
def random_classifier():
    torch.manual_seed(0)
    model = build_model(DEFAULT_ARCH)
    return EmotionClassifier(model, {"arch": DEFAULT_ARCH, "input_size": 48, "eval_crop": 40})


@pytest.mark.parametrize("size", [40, 48, 64])
def test_forward_shapes(size):
    model = build_model().eval()
    out = model(torch.randn(3, 1, size, size))
    assert out.shape == (3, len(EMOTIONS))
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 3e6
    with pytest.raises(ValueError, match="grey input"):
        model(torch.randn(2, 3, 48, 48))


def test_predict_uint8_any_size_and_colour(random_classifier):
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (48, 48), dtype=np.uint8), rng.integers(0, 256, (97, 80, 3), dtype=np.uint8),
             rng.integers(0, 256, (20, 20, 4), dtype=np.uint8)]
    probs = random_classifier.predict(crops)
    assert probs.shape == (3, 7)
    torch.testing.assert_close(probs.sum(1), torch.ones(3))
    single = random_classifier.predict(crops[1])
    torch.testing.assert_close(single[0], probs[1])


def test_uint8_and_float_paths_agree(random_classifier):
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (2, 48, 48), dtype=np.uint8)
    as_float = torch.from_numpy(grey).float().unsqueeze(1) / 127.5 - 1
    torch.testing.assert_close(random_classifier.predict(grey), random_classifier.predict(as_float))
    rgb = torch.from_numpy(np.repeat(grey[..., None], 3, -1)).permute(0, 3, 1, 2).float() / 127.5 - 1
    torch.testing.assert_close(random_classifier.predict(rgb), random_classifier.predict(as_float), atol=1e-5, rtol=0)


def test_predict_is_differentiable(random_classifier):
    x = (torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_()
    probs = random_classifier.predict(x)
    probs[:, EMOTIONS.index("joy")].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in random_classifier.model.parameters())


def test_bad_inputs(random_classifier):
    with pytest.raises(ImageReadError, match="uint8"):
        random_classifier.predict([np.zeros((48, 48), dtype=np.float64)])
    with pytest.raises(FaceLatentError, match="float tensor"):
        random_classifier.predict(torch.zeros(1, 2, 48, 48))


def test_load_missing_or_broken(tmp_path):
    with pytest.raises(CheckpointError, match="missing"):
        EmotionClassifier.load(tmp_path)
    (tmp_path / "weights.pt").write_bytes(b"garbage")
    (tmp_path / "config.json").write_text(json.dumps({"arch": DEFAULT_ARCH}))
    with pytest.raises(CheckpointError, match="cannot load") as info:
        EmotionClassifier.load(tmp_path)
    assert "\n" not in str(info.value)


def test_save_load_round_trip(tmp_path, random_classifier):
    torch.save(random_classifier.model.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "config.json").write_text(json.dumps(random_classifier.config))
    loaded = EmotionClassifier.load(tmp_path / "weights.pt")
    x = torch.rand(2, 1, 48, 48) * 2 - 1
    torch.testing.assert_close(loaded.predict(x), random_classifier.predict(x))


def test_shipped_classifier_accuracy(shared):
    """The shipped model, through the public API, on 500 PrivateTest faces (chance ≈ 25 %)."""
    clf = EmotionClassifier.load()
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    data = read_fer2013(shared("data", "fer2013", "fer2013.csv.gz")).split("PrivateTest")
    with torch.no_grad():
        probs = torch.cat([clf.predict(list(data.images[i:i + 50])) for i in range(0, 500, 50)])
    accuracy = float((probs.argmax(1).numpy() == data.labels[:500]).mean())
    assert accuracy >= 0.63, accuracy
    # the card's figure on the whole split is consistent with this subset
    assert abs(accuracy - config["metrics"]["PrivateTest"]["accuracy"]) < 0.06


def test_targeted_attack_rgb_and_noop(shared):
    """The attack on an RGB crop of another size reaches the target within a few grey levels."""
    clf = EmotionClassifier.load()
    face = read_fer2013(shared("data", "fer2013", "fer2013.csv.gz")).split("PrivateTest").images[2]
    rgb = np.ascontiguousarray(np.repeat(np.kron(face, np.ones((2, 2), np.uint8))[..., None], 3, -1))  # 96×96×3
    with torch.no_grad():
        order = clf.predict(rgb)[0].argsort(descending=True)
    same, info = targeted_attack(clf, rgb, EMOTIONS[int(order[0])])
    assert info["linf"] == 0 and np.array_equal(same, rgb)
    target = EMOTIONS[int(order[2])]
    adv, info = targeted_attack(clf, rgb, target)
    assert adv.shape == rgb.shape and adv.dtype == np.uint8
    assert info["linf"] == int(np.abs(adv.astype(int) - rgb.astype(int)).max()) <= 8
    with torch.no_grad():
        assert EMOTIONS[int(clf.predict(adv).argmax(1)[0])] == target
    with pytest.raises(FaceLatentError, match="unknown emotion"):
        targeted_attack(clf, rgb, "bliss")


def test_test_time_views_are_shifted_crops_and_mirrors(random_classifier):
    """tta_offsets: each shifted crop (clamped inside the face) and its mirror; logits are their mean."""
    config = {"arch": DEFAULT_ARCH, "input_size": 48, "eval_crop": 40, "tta_offsets": [[0, 0], [-2, 3], [9, -9]]}
    clf = EmotionClassifier(random_classifier.model, config)
    x = torch.rand(2, 1, 48, 48, generator=torch.Generator().manual_seed(3)) * 2 - 1
    views = clf.view_logits(x)
    assert views.shape == (6, 2, len(EMOTIONS))
    net = clf.model
    with torch.no_grad():
        crops = [x[..., 4:44, 4:44], x[..., 2:42, 7:47], x[..., 8:48, 0:40]]  # centre 4; +9 and -9 clamped
        expected = torch.stack([net(c) for crop in crops for c in (crop, crop.flip(-1))])
    torch.testing.assert_close(views, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(clf.logits(x), expected.mean(0), atol=1e-5, rtol=1e-5)
    plain = random_classifier.view_logits(x)  # no tta_offsets: the centre crop and its mirror
    torch.testing.assert_close(plain, expected[:2], atol=1e-5, rtol=1e-5)


def _model_folder(tmp_path, clf, **config):
    torch.save(clf.model.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "config.json").write_text(json.dumps({**clf.config, **config}))
    return tmp_path


def test_view_sets_fast_and_accurate(tmp_path, random_classifier):
    """views="accurate" evaluates the config's accurate_offsets (each crop + mirror), "fast" its tta_offsets."""
    accurate = [[0, 0], [-2, 2], [4, -4]]
    folder = _model_folder(tmp_path, random_classifier, tta_offsets=[[0, 0]], accurate_offsets=accurate)
    fast, slow = EmotionClassifier.load(folder), EmotionClassifier.load(folder, views="accurate")
    assert (fast.views, slow.views) == ("fast", "accurate")
    x = torch.rand(3, 1, 48, 48, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.no_grad():
        assert fast.view_logits(x).shape[0] == 2 and slow.view_logits(x).shape[0] == 2 * len(accurate)
        by_hand = fast.view_logits(x, accurate)  # the same network, the accurate shifts passed explicitly
        torch.testing.assert_close(slow.predict(x), torch.softmax(by_hand.mean(0), 1))
        torch.testing.assert_close(fast.predict(x), torch.softmax(by_hand[:2].mean(0), 1))  # centre + mirror
    assert not torch.allclose(slow.predict(x), fast.predict(x))  # the extra views count


def test_accurate_set_averages_ensemble_members(tmp_path, random_classifier):
    """accurate_members: extra networks in the folder; the accurate set averages every network's views,
    the fast set stays weights.pt alone; a missing member file is one clear CheckpointError."""
    torch.manual_seed(1)
    other = build_model(DEFAULT_ARCH).eval()
    torch.save({k: v.half() for k, v in other.state_dict().items()}, tmp_path / "member_1.pt")
    accurate = [[0, 0], [2, -2]]
    folder = _model_folder(tmp_path, random_classifier, tta_offsets=[[0, 0]], accurate_offsets=accurate,
                           accurate_members=[{"weights": "member_1.pt", "arch": DEFAULT_ARCH}])
    fast, slow = EmotionClassifier.load(folder), EmotionClassifier.load(folder, views="accurate")
    assert (len(fast.networks), len(slow.networks)) == (1, 2)
    x = torch.rand(3, 1, 48, 48, generator=torch.Generator().manual_seed(6)) * 2 - 1
    alone = EmotionClassifier(other, {**random_classifier.config, "tta_offsets": accurate})
    with torch.no_grad():
        views = slow.view_logits(x)
        assert views.shape == (2 * 2 * len(accurate), 3, len(EMOTIONS))
        first, second = fast.view_logits(x, accurate), alone.view_logits(x)  # second: float16-rounded weights
        torch.testing.assert_close(views[:4], first)
        torch.testing.assert_close(views[4:], second, atol=2e-2, rtol=0)
        torch.testing.assert_close(slow.predict(x), torch.softmax(views.mean(0), 1))
        assert not torch.allclose(slow.predict(x), torch.softmax(first.mean(0), 1), atol=1e-3)  # the member counts
    sets = describe_view_sets(json.loads((folder / "config.json").read_text()))
    assert (sets["fast"]["networks"], sets["accurate"]["networks"]) == (1, 2)
    (folder / "member_1.pt").unlink()
    EmotionClassifier.load(folder)  # the fast set never reads the members
    with pytest.raises(CheckpointError, match="cannot load the emotion classifier") as info:
        EmotionClassifier.load(folder, views="accurate")
    assert "\n" not in str(info.value)


def test_view_set_fallback_and_bad_name(tmp_path, random_classifier):
    folder = _model_folder(tmp_path, random_classifier, tta_offsets=[[0, 0]])  # no accurate_offsets
    clf = EmotionClassifier.load(folder, views="accurate")
    assert clf.views == "fast" and clf.tta_offsets == [(0, 0)]
    for bad in ("slow", "", "Accurate"):
        with pytest.raises(FaceLatentError, match="unknown classifier view set") as info:
            EmotionClassifier.load(folder, views=bad)
        assert "\n" not in str(info.value)
    with pytest.raises(FaceLatentError, match="unknown classifier view set"):
        EmotionClassifier(random_classifier.model, random_classifier.config, views="all")


def test_shipped_view_sets(shared):
    """The shipped config has both sets and their figures; on real faces the accurate set mostly agrees
    with the fast one and is the average of its own views over all its networks (weights.pt first)."""
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    sets = describe_view_sets(config)
    members = config.get("accurate_members", [])
    assert sets["fast"]["views"] == 2 and sets["accurate"]["views"] == 2 * len(config["accurate_offsets"])
    assert sets["fast"]["networks"] == 1 and sets["accurate"]["networks"] == 1 + len(members)
    assert sets["accurate"]["views"] * sets["accurate"]["networks"] > 2  # more than the fast set
    assert sets["fast"]["accuracy"] == config["metrics"]["PrivateTest"]["accuracy"]
    assert sets["accurate"]["accuracy"] == config["metrics_accurate"]["PrivateTest"]["accuracy"]
    fast, slow = EmotionClassifier.load(), EmotionClassifier.load(views="accurate")
    assert len(slow.networks) == 1 + len(members)
    faces = read_fer2013(shared("data", "fer2013", "fer2013.csv.gz")).split("PrivateTest").images[:64]
    with torch.no_grad():
        p_fast, p_slow = fast.predict(list(faces)), slow.predict(list(faces))
        each = [EmotionClassifier(net, config).view_logits(list(faces), slow.tta_offsets) for net in slow.networks]
        by_hand = torch.softmax(torch.cat(each).mean(0), 1)
        torch.testing.assert_close(each[0], fast.view_logits(list(faces), slow.tta_offsets))  # weights.pt first
    torch.testing.assert_close(p_slow, by_hand)
    agree = float((p_fast.argmax(1) == p_slow.argmax(1)).float().mean())
    assert agree >= 0.8, agree
    assert torch.abs(p_fast - p_slow).max() > 1e-3  # yet the extra views do change the probabilities
