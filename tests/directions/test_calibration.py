"""Measured recommended strengths: the walk up the grid, the drift cap, and the classifier on real renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from directions.calibration import calibrate, first_reaching, identity_drift, render, success_score
from directions.emotions import EMOTIONS
from directions.evaluation import sample_latents
from inversion.common.errors import FaceLatentError

DIRECTIONS = Path(__file__).resolve().parents[2] / "directions" / "models" / "default_directions" / "directions.pt"


def test_first_reaching_takes_the_first_hit_or_the_best():
    assert first_reaching([0.1, 0.4, 0.6, 0.9], 0.5) == (2, True)
    assert first_reaching([0.1, 0.45, 0.3], 0.5) == (1, False)
    assert first_reaching([0.2, 0.2], 0.5) == (0, False)
    with pytest.raises(FaceLatentError):
        first_reaching([], 0.5)


def pixel_descriptor(images: np.ndarray) -> np.ndarray:
    """A plain descriptor for the walk's logic: the grey image at 8x8, scaled to [0, 1]."""
    grey = images.astype(np.float64).mean(axis=-1) / 255.0
    n, h, w = grey.shape
    return grey.reshape(n, 8, h // 8, 8, w // 8).mean(axis=(2, 4)).reshape(n, 64)


def test_walk_stops_at_the_level_and_the_drift_cap_steps_down(fixture_generator):
    G = fixture_generator
    ws = sample_latents(G, 6, seed=1)
    offset = torch.zeros(G.num_ws, G.w_dim)
    offset[:, 0] = 1.0
    offset /= offset.norm()
    # Score: how far the latents moved along the offset (a real function of the edited latents).
    score = lambda edited: float(((edited - ws) * offset).sum(dim=(1, 2)).mean())  # noqa: E731
    free = calibrate(G, ws, offset, score, 2.2, strengths=[1, 2, 3, 4, 5])
    assert free["strength"] == 3 and free["reached"] and free["strengths"] == [1, 2, 3]
    assert free["identity_distance"] is None and not free["capped"]
    never = calibrate(G, ws, offset, score, 99.0, strengths=[1, 2, 3])
    assert never["strength"] == 3 and not never["reached"]
    drift = [identity_drift(G, ws, ws + s * offset, pixel_descriptor) for s in (1.0, 2.0, 3.0)]
    assert drift[0] < drift[2]
    limit = 0.5 * (drift[0] + drift[2])
    capped = calibrate(G, ws, offset, score, 2.2, strengths=[1, 2, 3], describe=pixel_descriptor,
                       drift_limit=limit)
    assert capped["capped"] and capped["identity_distance"] <= limit and capped["strength"] < 3
    assert not capped["reached"]  # its score is below the level after the cap


def test_joy_success_measured_on_the_default_generator():
    """The shipped classifier on the default generator's renders: the calibrated joy strength makes
    at least half of the faces joyful, and the strength below it does not."""
    from directions.classifier import EmotionClassifier  # noqa: PLC0415
    from directions.direction_file import load_directions  # noqa: PLC0415
    from inversion.checkpoints import generator_identity, load_generator  # noqa: PLC0415

    if not DIRECTIONS.is_file():
        pytest.skip("the default directions are not in this checkout")
    G = load_generator(None)
    directions = load_directions(DIRECTIONS, generator_identity(G))
    joy = EMOTIONS.index("joy")
    score = success_score(G, EmotionClassifier.load(None).predict, joy)
    ws = sample_latents(G, 16, seed=3)
    grid = [0.5 * k for k in range(1, 17)]
    result = calibrate(G, ws, directions.offset("joy"), score, 0.5, strengths=grid)
    assert result["reached"] and result["score"] >= 0.5
    assert all(s < 0.5 for s in result["scores"][:-1])
    assert score(ws) < 0.5  # the unedited samples are mostly not joyful
    assert render(G, ws[:3]).shape == (3, G.img_channels, G.img_resolution, G.img_resolution)
