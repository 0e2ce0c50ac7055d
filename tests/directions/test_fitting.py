"""Direction fitting on synthetic latents with planted directions."""

from __future__ import annotations

import pytest
import torch

from directions.emotions import EMOTIONS
from directions.fitting import (
    LatentShapeError, expand_direction, fit_direction, fit_emotion_directions, fit_linear_boundary,
    fit_mean_difference, latent_features, most_confident, orthogonalize, parse_layers,
    principal_directions, split_train_validation, strength_range,
)
from directions.linear_svm import choose_svm_c, train_linear_svm

JOY, FEAR, NEUTRAL = EMOTIONS.index("joy"), EMOTIONS.index("fear"), EMOTIONS.index("neutral")


def planted(seed=0, n=400, dim=64, shift=1.5, noise=1.0):
    """Neutral samples ~ N(0, noise^2 I); joy samples shifted by ``shift`` along a random unit vector."""
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(dim, generator=g, dtype=torch.float64)
    direction /= direction.norm()
    neutral = noise * torch.randn(n, dim, generator=g, dtype=torch.float64)
    joy = noise * torch.randn(n, dim, generator=g, dtype=torch.float64) + shift * direction
    return joy, neutral, direction


def test_mean_difference_recovers_planted_direction():
    joy, neutral, truth = planted(n=3000, shift=3.0)
    found = fit_mean_difference(joy, neutral)
    assert torch.isclose(found.norm(), torch.tensor(1.0, dtype=torch.float64))
    assert torch.dot(found, truth) > 0.99


def test_mean_difference_points_from_negative_to_positive():
    pos = torch.tensor([[3.0, 0.0], [5.0, 0.0]])
    neg = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    assert torch.allclose(fit_mean_difference(pos, neg), torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_linear_boundary_separates_planted_classes():
    joy, neutral, truth = planted(seed=1, n=300, dim=32, shift=4.0)
    normal, held_out, train_acc = fit_linear_boundary(joy, neutral, validation_ratio=0.3,
                                                      generator=torch.Generator().manual_seed(3))
    assert abs(float(normal.norm()) - 1.0) < 1e-9
    assert torch.dot(normal, truth) > 0.95
    # Classes 4 sigma apart: the Bayes accuracy is Phi(2) = 97.7 %; chance is 50 %.
    assert held_out is not None and 0.93 < held_out <= 1.0
    assert train_acc > 0.93


def test_linear_boundary_held_out_accuracy_near_chance_without_signal():
    joy, neutral, _ = planted(seed=2, n=200, dim=8, shift=0.0)
    _, held_out, _ = fit_linear_boundary(joy, neutral, generator=torch.Generator().manual_seed(0))
    assert 0.3 < held_out < 0.7


def test_linear_boundary_is_seeded():
    joy, neutral, _ = planted(seed=4, n=100, dim=16, shift=1.0)
    a = fit_linear_boundary(joy, neutral, generator=torch.Generator().manual_seed(5))
    b = fit_linear_boundary(joy, neutral, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and a[1] == b[1]


def test_svm_matches_known_separator():
    # Two points per side of x0 = 0; the max-margin normal is the x0 axis.
    x = torch.tensor([[2.0, 1.0], [2.0, -1.0], [-2.0, 1.0], [-2.0, -1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, -1.0, -1.0])
    normal, bias = train_linear_svm(x, y, c=10.0)
    assert abs(normal[1]) < 1e-4 * abs(normal[0]) and normal[0] > 0 and abs(bias) < 1e-4


def test_choose_svm_c_prefers_regularisation_with_few_noisy_samples():
    joy, neutral, _ = planted(seed=13, n=60, dim=40, shift=2.0)
    x = torch.cat([joy, neutral])
    y = torch.cat([torch.ones(60), -torch.ones(60)])
    assert choose_svm_c(x, y, generator=torch.Generator().manual_seed(0)) < 1.0


def test_orthogonalize_removes_nuisance_exactly():
    g = torch.Generator().manual_seed(7)
    vector = torch.randn(50, generator=g, dtype=torch.float64)
    nuisance = torch.randn(3, 50, generator=g, dtype=torch.float64)
    nuisance = torch.cat([nuisance, nuisance[:1] + 2 * nuisance[1:2]])  # a dependent row is fine
    out = orthogonalize(vector, nuisance)
    assert abs(float(out.norm()) - 1.0) < 1e-12
    assert torch.allclose(nuisance @ out, torch.zeros(4, dtype=torch.float64), atol=1e-12)
    # What is left is the original minus its nuisance-span component, renormalised.
    q, _ = torch.linalg.qr(nuisance[:3].T)
    expected = vector - q @ (q.T @ vector)
    assert torch.allclose(out, expected / expected.norm(), atol=1e-12)


def test_orthogonalize_single_condition_is_interfacegan_projection():
    primal = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64) / 2 ** 0.5
    condition = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    assert torch.allclose(orthogonalize(primal, condition[None]), torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))


def test_orthogonalize_refuses_vector_inside_span():
    with pytest.raises(LatentShapeError, match="span"):
        orthogonalize(torch.tensor([1.0, 1.0, 0.0]), torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))


def test_shape_checks_raise():
    with pytest.raises(LatentShapeError):
        fit_mean_difference(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(LatentShapeError):
        fit_mean_difference(torch.zeros(4), torch.zeros(3, 4))
    with pytest.raises(LatentShapeError):
        fit_linear_boundary(torch.zeros(1, 4), torch.ones(3, 4))
    with pytest.raises(LatentShapeError):
        orthogonalize(torch.ones(4), torch.ones(2, 5))
    with pytest.raises(LatentShapeError):
        latent_features(torch.zeros(5), "w")
    with pytest.raises(LatentShapeError):
        latent_features(torch.zeros(5, 4), "w+")
    with pytest.raises(LatentShapeError, match="NaN"):
        latent_features(torch.full((2, 3), float("nan")), "w")
    with pytest.raises(LatentShapeError, match="zero length"):
        fit_mean_difference(torch.ones(3, 4), torch.ones(2, 4))
    with pytest.raises(LatentShapeError):
        fit_direction(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), torch.ones(5), JOY, NEUTRAL)
    with pytest.raises(LatentShapeError):
        fit_direction(torch.zeros(4, 3), torch.zeros(4), torch.ones(4), JOY, NEUTRAL)  # float labels


def test_fit_direction_needs_two_samples_per_class():
    labels = torch.tensor([JOY, NEUTRAL, NEUTRAL])
    with pytest.raises(LatentShapeError, match="joy has 1"):
        fit_direction(torch.randn(3, 4), labels, torch.ones(3), JOY, NEUTRAL)


def test_most_confident_selects_top_share():
    conf = torch.tensor([0.1, 0.9, 0.5, 0.7, 0.3])
    assert most_confident(conf, 0.4).tolist() == [1, 3]
    assert most_confident(conf, 0.01).tolist() == [1, 3]  # at least two
    assert sorted(most_confident(conf, 1.0).tolist()) == [0, 1, 2, 3, 4]


def test_confident_selection_rejects_noisy_labels():
    # Half of the joy labels are wrong (drawn from neutral) but carry low confidence: using only
    # the most confident half recovers the direction far better than using all.
    joy, neutral, truth = planted(seed=9, n=400, dim=64, shift=1.0)
    wrong = neutral[:200] + 0.0
    features = torch.cat([joy[:200], wrong, neutral[200:]])
    labels = torch.tensor([JOY] * 400 + [NEUTRAL] * 200)
    conf = torch.cat([torch.full((200,), 0.9), torch.full((200,), 0.4), torch.full((200,), 0.9)])
    d_all, _ = fit_direction(features, labels, conf, JOY, NEUTRAL, top_ratio=1.0)
    d_top, info = fit_direction(features, labels, conf, JOY, NEUTRAL, top_ratio=0.5)
    assert info["counts"]["positive"] == 200
    assert torch.dot(d_top, truth) > torch.dot(d_all, truth)


def test_strength_range_is_centroid_distance():
    joy, neutral, truth = planted(seed=3, n=3000, dim=16, shift=2.0, noise=0.5)
    rec, (low, high) = strength_range(joy, neutral, truth)
    assert abs(rec - 2.0) < 0.05
    assert low == pytest.approx(rec / 2) and high >= rec


def test_parse_layers():
    assert parse_layers("0-3,6", 8) == (0, 1, 2, 3, 6)
    assert parse_layers(None, 3) == (0, 1, 2)
    assert parse_layers("all", 2) == (0, 1)
    for bad in ("3-1", "0-8", "a", "-1"):
        with pytest.raises(LatentShapeError):
            parse_layers(bad, 8)


def test_w_plus_layer_mask_and_unit_vectors():
    g = torch.Generator().manual_seed(11)
    num_ws, w_dim, n = 6, 8, 200
    truth = torch.zeros(num_ws, w_dim)
    truth[1:3] = torch.randn(2, w_dim, generator=g)
    truth /= truth.norm()
    base = torch.randn(2 * n, num_ws, w_dim, generator=g)
    base[:n] += 3 * truth
    labels = torch.tensor([JOY] * n + [NEUTRAL] * n)
    fits = fit_emotion_directions(base, labels, torch.ones(2 * n), [JOY], NEUTRAL, space="w+", layers=(0, 1, 2, 3))
    vector = fits[JOY].vector
    assert vector.shape == (num_ws, w_dim) and vector.dtype == torch.float32
    assert abs(float(vector.norm()) - 1.0) < 1e-6
    assert torch.count_nonzero(vector[4:]) == 0
    assert torch.sum(vector * truth) > 0.95
    assert fits[JOY].layers == (0, 1, 2, 3)


def test_fit_emotion_directions_orthogonal_to_others_and_pcs():
    g = torch.Generator().manual_seed(12)
    dim, n = 32, 300
    axes = torch.linalg.qr(torch.randn(dim, 3, generator=g))[0].T
    mixed_joy = (axes[0] + 0.5 * axes[1]) / (1.25 ** 0.5)
    x = torch.randn(3 * n, dim, generator=g)
    x[:n] += 2 * mixed_joy
    x[n:2 * n] += 2 * axes[1]
    labels = torch.tensor([JOY] * n + [FEAR] * n + [NEUTRAL] * n)
    plain = fit_emotion_directions(x, labels, torch.ones(3 * n), [JOY, FEAR], NEUTRAL, num_ws=4)
    ortho = fit_emotion_directions(x, labels, torch.ones(3 * n), [JOY, FEAR], NEUTRAL, num_ws=4,
                                   orthogonalize_others=True, nuisance_pcs=2)
    assert plain[JOY].vector.shape == (dim,) and plain[JOY].layers == (0, 1, 2, 3)
    # The raw joy direction contains fear's axis; after conditioning it does not.
    assert torch.dot(plain[JOY].vector, axes[1]) > 0.3
    raw_fear = plain[FEAR].vector.double()
    assert abs(float(torch.dot(ortho[JOY].vector.double(), raw_fear))) < 1e-5
    pcs = principal_directions(latent_features(x, "w"), 2)
    assert torch.allclose(pcs.float() @ ortho[JOY].vector, torch.zeros(2), atol=1e-5)
    assert abs(float(ortho[JOY].vector.norm()) - 1) < 1e-6


def test_svm_method_reports_accuracy_and_counts():
    joy, neutral, _ = planted(seed=13, n=100, dim=16, shift=3.0)
    labels = torch.tensor([JOY] * 100 + [NEUTRAL] * 100)
    fits = fit_emotion_directions(torch.cat([joy, neutral]).float(), labels, torch.ones(200), [JOY], NEUTRAL,
                                  method="svm", validation_ratio=0.25, seed=1)
    fit = fits[JOY]
    # 3 sigma apart: Bayes accuracy Phi(1.5) = 93 %; 50 held-out samples.
    assert fit.method == "svm" and fit.accuracy > 0.8 and fit.train_accuracy > 0.85
    assert fit.counts == {"positive": 100, "negative": 100, "validation": 50, "train": 150}
    assert fit.strength > 0 and fit.strength_range[0] < fit.strength <= fit.strength_range[1]


def test_split_is_seeded_and_disjoint():
    tr, va = split_train_validation(10, 0.3, torch.Generator().manual_seed(0))
    assert len(va) == 3 and len(tr) == 7 and set(tr.tolist()).isdisjoint(va.tolist())
    tr2, va2 = split_train_validation(10, 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(va, va2)


def test_expand_direction_w_plus():
    v = torch.arange(1.0, 7.0, dtype=torch.float64)
    out = expand_direction(v, "w+", (1, 3), num_ws=4, w_dim=3)
    assert out.shape == (4, 3) and torch.count_nonzero(out[[0, 2]]) == 0
    assert torch.allclose(out[[1, 3]].flatten(), (v / v.norm()).float())
