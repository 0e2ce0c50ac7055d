"""The shipped default directions: fitted for the shipped generator, refused for any other."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from directions.direction_file import load_directions
from directions.emotions import EMOTIONS
from inversion.checkpoints import generator_identity, load_generator
from inversion.common.errors import IncompatibleModelError

DIRECTIONS = Path(__file__).resolve().parents[2] / "directions" / "models" / "default_directions" / "directions.pt"

pytestmark = pytest.mark.skipif(not DIRECTIONS.is_file(), reason="the default directions are not in this checkout")


def test_six_unit_directions_for_the_default_generator():
    G = load_generator(None)
    directions = load_directions(DIRECTIONS, generator_identity(G))
    assert set(directions.emotions) == set(EMOTIONS) - {"neutral"}
    assert directions.num_ws == G.num_ws and directions.w_dim == G.w_dim
    for emotion in directions.emotions:
        entry = directions.get(emotion)
        assert abs(float(entry.vector.norm()) - 1.0) < 1e-4
        assert entry.strength > 0
        offset = directions.offset(emotion)
        assert offset.shape == (G.num_ws, G.w_dim)
    joy, sad = directions.get("joy").vector.flatten(), directions.get("sadness").vector.flatten()
    assert float(torch.dot(joy, sad)) < 0.95  # distinct emotions, distinct directions


def test_strengths_are_measured_and_a_blink_is_shipped():
    directions = load_directions(DIRECTIONS)
    assert directions.space == "w+"  # per-layer mean differences (W averages the expression away)
    for emotion in directions.emotions:
        entry = directions.get(emotion)
        cal = entry.calibration
        assert cal["strength"] == entry.strength and entry.strength in cal["strengths"]
        assert cal["identity_distance"] <= cal["drift_limit"] or entry.strength == min(cal["strengths"])
        assert entry.strength_range[0] < entry.strength < entry.strength_range[1]
    blink = directions.extra("blink")
    assert blink is not None and blink.strength > 0 and blink.calibration["faces"] > 0
    assert abs(float(directions.offset("blink").norm()) - 1.0) < 1e-4


def test_refused_with_another_generator(shared):
    fixture = load_generator(shared("fixtures", "stylegan2-ada_64_random.pkl"))
    with pytest.raises(IncompatibleModelError):
        load_directions(DIRECTIONS, generator_identity(fixture))
