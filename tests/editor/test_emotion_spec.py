"""--emotion parsing: single names, blends, normalisation and one-line errors."""

from __future__ import annotations

import pytest

from directions.emotions import TARGET_EMOTIONS
from editor.emotion_spec import EmotionSpecError, parse_emotion_spec
from inversion.common.errors import FaceLatentError


@pytest.mark.parametrize("name", TARGET_EMOTIONS)
def test_single_name(name):
    spec = parse_emotion_spec(name)
    assert spec.names == (name,) and spec.weights == (1.0,)
    assert spec.label() == name and spec.dominant == name


def test_blend_mix_and_order():
    spec = parse_emotion_spec(" Joy:0.75 , surprise:0.25 ")
    assert spec.names == ("joy", "surprise")
    assert spec.weights == pytest.approx((0.75, 0.25)) and spec.amount == 1.0
    assert spec.dominant == "joy"
    assert parse_emotion_spec(spec.label()).as_dict() == pytest.approx(spec.as_dict())


def test_weights_mean_what_they_say():
    """Issue 16 item 5: joy:0.5 is half of joy; a partial blend keeps its mix and its total."""
    half = parse_emotion_spec("joy:0.5")
    assert half.weights == (1.0,) and half.amount == pytest.approx(0.5) and half.label() == "joy:0.5"
    part = parse_emotion_spec("joy:0.3,surprise:0.1")
    assert part.weights == pytest.approx((0.75, 0.25)) and part.amount == pytest.approx(0.4)
    assert parse_emotion_spec("joy:0.7,fear:0.2,anger:0.1").amount == 1.0  # decimal sums count as 1


@pytest.mark.parametrize("text", ["joy:2.5", "joy:1.01", "joy:0.6,fear:0.6", "joy:1,surprise:1"])
def test_more_than_full_strength_is_refused(text):
    with pytest.raises(EmotionSpecError) as info:
        parse_emotion_spec(text)
    assert "--intensity" in str(info.value) and "\n" not in str(info.value)


def test_edit_scales_with_the_weight():
    """The edit for joy:0.5 is half the edit for joy (same direction), so the output differs."""
    import torch

    from directions.direction_file import DirectionSet, EmotionDirection
    from editor.pipeline import direction_for

    vector = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    vector = vector / vector.norm()
    entry = EmotionDirection(emotion="joy", vector=vector, method="test", layers=tuple(range(4)), strength=2.0)
    directions = DirectionSet(generator="g", space="w+", num_ws=4, w_dim=8, directions={"joy": entry})
    full = direction_for(directions, parse_emotion_spec("joy"))
    half = direction_for(directions, parse_emotion_spec("joy:0.5"))
    assert torch.allclose(half, 0.5 * full) and float(full.norm()) > 0


def test_unweighted_list_shares_equally_and_zero_weight_is_dropped():
    assert parse_emotion_spec("fear,anger").weights == pytest.approx((0.5, 0.5))
    assert parse_emotion_spec("joy:1,fear:0").names == ("joy",)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(EmotionSpecError) as info:
        parse_emotion_spec("joy:0.5,contempt:0.5")
    message = str(info.value)
    assert "contempt" in message and "\n" not in message
    assert all(name in message for name in TARGET_EMOTIONS)
    assert isinstance(info.value, FaceLatentError)


@pytest.mark.parametrize("text", ["", "joy,", "joy:x", "joy:-1,fear:0.5", "joy:0,fear:0", "joy,joy",
                                  "joy:0.5,fear", "neutral", "joy:nan"])
def test_malformed_values_raise_one_line(text):
    with pytest.raises(EmotionSpecError) as info:
        parse_emotion_spec(text)
    assert str(info.value) and "\n" not in str(info.value)
