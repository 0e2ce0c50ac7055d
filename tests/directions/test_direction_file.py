"""Direction files: round trip, refusal with another generator, malformed files, InterFaceGAN export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from directions.direction_file import (
    DirectionFileError, DirectionSet, EmotionDirection, direction_set_from_fits, export_interfacegan,
    load_directions, save_directions, wplus_set_from_fits,
)
from directions.emotions import EMOTIONS
from directions.fitting import fit_emotion_directions
from inversion.common.errors import FaceLatentError, IncompatibleModelError

GEN_A = "a" * 64
GEN_B = "b" * 64


def fitted_set(space="w", method="mean"):
    g = torch.Generator().manual_seed(0)
    num_ws, w_dim, n = 4, 8, 60
    latents = torch.randn(3 * n, num_ws, w_dim, generator=g)
    latents[:n] += 2.0
    latents[n:2 * n, :, 0] -= 3.0
    labels = torch.tensor([0] * n + [1] * n + [6] * n)
    fits = fit_emotion_directions(latents, labels, torch.ones(3 * n), [0, 1], 6, method=method, space=space,
                                  layers=(0, 1), seed=3)
    return direction_set_from_fits(fits, generator=GEN_A, space=space, num_ws=num_ws, w_dim=w_dim,
                                   data="synthetic", settings={"method": method, "seed": 3})


@pytest.mark.parametrize("space,method", [("w", "mean"), ("w+", "svm")])
def test_round_trip(tmp_path, space, method):
    original = fitted_set(space, method)
    path = save_directions(original, tmp_path / "d.pt")
    # Loadable with weights_only (no code runs on load).
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "facelatent-directions" and raw["version"] == 1
    loaded = load_directions(path, generator_identity=GEN_A)
    assert loaded.emotions == ("joy", "fear") and loaded.space == space
    assert loaded.generator == GEN_A and loaded.data == "synthetic" and loaded.settings["seed"] == 3
    for emotion in loaded.emotions:
        a, b = original.get(emotion), loaded.get(emotion)
        assert torch.equal(a.vector, b.vector)
        assert abs(float(b.vector.norm()) - 1) < 1e-6
        assert b.method == method and b.layers == (0, 1)
        assert b.accuracy == a.accuracy and b.strength == a.strength and b.strength_range == a.strength_range
        assert b.counts == a.counts
    if method == "svm":
        assert 0.5 <= loaded.get("joy").accuracy <= 1.0
    assert not list(tmp_path.glob(".*tmp*"))


def test_offset_places_w_vector_on_layers():
    d = fitted_set("w")
    offset = d.offset("joy")
    assert offset.shape == (4, 8)
    assert torch.equal(offset[0], d.get("joy").vector) and torch.equal(offset[1], d.get("joy").vector)
    assert torch.count_nonzero(offset[2:]) == 0


def test_offsets_stack_with_strengths():
    d = fitted_set("w+")
    offsets, strengths = d.offsets(["fear", "joy"])
    assert offsets.shape == (2, 4, 8)
    assert torch.equal(offsets[1], d.get("joy").vector)
    assert strengths.tolist() == pytest.approx([d.get("fear").strength, d.get("joy").strength])


def test_refused_with_another_generator(tmp_path):
    path = save_directions(fitted_set(), tmp_path / "d.pt")
    with pytest.raises(IncompatibleModelError) as info:
        load_directions(path, generator_identity=GEN_B)
    message = str(info.value)
    assert "\n" not in message and "aaaaaaaaaaaa" in message and "directions train" in message
    assert load_directions(path).generator == GEN_A  # without an identity nothing is checked


def test_missing_emotion_is_one_line():
    with pytest.raises(DirectionFileError, match="no direction for 'anger'"):
        fitted_set().get("anger")


@pytest.mark.parametrize("content", [b"", b"not a torch file", None])
def test_malformed_files_raise_one_line(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save({"format": "something-else"}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(DirectionFileError) as info:
        load_directions(path)
    assert "\n" not in str(info.value)
    with pytest.raises(FaceLatentError, match="no such direction file"):
        load_directions(tmp_path / "absent.pt")


def test_non_unit_or_misshapen_vector_refused(tmp_path):
    raw = fitted_set().to_dict()
    raw["directions"]["joy"]["vector"] = raw["directions"]["joy"]["vector"] * 2
    torch.save(raw, tmp_path / "x.pt")
    with pytest.raises(DirectionFileError, match="unit vector"):
        load_directions(tmp_path / "x.pt")
    raw["directions"]["joy"]["vector"] = torch.ones(3) / 3 ** 0.5
    torch.save(raw, tmp_path / "y.pt")
    with pytest.raises(DirectionFileError, match="shape"):
        load_directions(tmp_path / "y.pt")


def test_code_carrying_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"format": "facelatent-directions", "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(DirectionFileError):
        load_directions(tmp_path / "evil.pt")


@pytest.mark.parametrize("space,dim,tag", [("w", 8, "w"), ("w+", 32, "wp")])
def test_export_interfacegan(tmp_path, space, dim, tag):
    d = fitted_set(space)
    written = export_interfacegan(d, tmp_path / "out")
    assert [p.name for p in written] == [f"joy_{tag}_boundary.npy", f"fear_{tag}_boundary.npy"]
    for path, emotion in zip(written, d.emotions):
        boundary = np.load(path)
        assert boundary.shape == (1, dim) and boundary.dtype == np.float32
        assert abs(float(np.linalg.norm(boundary)) - 1) < 1e-6
        assert np.allclose(boundary[0], d.get(emotion).vector.flatten().numpy(), atol=1e-6)


def test_export_refuses_file_as_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(DirectionFileError):
        export_interfacegan(fitted_set(), tmp_path / "f")


def test_emotions_follow_vocabulary_order():
    v = torch.zeros(8)
    v[0] = 1
    entries = {e: EmotionDirection(emotion=e, vector=v, method="mean", layers=(0,)) for e in ("surprise", "joy")}
    s = DirectionSet(generator=GEN_A, space="w", num_ws=1, w_dim=8, directions=entries)
    assert s.emotions == tuple(e for e in EMOTIONS if e in ("surprise", "joy"))


def with_blink(directions: DirectionSet) -> DirectionSet:
    vector = torch.zeros(directions.num_ws, directions.w_dim)
    vector[1, 2] = 1.0
    blink = EmotionDirection("blink", vector, "ridge-ear", tuple(range(directions.num_ws)), strength=2.5,
                             strength_range=(1.25, 5.0), calibration={"strength": 2.5, "scores": [-0.3, -0.19]})
    return DirectionSet(generator=directions.generator, space="w+", num_ws=directions.num_ws, w_dim=directions.w_dim,
                        directions=directions.directions, extras={"blink": blink})


def test_extras_round_trip_and_files_without_them_stay_valid(tmp_path):
    plain = fitted_set("w+", "mean")
    path = save_directions(plain, tmp_path / "plain.pt")
    raw = torch.load(path, weights_only=True)
    del raw["extras"]  # a file written before extras existed
    torch.save(raw, path)
    old = load_directions(path)
    assert old.extras == {} and old.extra("blink") is None and old.emotions == ("joy", "fear")
    full = with_blink(plain)
    loaded = load_directions(save_directions(full, tmp_path / "blink.pt"), generator_identity=GEN_A)
    blink = loaded.extra("blink")
    assert blink.strength == 2.5 and blink.method == "ridge-ear" and blink.calibration["scores"] == [-0.3, -0.19]
    assert torch.equal(loaded.offset("blink"), full.extras["blink"].vector)
    assert loaded.emotions == ("joy", "fear")  # extras are not emotions
    with pytest.raises(DirectionFileError, match="no direction for 'blink'"):
        loaded.get("blink")


def test_extras_refused_when_malformed(tmp_path):
    path = save_directions(with_blink(fitted_set("w+", "mean")), tmp_path / "d.pt")
    raw = torch.load(path, weights_only=True)
    raw["extras"]["blink"]["vector"] = torch.ones(3)
    torch.save(raw, path)
    with pytest.raises(DirectionFileError, match="blink vector has shape"):
        load_directions(path)
    raw["extras"] = {"joy": raw["directions"]["joy"]}
    torch.save(raw, path)
    with pytest.raises(DirectionFileError, match="may not use emotion names"):
        load_directions(path)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_wplus_set_from_fits_gives_unit_offsets(space):
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(90, 4, 8, generator=g)
    latents[:30] += 1.5
    labels = torch.tensor([0] * 30 + [1] * 30 + [6] * 30)
    fits = fit_emotion_directions(latents, labels, torch.ones(90), [0, 1], 6, space=space, layers=(1, 2))
    wplus = wplus_set_from_fits(fits, generator=GEN_A, num_ws=4, w_dim=8)
    assert wplus.space == "w+" and wplus.emotions == ("joy", "fear")
    for emotion in wplus.emotions:
        offset = wplus.offset(emotion)
        assert offset.shape == (4, 8) and abs(float(offset.norm()) - 1) < 1e-6
        assert float(offset[[0, 3]].abs().max()) == 0.0  # only the fitted layers move
        if space == "w":
            assert torch.allclose(offset[1], offset[2])
