"""The coordinate search that finds classifier-read expression targets (directions.target_search)."""

from __future__ import annotations

import numpy as np
import pytest

from directions.target_search import coordinate_search

LOW, HIGH = np.array([-2.0, -1.0, 0.0]), np.array([2.0, 3.0, 4.0])


def test_it_finds_the_best_grid_point_of_a_separable_score():
    peak = np.array([1.0, 2.0, 0.0])  # on the 5-value grid of each coordinate
    calls = []

    def score(c):
        calls.append(c.copy())
        return -float(np.sum((c - peak) ** 2))

    result = coordinate_search(score, np.array([0.0, 0.0, 4.0]), LOW, HIGH, values=5, sweeps=2)
    np.testing.assert_allclose(result.best, peak)
    assert result.score == pytest.approx(0.0) and result.evaluations == len(calls)
    assert all(np.all(c >= LOW) and np.all(c <= HIGH) for c in calls)  # never outside the box
    assert [s[1] for s in result.steps] == sorted(s[1] for s in result.steps)  # improved in coordinate order
    assert all(b > a for a, b in zip([s[3] for s in result.steps], [s[3] for s in result.steps][1:]))


def test_the_start_is_clipped_into_the_box_and_kept_when_nothing_beats_it():
    result = coordinate_search(lambda c: -abs(float(c[0]) - 2.0), np.array([9.0, 0.0, 1.0]), LOW, HIGH)
    np.testing.assert_allclose(result.best, [2.0, 0.0, 1.0])
    assert result.start_score == result.score == 0.0 and result.steps == [] and result.evaluations == 1 + 2 * 3 * 4


def test_the_same_score_gives_the_same_result_and_bad_arguments_are_refused():
    def bumpy(c):
        return float(np.sin(3 * c).sum() - 0.1 * np.sum(c ** 2))

    a = coordinate_search(bumpy, np.zeros(3), LOW, HIGH, values=7)
    b = coordinate_search(bumpy, np.zeros(3), LOW, HIGH, values=7)
    np.testing.assert_array_equal(a.best, b.best)
    assert a.score >= bumpy(np.clip(np.zeros(3), LOW, HIGH))
    for kwargs in ({"values": 1}, {"sweeps": 0}):
        with pytest.raises(ValueError):
            coordinate_search(bumpy, np.zeros(3), LOW, HIGH, **kwargs)
    with pytest.raises(ValueError):
        coordinate_search(bumpy, np.zeros(3), HIGH, LOW)
