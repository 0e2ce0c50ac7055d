"""Where the warp's expression targets come from, and how a face's own expression is set, not added to."""

from __future__ import annotations

import numpy as np
import pytest

from directions.expression_basis import load_default
from editor.emotion_spec import parse_emotion_spec
from editor.warp_pipeline import (
    DISTINCTIVENESS, LAUGH_OPENING, SIX_EMOTIONS, TARGET_SOURCES, distinctive_targets, keep_open_smile, keep_stronger,
    kept_by_region, shipped_targets, target_coefficients,
)
from inversion.common.errors import FaceLatentError

MODEL = load_default()


def test_targets_are_made_distinctive_within_their_source():
    data = distinctive_targets(MODEL, None, {})
    common = np.mean([MODEL.target(e) for e in SIX_EMOTIONS], axis=0)
    for e in SIX_EMOTIONS:
        np.testing.assert_allclose(data[e], MODEL.target(e) + DISTINCTIVENESS * (MODEL.target(e) - common))
    fake = {e: MODEL.target(e) * 2.0 for e in list(SIX_EMOTIONS) + ["neutral"]}
    mixed = distinctive_targets(MODEL, fake, {"fear": "generator"})
    np.testing.assert_allclose(mixed["fear"], 2.0 * data["fear"])  # its own source's mean, scaled with it
    np.testing.assert_allclose(mixed["joy"], data["joy"])
    with pytest.raises(FaceLatentError):
        distinctive_targets(MODEL, None, {"fear": "generator"})


def test_shipped_targets_follow_the_bake_off():
    shipped = shipped_targets()
    data = distinctive_targets(MODEL, None, {})
    for e in SIX_EMOTIONS:
        same = np.allclose(shipped[e], data[e])
        assert same == (TARGET_SOURCES.get(e, "data") == "data"), e


def test_searched_targets_are_taken_as_they_are_inside_the_range_of_real_faces():
    from directions.expression_basis import load_targets  # noqa: PLC0415

    searched = load_targets("classifier")
    shipped = shipped_targets()
    for e in (e for e in SIX_EMOTIONS if TARGET_SOURCES.get(e) == "classifier"):
        np.testing.assert_allclose(shipped[e], searched[e])
        assert np.all(shipped[e] >= MODEL.low) and np.all(shipped[e] <= MODEL.high)
    beyond = {"anger": MODEL.high + 5.0}
    np.testing.assert_allclose(distinctive_targets(MODEL, None, {"anger": "classifier"}, beyond)["anger"], MODEL.high)
    with pytest.raises(FaceLatentError):
        distinctive_targets(MODEL, None, {"disgust": "classifier"}, beyond)


def test_a_blend_mixes_targets_by_weight():
    targets = distinctive_targets(MODEL, None, {})
    blend = target_coefficients(MODEL, parse_emotion_spec("joy:0.25,anger:0.75"), targets)
    np.testing.assert_allclose(blend, 0.25 * targets["joy"] + 0.75 * targets["anger"])


def test_an_expression_stronger_than_the_target_is_kept():
    goal = distinctive_targets(MODEL, None, {})["joy"]
    axis = goal - MODEL.target("neutral")
    beyond = goal + 0.5 * axis  # a broader smile than the target's
    np.testing.assert_allclose(keep_stronger(MODEL, beyond, goal), beyond)
    weaker = MODEL.target("neutral") + 0.3 * axis
    np.testing.assert_allclose(keep_stronger(MODEL, weaker, goal), goal)  # a faint smile goes to the target


def test_a_region_stronger_than_the_target_is_kept_on_its_own():
    """A face that narrows its eyes more than joy's target but smiles less: region by region its lids are kept
    while its mouth goes to the target; kept as one vector, the weak smile outweighs the lids and both are set."""
    goal = distinctive_targets(MODEL, None, {})["joy"]
    neutral = MODEL.target("neutral")
    lids, mouth = MODEL.region_of == 1, MODEL.region_of == 2
    own = neutral + 0.2 * (goal - neutral)  # a faint smile...
    own[lids] = neutral[lids] + 1.6 * (goal - neutral)[lids]  # ...with the eyes narrowed further than joy's
    by_region = keep_stronger(MODEL, own, goal, by_region=True)
    np.testing.assert_allclose(by_region[lids], own[lids])
    np.testing.assert_allclose(by_region[mouth], goal[mouth])
    np.testing.assert_allclose(keep_stronger(MODEL, own, goal), goal)
    beyond = goal + 0.5 * (goal - neutral)  # every region further: kept either way
    np.testing.assert_allclose(keep_stronger(MODEL, beyond, goal, by_region=True), beyond)


def test_only_the_data_targets_are_kept_region_by_region():
    for name in SIX_EMOTIONS:
        assert kept_by_region(parse_emotion_spec(name)) == (TARGET_SOURCES.get(name, "data") == "data"), name
    assert kept_by_region(parse_emotion_spec("joy:0.5,surprise:0.5"))
    assert not kept_by_region(parse_emotion_spec("joy:0.5,fear:0.5"))


def test_targets_a_script_passes_are_kept_as_their_own_sources_say():
    """The bake-off's all-data targets keep fear region by region; its generator targets keep joy whole."""
    data = distinctive_targets(MODEL, None, {})
    generator = distinctive_targets(MODEL, {e: MODEL.target(e) for e in SIX_EMOTIONS},
                                    {e: "generator" for e in SIX_EMOTIONS})
    assert data.sources["fear"] == "data" and shipped_targets().sources["fear"] == TARGET_SOURCES["fear"]
    assert kept_by_region(parse_emotion_spec("fear"), data.sources)
    assert not kept_by_region(parse_emotion_spec("joy"), generator.sources)
    # A face whose mouth goes 1.6 times as far as the data's fear target, its brows and lids at rest: kept region
    # by region (the all-data targets' own sources) its mouth stays; as one vector (a plain dict falls back on the
    # shipped sources, by which fear's target is a prototype kept whole) it is taken back towards the target.
    from editor.warp_pipeline import expression_regions  # noqa: PLC0415

    mouth = MODEL.region_of == 2
    own = MODEL.target("neutral").copy()
    own[mouth] = 1.6 * data["fear"][mouth]
    lm = MODEL.mean_shape * 90.0 + np.array([150.0, 140.0])
    lm = lm + MODEL.displacement(lm, MODEL.target("neutral"), own)
    spec = parse_emotion_spec("fear")
    by_region = np.abs(expression_regions(MODEL, lm, spec, 0.7, data)[2]).max()
    whole = np.abs(expression_regions(MODEL, lm, spec, 0.7, dict(data))[2]).max()
    assert by_region < 0.1 and whole > 3.0  # px, on a face 90 px between the eyes' outer corners


def test_joy_keeps_a_parted_mouth_open_up_to_a_laugh():
    from directions.facs_targets import opening_coefficient  # noqa: PLC0415

    k = opening_coefficient(MODEL)
    goal = shipped_targets()["joy"]
    assert goal[k] < 1.0  # joy's target barely parts the lips
    own = MODEL.target("neutral").copy()
    for opening, expected in ((2.0, 2.0), (LAUGH_OPENING + 4.0, LAUGH_OPENING), (-1.0, goal[k])):
        own[k] = opening  # talking, shouting, lips pressed
        out = keep_open_smile(MODEL, own, goal, 1.0)
        assert out[k] == pytest.approx(expected)
        np.testing.assert_array_equal(np.delete(out, k), np.delete(goal, k))  # only the opening
    own[k] = 2.0
    assert keep_open_smile(MODEL, own, goal, 0.5)[k] == pytest.approx(0.5 * (goal[k] + 2.0))  # joy's share of a blend
    np.testing.assert_array_equal(keep_open_smile(MODEL, own, goal, 0.0), goal)  # no joy in it
    wide = goal.copy()
    wide[k] = 5.0  # a blend with surprise parts the lips wider already
    assert keep_open_smile(MODEL, own, wide, 0.5)[k] == 5.0


def test_a_talking_face_asked_for_joy_smiles_without_closing_its_lips():
    from directions.facs_targets import opening_coefficient, smile_coefficient  # noqa: PLC0415
    from editor.warp_pipeline import expression_regions, mouth_opening  # noqa: PLC0415

    lm = MODEL.mean_shape * 90.0 + np.array([150.0, 140.0])
    talking = MODEL.target("neutral").copy()
    talking[opening_coefficient(MODEL)] = 2.0
    lm = lm + MODEL.displacement(lm, MODEL.target("neutral"), talking)
    mouth = expression_regions(MODEL, lm, parse_emotion_spec("joy"), 0.7)[2]
    smile = smile_coefficient(MODEL)
    assert mouth_opening(lm + mouth) > 0.9 * mouth_opening(lm) > 0.05  # the lips stay parted
    assert (MODEL.project(lm + mouth)[smile] - MODEL.project(lm)[smile]) * MODEL.target("joy")[smile] > 0  # it smiles
    assert (lm + mouth)[[48, 54], 1].mean() < lm[[48, 54], 1].mean() - 1  # the corners rise (px)


def test_the_full_emotion_parts_the_lips_at_most_the_limit():
    from editor.warp_pipeline import MAX_MOUTH_OPENING, MOUTH_OPENING_OF, expression_regions, mouth_opening  # noqa: PLC0415

    lm = MODEL.mean_shape * 90.0 + np.array([150.0, 140.0])
    widest = 0.0
    for emotion in ("fear", "surprise", "anger"):
        limit = MOUTH_OPENING_OF.get(emotion, MAX_MOUTH_OPENING)
        opened = mouth_opening(lm + expression_regions(MODEL, lm, parse_emotion_spec(emotion), 0.7)[2])
        assert opened <= limit + 1e-6, emotion
        widest = max(widest, opened / limit)
    assert widest > 0.8  # a limit is reached, not the lips kept shut
    fear = expression_regions(MODEL, lm, parse_emotion_spec("fear"), 0.7)[2]
    assert 0.15 < mouth_opening(lm + fear) <= MOUTH_OPENING_OF["fear"]  # fear opens, less than surprise may


def test_the_full_emotion_keeps_the_eyes_opening_within_bounds():
    from editor.warp_pipeline import MAX_EYE_WIDENING, MIN_EYE_NARROWING, eye_opening, expression_regions  # noqa: PLC0415

    lm = MODEL.mean_shape * 90.0 + np.array([150.0, 140.0])
    own = eye_opening(lm)
    ratios = []
    for emotion in ("joy", "fear", "anger", "sadness", "disgust", "surprise"):
        lids = expression_regions(MODEL, lm, parse_emotion_spec(emotion), 0.7)[1]
        ratios.append(eye_opening(lm + lids) / own)
    assert MIN_EYE_NARROWING - 1e-6 <= min(ratios) and max(ratios) <= MAX_EYE_WIDENING + 1e-6
    assert max(ratios) > 1.1 and min(ratios) < 0.9  # the lids still move both ways

