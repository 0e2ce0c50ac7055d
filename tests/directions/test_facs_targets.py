"""directions.facs_targets: fear's, sadness's and disgust's action units, expressed in the expression model's basis."""

from __future__ import annotations

import numpy as np
import pytest

from directions.expression_basis import load_default
from directions.facs_targets import (
    disgust_offsets, facs_target, fear_offsets, opening_coefficient, sadness_offsets, smile_coefficient, without_smile,
)

MODEL = load_default()


def _photo_points():
    return MODEL.mean_shape * 90.0 + np.array([150.0, 140.0])


def test_fear_raises_the_inner_brows_most_draws_them_together_widens_the_eyes_and_drops_the_jaw():
    lm = _photo_points()
    moved = lm + MODEL.displacement(lm, MODEL.target("neutral"), facs_target(MODEL, "fear"))
    rise = lm[:, 1] - moved[:, 1]  # up is -y
    assert rise[[21, 22]].mean() > rise[[17, 26]].mean() > 0  # inner brow ends rise more than the outer
    assert np.linalg.norm(moved[21] - moved[22]) < np.linalg.norm(lm[21] - lm[22])  # drawn together
    assert rise[[37, 38, 43, 44]].mean() > 0  # upper lids up: wider eyes
    assert moved[57, 1] > lm[57, 1] + 3.0  # the jaw drops (px on a face 90 px between the eye corners)
    np.testing.assert_allclose(moved[27:36], lm[27:36], atol=1e-9)  # the nose is identity: never moved


def test_the_prototype_lies_within_the_range_of_real_faces():
    target = facs_target(MODEL, "fear")
    assert target.shape == MODEL.low.shape
    assert np.all(target >= MODEL.low) and np.all(target <= MODEL.high)
    assert np.linalg.norm(target - MODEL.target("neutral")) > 1.0


def test_sadness_raises_the_inner_brows_droops_the_lids_and_drops_the_corners():
    lm = _photo_points()
    moved = lm + MODEL.displacement(lm, MODEL.target("neutral"), facs_target(MODEL, "sadness"))
    rise = lm[:, 1] - moved[:, 1]
    assert rise[[21, 22]].mean() > rise[[17, 26]].mean()  # the oblique brow: inner ends highest
    assert rise[[21, 22]].mean() > 0
    assert (moved[[48, 54], 1] - lm[[48, 54], 1]).mean() > 0.5  # corners down (px, 90 px between the eyes)
    np.testing.assert_allclose(moved[27:36], lm[27:36], atol=1e-9)


def test_disgust_lowers_the_brows_narrows_the_eyes_and_parts_the_lips_with_the_jaw_still():
    lm = _photo_points()
    moved = lm + MODEL.displacement(lm, MODEL.target("neutral"), facs_target(MODEL, "disgust"))
    drop = moved[:, 1] - lm[:, 1]  # px, 90 px between the eye corners; down is +y
    assert drop[17:27].mean() > 0.5  # brows lowered
    assert np.linalg.norm(moved[21] - moved[22]) < np.linalg.norm(lm[21] - lm[22])  # drawn together
    opening = lambda p: (p[[40, 41, 46, 47], 1] - p[[38, 37, 44, 43], 1]).mean()  # noqa: E731
    assert opening(moved) < opening(lm) - 0.5  # the eyes narrowed
    assert drop[[61, 62, 63]].mean() < 0 < drop[[65, 66, 67]].mean() - 3.0  # upper lip up, lower lip well down
    assert abs(drop[8]) < 0.25 * drop[[65, 66, 67]].mean()  # the jaw barely moves: the teeth show
    assert drop[[48, 54]].mean() > 0  # corners down
    np.testing.assert_allclose(moved[27:36], lm[27:36], atol=1e-9)


@pytest.mark.parametrize("offsets", [fear_offsets, sadness_offsets, disgust_offsets])
def test_offsets_are_mirror_symmetric(offsets):
    from directions.expression_basis import MIRROR  # noqa: PLC0415

    values = offsets(MODEL.mean_shape)
    np.testing.assert_allclose(values[MIRROR] * np.array([-1.0, 1.0]), values, atol=1e-12)


def test_the_smile_coefficient_is_the_mouth_coefficient_that_raises_and_widens_the_corners():
    lm = _photo_points()
    k = smile_coefficient(MODEL)
    assert MODEL.region_of[k] == 2
    smiling = MODEL.target("neutral").copy()
    smiling[k] = MODEL.target("joy")[k]
    moved = lm + MODEL.displacement(lm, MODEL.target("neutral"), smiling)
    assert moved[48, 0] < lm[48, 0] - 2 and moved[54, 0] > lm[54, 0] + 2  # corners out
    assert moved[[48, 54], 1].mean() < lm[[48, 54], 1].mean() - 2  # and up (px, 90 px between the eye corners)


def test_the_opening_coefficient_is_the_mouth_coefficient_that_parts_the_lips():
    from editor.warp_pipeline import mouth_opening  # noqa: PLC0415

    lm = _photo_points()
    k = opening_coefficient(MODEL)
    assert MODEL.region_of[k] == 2 and k != smile_coefficient(MODEL)
    parted = MODEL.target("neutral").copy()
    parted[k] = MODEL.target("surprise")[k]
    moved = lm + MODEL.displacement(lm, MODEL.target("neutral"), parted)
    assert mouth_opening(moved) > mouth_opening(lm) + 0.2  # the inner lips part by a fifth of the mouth's width
    assert moved[57, 1] > lm[57, 1] + 5 and moved[8, 1] > lm[8, 1] + 3  # the lower lip and the chin drop (px)


@pytest.mark.parametrize("emotion", ["fear", "sadness", "disgust"])
def test_a_prototype_takes_a_smiling_face_out_of_its_smile(emotion):
    k = smile_coefficient(MODEL)
    target = facs_target(MODEL, emotion)
    assert (target[k] - MODEL.target("neutral")[k]) * MODEL.target("joy")[k] <= 0  # never on joy's side
    smiling = MODEL.target("joy")
    lm = _photo_points() + MODEL.displacement(_photo_points(), MODEL.target("neutral"), smiling)
    moved = lm + MODEL.displacement(lm, smiling, target)
    assert moved[[48, 54], 1].mean() > lm[[48, 54], 1].mean() + 2  # the corners come down


def test_without_smile_moves_only_a_smile_back_to_neutral():
    k = smile_coefficient(MODEL)
    joy = MODEL.target("joy")
    out = without_smile(MODEL, joy)
    assert out[k] == MODEL.target("neutral")[k]
    np.testing.assert_array_equal(np.delete(out, k), np.delete(joy, k))
    frown = MODEL.target("neutral") - (joy - MODEL.target("neutral"))
    np.testing.assert_array_equal(without_smile(MODEL, frown), frown)


def test_only_fear_sadness_and_disgust_have_a_prototype():
    with pytest.raises(ValueError, match="no FACS prototype"):
        facs_target(MODEL, "joy")
