"""The blink direction: eye aspect ratio, the attribute regression, and the shipped direction closing eyes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from directions.blink import EAR_CLOSED, eye_aspect_ratio, fit_attribute_direction, fit_blink_direction, render_ear
from directions.default_directions import DEFAULT_DIR
from directions.evaluation import sample_latents
from directions.fitting import LatentShapeError

DIRECTIONS = DEFAULT_DIR / "directions.pt"


def eye_landmarks(height: float) -> np.ndarray:
    """68 points whose two eyes are 30 px wide and ``height`` px open (p2-p6 and p3-p5 vertical)."""
    points = np.zeros((68, 2))
    for start, x0 in ((36, 100.0), (42, 160.0)):
        points[start:start + 6] = [[x0, 50], [x0 + 10, 50 - height / 2], [x0 + 20, 50 - height / 2],
                                   [x0 + 30, 50], [x0 + 20, 50 + height / 2], [x0 + 10, 50 + height / 2]]
    return points


def test_eye_aspect_ratio_of_known_shapes():
    assert eye_aspect_ratio(eye_landmarks(9.0)) == pytest.approx(0.3)
    assert eye_aspect_ratio(eye_landmarks(1.5)) == pytest.approx(0.05)
    with pytest.raises(LatentShapeError):
        eye_aspect_ratio(np.zeros((5, 2)))


def test_attribute_regression_recovers_a_planted_direction():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 12, generator=g, dtype=torch.float64)
    truth = torch.zeros(12, dtype=torch.float64)
    truth[3], truth[7] = 0.8, -0.6
    y = (x @ truth + 0.05 * torch.randn(400, generator=g, dtype=torch.float64)).numpy()
    normal = fit_attribute_direction(x, y, ridge=1e-3)
    assert float(normal @ truth) > 0.99 and abs(float(normal.norm()) - 1) < 1e-9
    closing, corr = fit_blink_direction(x, y)
    assert float(closing @ truth) < -0.95 and corr > 0.95  # negated: moving along it lowers the value
    with pytest.raises(LatentShapeError, match="constant"):
        fit_attribute_direction(x, np.ones(400))


def test_shipped_blink_direction_lowers_the_ear_of_renders():
    """Real measurement on the default generator: dlib's EAR on renders before and after the blink edit."""
    from directions.direction_file import load_directions  # noqa: PLC0415
    from inversion.checkpoints import generator_identity, load_generator  # noqa: PLC0415

    if not DIRECTIONS.is_file():
        pytest.skip("the default directions are not in this checkout")
    G = load_generator(None)
    directions = load_directions(DIRECTIONS, generator_identity(G))
    blink = directions.extra("blink")
    assert blink is not None, "the shipped direction set has no blink direction"
    ws = sample_latents(G, 12, seed=5)
    before = render_ear(G, ws)
    after = render_ear(G, ws + blink.strength * directions.offset("blink"))
    assert 0.2 < before.mean() < 0.45  # open eyes
    assert after.mean() < before.mean() - 0.05 and np.mean(after < before) >= 0.75
    assert after.mean() < EAR_CLOSED + 0.05
