"""The landmark-space expression model: frames, symmetry, displacements and the shipped basis."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from directions.emotions import EMOTIONS
from directions.expression_basis import (ANCHORS, MIRROR, REGION_POINTS, REGIONS, ExpressionBasis, load,
                                         load_default, mirror, symmetrise, to_canonical)
from inversion.common.errors import CheckpointError, FaceLatentError

IDENTITY_POINTS = np.concatenate([np.arange(0, 5), np.arange(12, 17), np.arange(27, 36), [36, 39, 42, 45]])


@pytest.fixture(scope="module")
def model() -> ExpressionBasis:
    return load_default()


def place(shape: np.ndarray, scale: float = 120.0, angle: float = 0.0, shift=(200.0, 150.0)) -> np.ndarray:
    """A canonical shape put into a photo by a similarity (pixels, y down)."""
    c, s = np.cos(angle), np.sin(angle)
    return scale * shape @ np.array([[c, s], [-s, c]]) + np.asarray(shift)


def face(model, emotion="neutral", **kw) -> np.ndarray:
    """A plausible face: the neutral mean moved to an emotion's target."""
    points = place(model.mean_shape, **kw)
    return points + model.displacement(points, np.zeros(len(model.shrink)), model.target(emotion))


def test_mirror_is_an_involution_and_symmetrise_is_idempotent():
    assert sorted(MIRROR.tolist()) == list(range(68))
    assert np.array_equal(MIRROR[MIRROR], np.arange(68))
    shape = np.random.default_rng(0).normal(size=(68, 2))
    np.testing.assert_allclose(mirror(mirror(shape)), shape)
    sym = symmetrise(shape)
    np.testing.assert_allclose(mirror(sym), sym)
    np.testing.assert_allclose(symmetrise(sym), sym)
    for region in REGION_POINTS.values():  # regions are closed under the mirror
        assert set(MIRROR[region].tolist()) == set(region.tolist())


def test_procrustes_round_trip(model):
    mean = model.mean_shape
    np.testing.assert_allclose(mean, mirror(mean), atol=1e-6)  # the mean shape is symmetric
    assert np.linalg.norm(mean[45] - mean[36]) == pytest.approx(1.0, abs=0.05)  # canonical units: IOD
    noisy = mean + np.random.default_rng(1).normal(scale=0.01, size=mean.shape)
    for scale, angle in ((50.0, 0.0), (300.0, 0.4), (80.0, -0.3)):
        photo = place(noisy, scale, angle, (31.0, -7.0))
        np.testing.assert_allclose(to_canonical(photo, mean), to_canonical(noisy, mean), atol=1e-9)
    batch = np.stack([place(noisy, 90.0, 0.1), place(noisy, 40.0, -0.2)])
    np.testing.assert_allclose(to_canonical(batch, mean)[1], to_canonical(noisy, mean), atol=1e-9)


def test_displacement_zero_for_equal_coefficients(model):
    points = face(model, "joy")
    e = model.coefficients(points)
    assert np.abs(model.displacement(points, e, e)).max() == 0.0


def test_identity_points_never_move(model):
    rng = np.random.default_rng(2)
    points = face(model, "surprise", angle=0.2)
    for _ in range(5):
        e_from, e_to = rng.normal(scale=3, size=(2, len(model.shrink)))
        d = model.displacement(points, e_from, e_to)
        assert np.abs(d[IDENTITY_POINTS]).max() == 0.0
        assert np.abs(d).max() > 0.1
    assert np.abs(model.basis[:, IDENTITY_POINTS]).max() == 0.0


def test_region_displacements_sum_and_stay_in_their_region(model):
    points = face(model, "anger")
    e_from, e_to = model.coefficients(points), model.target("fear")
    parts = model.region_displacements(points, e_from, e_to)
    assert parts.shape == (len(REGIONS), 68, 2)
    np.testing.assert_allclose(parts.sum(0), model.displacement(points, e_from, e_to))
    for r, name in enumerate(REGIONS):
        outside = np.setdiff1d(np.arange(68), REGION_POINTS[name])
        assert np.abs(parts[r, outside]).max() == 0.0
        assert np.abs(parts[r]).max() > 0.0


def test_displacement_scales_and_rotates_with_the_face(model):
    base = face(model, "sadness", scale=100.0, angle=0.0, shift=(0.0, 0.0))
    e_from, e_to = model.coefficients(base), model.target("surprise")
    d0 = model.displacement(base, e_from, e_to)
    for scale, angle in ((2.5, 0.0), (0.5, 0.6), (1.3, -1.0)):
        c, s = np.cos(angle), np.sin(angle)
        rot = np.array([[c, s], [-s, c]])
        moved = scale * base @ rot + np.array([40.0, -12.0])
        np.testing.assert_allclose(model.displacement(moved, e_from, e_to), scale * d0 @ rot, atol=1e-9)


def test_projection_recovers_an_applied_change(model):
    """Anchors and pose proxies do not move, so the raw coefficients change by exactly e_to - e_from."""
    points = face(model, "neutral", angle=0.15)
    rng = np.random.default_rng(3)
    delta = rng.normal(size=len(model.shrink))
    moved = points + model.displacement(points, np.zeros_like(delta), delta)
    np.testing.assert_allclose(model.project(moved) - model.project(points), delta, atol=1e-6)


def test_neutral_mean_is_near_zero_and_targets_are_apart(model):
    e = model.coefficients(place(model.mean_shape))
    spread = np.linalg.norm(model.targets - model.target("neutral"), axis=1)
    assert np.linalg.norm(e) < np.linalg.norm(model.noise_std)  # within one detection's noise of 0
    assert np.linalg.norm(model.noise_std) < 0.8 * np.sort(spread)[1]  # every emotion's target lies further out
    assert np.abs(model.target("neutral")).max() < 1e-6  # targets are relative to the strong neutrals
    assert np.all(model.shrink > 0) and np.all(model.shrink <= 1) and np.all(model.low < model.high)
    assert np.all((model.low <= e) & (e <= model.high))


def _motion(model, emotion):
    points = place(model.mean_shape, scale=100.0)
    return model.displacement(points, model.target("neutral"), model.target(emotion))  # pixels, y down


def test_targets_move_the_face_the_expected_way(model):
    joy, surprise, sadness = (_motion(model, e) for e in ("joy", "surprise", "sadness"))
    lip_centre = lambda d: d[[51, 57, 62, 66], 1].mean()  # noqa: E731
    corners_up = lambda d: d[[48, 54], 1].mean() - lip_centre(d)  # noqa: E731  (negative: up)
    assert corners_up(joy) < -0.5  # joy lifts the mouth corners relative to the lips' centre...
    assert joy[54, 0] - joy[48, 0] > 0.5  # ...and widens the mouth
    # sadness (FER+ faces): the corners drop against the upper lip, a small motion (see the model card)
    assert sadness[[48, 54], 1].mean() - sadness[[51, 62], 1].mean() > 0.3
    assert np.abs(sadness).max() < 0.5 * np.abs(joy).max()
    assert surprise[17:27, 1].mean() < -1.0  # surprise raises the brows...
    assert surprise[8, 1] > 3.0 and surprise[66, 1] - surprise[62, 1] > 5.0  # ...and opens the jaw and lips
    assert surprise[[40, 41], 1].mean() - surprise[[37, 38], 1].mean() > 1.0  # ...and opens the eyes
    anger, fear = _motion(model, "anger"), _motion(model, "fear")
    assert anger[[21, 22], 1].mean() > 1.0  # anger lowers the inner brows; fear raises them
    assert fear[[21, 22], 1].mean() < -1.0


def test_coefficients_recognise_the_targets(model):
    for k, emotion in enumerate(EMOTIONS):
        e = model.coefficients(face(model, emotion, scale=150.0, angle=0.1))
        assert np.linalg.norm(e - model.targets, axis=1).argmin() == k, emotion


def test_batch_coefficients_match_single(model):
    batch = np.stack([face(model, e) for e in ("joy", "fear")])
    np.testing.assert_allclose(model.coefficients(batch)[1], model.coefficients(batch[1]))


def test_unknown_emotion_is_one_clear_line(model):
    with pytest.raises(FaceLatentError, match="unknown emotion 'bored'"):
        model.target("bored")


def test_load_default_is_small_and_save_round_trips(model, tmp_path):
    from directions.expression_basis import DEFAULT_DIR

    assert (DEFAULT_DIR / "basis.npz").stat().st_size < 200_000
    model.save(tmp_path / "copy")
    again = load(tmp_path / "copy")
    np.testing.assert_allclose(again.basis, model.basis, atol=1e-6)
    np.testing.assert_array_equal(again.region_of, model.region_of)


@pytest.fixture
def copy_dir(tmp_path):
    from directions.expression_basis import DEFAULT_DIR

    target = tmp_path / "basis"
    shutil.copytree(DEFAULT_DIR, target)
    return target


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


def test_tampered_file_is_refused(copy_dir):
    data = bytearray((copy_dir / "basis.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy_dir / "basis.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as err:
        load(copy_dir)
    assert "checksum" in _one_line(err)


def test_missing_file_is_refused(copy_dir):
    (copy_dir / "basis.npz").unlink()
    with pytest.raises(CheckpointError) as err:
        load(copy_dir)
    assert "basis.npz" in _one_line(err)


def test_pickled_or_malformed_arrays_are_refused(copy_dir):
    import hashlib

    arrays = dict(np.load(copy_dir / "basis.npz", allow_pickle=False))
    arrays["targets"] = np.array([{"x": 1}], dtype=object)  # would need pickle to load
    np.savez(copy_dir / "basis.npz", **arrays)
    config = json.loads((copy_dir / "config.json").read_text())
    config["sha256"] = hashlib.sha256((copy_dir / "basis.npz").read_bytes()).hexdigest()
    (copy_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as err:
        load(copy_dir)
    _one_line(err)
    arrays["targets"] = np.zeros((3, 2), np.float32)
    np.savez(copy_dir / "basis.npz", **arrays)
    config["sha256"] = hashlib.sha256((copy_dir / "basis.npz").read_bytes()).hexdigest()
    (copy_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="targets"):
        load(copy_dir)


def test_wrong_format_is_refused(copy_dir):
    config = json.loads((copy_dir / "config.json").read_text())
    config["format"] = "something-else/9"
    (copy_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="not a facelatent-expression-basis"):
        load(copy_dir)


def test_anchors_are_outside_every_region():
    moving = np.concatenate(list(REGION_POINTS.values()))
    assert not set(ANCHORS.tolist()) & set(moving.tolist())


def test_targets_files_round_trip_and_refuse_malformed_files(tmp_path):
    from directions.expression_basis import load_targets, save_targets  # noqa: PLC0415

    def load_generator_targets(directory):
        return load_targets("generator", directory)

    targets = {name: np.arange(8, dtype=np.float64) * (i + 1) for i, name in enumerate(EMOTIONS)}
    path = save_targets(tmp_path, "generator", targets, {"generator": "abc", "latents": 3})
    loaded = load_generator_targets(tmp_path)
    assert set(loaded) == set(EMOTIONS) and all(np.array_equal(loaded[n], targets[n]) for n in EMOTIONS)
    assert json.loads(path.read_text())["generator"] == "abc" and not list(tmp_path.glob(".*part"))
    record = json.loads(path.read_text())
    record["targets"]["joy"] = [float("nan")] * 8
    path.write_text(json.dumps(record))
    with pytest.raises(CheckpointError) as err:
        load_generator_targets(tmp_path)
    _one_line(err)
    path.write_text("not json")
    with pytest.raises(CheckpointError):
        load_generator_targets(tmp_path)
    with pytest.raises(CheckpointError):
        load_generator_targets(tmp_path / "absent")
    some = save_targets(tmp_path, "classifier", {"anger": targets["anger"]}, {"faces": 2})
    assert some.name == "classifier_targets.json" and set(load_targets("classifier", tmp_path)) == {"anger"}
    some.rename(path)
    with pytest.raises(CheckpointError):  # a file of one source is not read as another's
        load_targets("generator", tmp_path)
    save_targets(tmp_path, "classifier", {"rage": targets["anger"]}, {})
    with pytest.raises(CheckpointError):  # not an emotion the project knows
        load_targets("classifier", tmp_path)
