"""--emotion parsing: single names, blends, normalisation and one-line errors."""

from __future__ import annotations

import pytest

from directions.emotions import TARGET_EMOTIONS
from editor.emotion_spec import EmotionSpecError, parse_emotion_spec
from inversion.errors import FaceLatentError


@pytest.mark.parametrize("name", TARGET_EMOTIONS)
def test_single_name(name):
    spec = parse_emotion_spec(name)
    assert spec.names == (name,) and spec.weights == (1.0,)
    assert spec.label() == name and spec.dominant == name


def test_blend_is_normalised_and_ordered():
    spec = parse_emotion_spec(" Joy:3 , surprise:1 ")
    assert spec.names == ("joy", "surprise")
    assert spec.weights == pytest.approx((0.75, 0.25))
    assert spec.dominant == "joy"
    assert parse_emotion_spec(spec.label()).as_dict() == pytest.approx(spec.as_dict())


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


@pytest.mark.parametrize("text", ["", "joy,", "joy:x", "joy:-1,fear:2", "joy:0,fear:0", "joy,joy",
                                  "joy:0.5,fear", "neutral", "joy:nan"])
def test_malformed_values_raise_one_line(text):
    with pytest.raises(EmotionSpecError) as info:
        parse_emotion_spec(text)
    assert str(info.value) and "\n" not in str(info.value)
