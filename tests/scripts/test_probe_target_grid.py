"""scripts/probe_target_grid.py: the grid's variants, and how its picks and bound are counted."""

from __future__ import annotations

import numpy as np
import pytest

from probe_target_grid import grid_variants, parse_grid, summarise


def test_a_grid_names_coefficients_and_their_values():
    assert parse_grid("2=-0.1,1 5=2,2.83", 8) == {2: [-0.1, 1.0], 5: [2.0, 2.83]}
    assert parse_grid("2=s,1", 8) == {2: [None, 1.0]}
    for bad in ("", "8=1", "x=1", "2=", "2=a"):
        with pytest.raises(ValueError):
            parse_grid(bad, 8)


def test_every_combination_replaces_only_the_named_coefficients():
    base = np.arange(4.0)
    variants = grid_variants(base, {1: [10.0, 20.0], 3: [-1.0, -2.0, -3.0]})
    assert len(variants) == 6
    assert variants[0][0] == "1=10 3=-1"
    np.testing.assert_array_equal(variants[-1][1], [0.0, 20.0, 2.0, -3.0])
    np.testing.assert_array_equal(base, np.arange(4.0))  # the base is left as it was
    kept = grid_variants(base + 0.123456, {1: [None, 5.0]})
    assert [label for label, _ in kept] == ["1=s", "1=5"]
    np.testing.assert_array_equal(kept[0][1], base + 0.123456)  # the shipped value itself, not a rounding


def test_the_pick_follows_the_classifier_and_the_oracle_counts_any_variant():
    first = np.array([0.0, 0.0, 0.8])
    last = np.array([[0.10, 0.00], [0.00, 0.01], [0.70, 0.90]])  # face 0 rises with variant 0 only; face 1 never
    shipped = np.array([[0.2, 0.5], [0.9, 0.1], [0.1, 0.3]])  # the classifier prefers 1, 0, 1
    distances = np.array([[0.3, 0.6], [0.4, 0.4], [0.2, 0.2]])
    out = summarise(first, last, shipped, distances)
    np.testing.assert_allclose(out["judges"], [1 / 3, 1 / 3])  # face 2: at 0.8, variant 0 falls, variant 1 holds
    np.testing.assert_allclose(out["rise"], [(0.1 + 0.0 - 0.1) / 3, (0.0 + 0.01 + 0.1) / 3], atol=1e-12)
    np.testing.assert_array_equal(out["picked"], [1, 0, 1])
    assert out["pick_judges"] == pytest.approx(1 / 3)  # face 2 only: the pick misses face 0's variant
    assert out["pick_identity"] == pytest.approx(2 / 3)
    assert out["oracle"] == pytest.approx(2 / 3)
    np.testing.assert_allclose(out["identity"], [1.0, 2 / 3])


def test_each_variant_is_set_against_the_reference_face_by_face():
    first = np.zeros(4)
    last = np.array([[0.1, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1]])  # variant 1 loses two faces, gains one
    shipped = np.array([[0.0, 1.0]] * 4)  # the classifier always picks variant 1
    out = summarise(first, last, shipped, np.zeros((4, 2)), reference=0)
    assert out["versus"][0] == (0, 0, 1.0)
    assert out["versus"][1][:2] == (1, 2) and out["pick_versus"] == out["versus"][1]
    assert "versus" not in summarise(first, last, shipped, np.zeros((4, 2)))
