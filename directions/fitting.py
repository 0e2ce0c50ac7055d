"""Fitting emotion directions in a generator's latent space from labelled latents.

Small pure functions on tensors, in the spirit of InterFaceGAN's manipulator, with shape checks
that raise :class:`LatentShapeError` (a one-line user error, also a ``ValueError``).

Conventions:

- Latents are float tensors ``[N, D]`` (W space, ``D = w_dim``) or ``[N, num_ws, w_dim]`` (W+).
  :func:`latent_features` turns either into the ``[N, F]`` feature matrix a direction is fitted
  on: for ``space="w"`` the mean over the layers of W+ input (W input as is), for ``space="w+"``
  the selected layers flattened.
- A fitted direction is a unit vector (L2 norm 1, float32): ``[w_dim]`` for ``space="w"``,
  ``[num_ws, w_dim]`` for ``space="w+"`` with zeros on the layers outside the layer mask.
  Editing moves a latent *towards* the emotion: ``w' = w + strength * direction``.
- "Positive" samples show the emotion, "negative" samples are neutral.
- Strengths are in latent units along the unit direction; the recommended strength is the distance
  between the neutral and the emotion centroids' projections, so that ``strength = recommended``
  moves a typical neutral face to a typical face of the emotion.

Usage (joy is index 0, neutral 6 in :data:`directions.emotions.EMOTIONS`)::

    >>> g = torch.Generator().manual_seed(0)
    >>> neutral, joyful = torch.randn(40, 8, generator=g), torch.randn(40, 8, generator=g) + 2.0
    >>> latents = torch.cat([neutral, joyful])
    >>> labels = torch.tensor([6] * 40 + [0] * 40)
    >>> fits = fit_emotion_directions(latents, labels, torch.ones(80), [0], 6, num_ws=4)
    >>> joy = fits[0]
    >>> tuple(joy.vector.shape), round(float(joy.vector.norm()), 4), joy.strength > 3
    ((8,), 1.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch

from directions.emotions import EMOTIONS
from directions.linear_svm import accuracy, choose_svm_c, train_linear_svm
from inversion.common.errors import FaceLatentError

METHODS: tuple[str, ...] = ("mean", "svm")
SPACES: tuple[str, ...] = ("w", "w+")
_EPS = 1e-8


class LatentShapeError(FaceLatentError, ValueError):
    """Latents, labels or directions whose shapes, sizes or values do not fit together."""


@dataclass(frozen=True)
class FittedDirection:
    """One fitted direction and what was measured while fitting it.

    ``vector``: unit float32 tensor (see the module docstring for its shape). ``accuracy``: held-out
    (validation) accuracy of the linear boundary, ``None`` for the mean difference when no split
    was made. ``strength``: recommended strength (latent units). ``strength_range``: (low, high).
    ``counts``: numbers of positive/negative samples used, and of train/validation samples.
    """

    vector: torch.Tensor
    method: str
    layers: tuple[int, ...]
    accuracy: Optional[float]
    train_accuracy: Optional[float]
    strength: float
    strength_range: tuple[float, float]
    counts: dict = field(default_factory=dict)


def check_latents(latents: torch.Tensor, labels: Optional[torch.Tensor] = None) -> None:
    """Raise :class:`LatentShapeError` unless ``latents`` is [N, D] or [N, num_ws, w_dim] and finite,
    and ``labels`` (if given) is an integer vector of length N."""
    if not isinstance(latents, torch.Tensor) or latents.ndim not in (2, 3):
        shape = tuple(latents.shape) if hasattr(latents, "shape") else type(latents).__name__
        raise LatentShapeError(f"latents must be [N, D] or [N, num_ws, w_dim], got {shape}")
    if latents.shape[0] == 0 or latents.shape[-1] == 0:
        raise LatentShapeError(f"latents are empty: shape {tuple(latents.shape)}")
    if not torch.isfinite(latents).all():
        raise LatentShapeError("latents contain NaN or infinite values")
    if labels is not None:
        if labels.ndim != 1 or labels.shape[0] != latents.shape[0]:
            raise LatentShapeError(f"labels must be [N] with N = {latents.shape[0]}, got {tuple(labels.shape)}")
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise LatentShapeError(f"labels must be integer class indices, got {labels.dtype}")


def parse_layers(text: Optional[str], num_ws: int) -> tuple[int, ...]:
    """Parse a layer mask such as ``0-5`` or ``0,1,4-7`` into sorted layer indices < ``num_ws``.

    ``None`` or ``all`` means every layer. Raises :class:`LatentShapeError` for a malformed text or
    an index outside ``0..num_ws-1``.
    """
    if text is None or text.strip().lower() in ("", "all"):
        return tuple(range(num_ws))
    chosen: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            start, stop = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise LatentShapeError(f"--layers {text!r}: expected indices or ranges such as 0-5 or 0,2,4-7") from None
        if start > stop or start < 0 or stop >= num_ws:
            raise LatentShapeError(f"--layers {text!r}: layers must lie in 0..{num_ws - 1} (the generator has {num_ws})")
        chosen.update(range(start, stop + 1))
    return tuple(sorted(chosen))


def latent_features(latents: torch.Tensor, space: str, layers: Optional[Sequence[int]] = None) -> torch.Tensor:
    """The ``[N, F]`` float64 feature matrix that directions are fitted on.

    ``space="w"``: W latents as is, W+ latents averaged over their layers (``F = w_dim``).
    ``space="w+"``: W+ latents of the chosen ``layers`` (default all) flattened (``F = len(layers) * w_dim``).
    """
    check_latents(latents)
    if space not in SPACES:
        raise LatentShapeError(f"unknown latent space {space!r}: use w or w+")
    if space == "w":
        x = latents if latents.ndim == 2 else latents.mean(dim=1)
        return x.double()
    if latents.ndim != 3:
        raise LatentShapeError(f"space w+ needs latents [N, num_ws, w_dim], got {tuple(latents.shape)}")
    layers = tuple(range(latents.shape[1])) if layers is None else tuple(layers)
    if not layers or min(layers) < 0 or max(layers) >= latents.shape[1]:
        raise LatentShapeError(f"layers {layers} outside 0..{latents.shape[1] - 1}")
    return latents[:, list(layers)].reshape(latents.shape[0], -1).double()


def expand_direction(features_vector: torch.Tensor, space: str, layers: Sequence[int], num_ws: int, w_dim: int) -> torch.Tensor:
    """A unit feature-space vector as a direction: ``[w_dim]`` (w) or ``[num_ws, w_dim]`` with zeros
    outside ``layers`` (w+), float32, renormalised to unit length."""
    v = features_vector.detach().double().flatten()
    if space == "w":
        if v.numel() != w_dim:
            raise LatentShapeError(f"a W direction has {w_dim} values, got {v.numel()}")
        out = v
    else:
        if v.numel() != len(layers) * w_dim:
            raise LatentShapeError(f"a W+ direction on {len(layers)} layers has {len(layers) * w_dim} values, got {v.numel()}")
        out = torch.zeros(num_ws, w_dim, dtype=torch.float64)
        out[list(layers)] = v.reshape(len(layers), w_dim)
    return unit(out).float()


def unit(vector: torch.Tensor) -> torch.Tensor:
    """``vector / |vector|`` (L2 over all entries); raises :class:`LatentShapeError` for a zero vector."""
    norm = vector.norm()
    if not torch.isfinite(norm) or norm <= _EPS:
        raise LatentShapeError("the fitted direction has zero length (the two groups have the same centroid)")
    return vector / norm


def _check_groups(positive: torch.Tensor, negative: torch.Tensor, minimum: int = 1) -> None:
    for name, x in (("positive", positive), ("negative", negative)):
        if x.ndim != 2:
            raise LatentShapeError(f"{name} features must be [N, F], got {tuple(x.shape)}")
        if x.shape[0] < minimum:
            raise LatentShapeError(f"need at least {minimum} {name} samples, got {x.shape[0]}")
    if positive.shape[1] != negative.shape[1]:
        raise LatentShapeError(f"positive and negative features differ in width: {positive.shape[1]} vs {negative.shape[1]}")


def fit_mean_difference(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Unit vector from the negative (neutral) centroid to the positive (emotion) centroid.

    SplitGAN's domain-translation vector. ``positive`` [P, F], ``negative`` [M, F]; returns [F] float64.
    """
    _check_groups(positive, negative)
    return unit(positive.double().mean(0) - negative.double().mean(0))


def most_confident(confidences: torch.Tensor, ratio: float, minimum: int = 2) -> torch.Tensor:
    """Indices of the ``ratio`` share (at least ``minimum``, at most all) with the highest confidence,
    most confident first (InterFaceGAN's top/bottom selection)."""
    if not 0 < ratio <= 1:
        raise LatentShapeError(f"the confident share must be in (0, 1], got {ratio}")
    n = confidences.shape[0]
    keep = min(n, max(minimum, int(round(ratio * n))))
    return torch.argsort(confidences.double(), descending=True, stable=True)[:keep]


def split_train_validation(num: int, validation_ratio: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of ``range(num)`` into (train, validation) indices; each gets at least one
    sample when ``num >= 2`` and ``validation_ratio > 0``."""
    if not 0 <= validation_ratio < 1:
        raise LatentShapeError(f"the validation share must be in [0, 1), got {validation_ratio}")
    order = torch.randperm(num, generator=generator)
    num_val = validation_size(num, validation_ratio)
    return order[num_val:], order[:num_val]


def validation_size(num: int, validation_ratio: float) -> int:
    """How many of ``num`` samples :func:`split_train_validation` holds out."""
    num_val = int(round(validation_ratio * num))
    if validation_ratio > 0 and num >= 2:
        num_val = min(max(num_val, 1), num - 1)
    return num_val


def fit_linear_boundary(
    positive: torch.Tensor,
    negative: torch.Tensor,
    *,
    validation_ratio: float = 0.3,
    generator: Optional[torch.Generator] = None,
    c: Optional[float] = None,
) -> tuple[torch.Tensor, Optional[float], Optional[float]]:
    """InterFaceGAN's boundary: a linear SVM between positive and negative features.

    Each group is split into train and validation parts (seeded by ``generator``; default seed 0);
    the SVM is trained on the train parts, with penalty ``c`` (``None``: chosen by
    :func:`choose_svm_c` on the train part only). Returns (unit normal [F] float64 pointing towards the
    positive side, held-out accuracy or ``None`` without validation samples, train accuracy).
    """
    _check_groups(positive, negative, minimum=2)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    p_tr, p_va = split_train_validation(positive.shape[0], validation_ratio, gen)
    n_tr, n_va = split_train_validation(negative.shape[0], validation_ratio, gen)
    x_tr = torch.cat([positive[p_tr], negative[n_tr]]).double()
    y_tr = torch.cat([torch.ones(len(p_tr)), -torch.ones(len(n_tr))])
    x_va = torch.cat([positive[p_va], negative[n_va]]).double()
    y_va = torch.cat([torch.ones(len(p_va)), -torch.ones(len(n_va))])
    if c is None:
        c = choose_svm_c(x_tr, y_tr, generator=gen)
    normal, bias = train_linear_svm(x_tr, y_tr, c=c)
    norm = normal.norm()
    if norm <= _EPS:
        raise LatentShapeError("the linear boundary has zero length (the classes could not be told apart)")
    return normal / norm, accuracy(x_va, y_va, normal, bias), accuracy(x_tr, y_tr, normal, bias)


def orthogonalize(vector: torch.Tensor, nuisance: torch.Tensor) -> torch.Tensor:
    """Remove from ``vector`` its component in the span of the ``nuisance`` directions and renormalise.

    InterFaceGAN's conditional projection, for any number of conditions: ``vector`` [F] (or any
    shape, flattened), ``nuisance`` [K, F] (K directions, need not be orthogonal or unit; linearly
    dependent rows are allowed). The result is a unit vector orthogonal to every nuisance row (up to
    rounding), in the shape and dtype of ``vector``. Raises :class:`LatentShapeError` when the shapes
    disagree or ``vector`` lies in the nuisance span.
    """
    v = vector.detach().double().flatten()
    n = nuisance.detach().double().reshape(nuisance.shape[0], -1) if nuisance.ndim > 1 else nuisance.double()[None]
    if n.shape[1] != v.numel():
        raise LatentShapeError(f"nuisance directions have {n.shape[1]} values, the direction {v.numel()}")
    if n.shape[0] == 0:
        return unit(v).reshape(vector.shape).to(vector.dtype)
    u, s, _ = torch.linalg.svd(n.T, full_matrices=False)
    basis = u[:, s > s.max() * 1e-10] if s.numel() and s.max() > 0 else u[:, :0]
    rest = v - basis @ (basis.T @ v)
    if rest.norm() <= 1e-6 * max(v.norm().item(), _EPS):
        raise LatentShapeError("the direction lies in the span of the nuisance directions: nothing is left")
    return unit(rest).reshape(vector.shape).to(vector.dtype)


def strength_range(positive: torch.Tensor, negative: torch.Tensor, direction: torch.Tensor) -> tuple[float, tuple[float, float]]:
    """Recommended strength and range along a unit ``direction`` [F] from the data's spread.

    Projections ``p = x @ direction``. Recommended strength: ``mean(p_pos) - mean(p_neg)`` (the
    centroid distance, at least 0). Range: from half of it to the distance between the neutral
    median and the emotion's 90th percentile (never below the recommended strength).
    """
    d = direction.double().flatten()
    p_pos = positive.double() @ d
    p_neg = negative.double() @ d
    rec = max(float(p_pos.mean() - p_neg.mean()), 0.0)
    high = float(torch.quantile(p_pos, 0.9) - p_neg.median())
    return rec, (0.5 * rec, max(high, rec))


def principal_directions(features: torch.Tensor, k: int) -> torch.Tensor:
    """The top ``k`` principal axes [k, F] (unit rows, float64) of ``features`` [N, F]: nuisance
    candidates such as pose or identity variation for :func:`orthogonalize`."""
    if features.ndim != 2 or not 0 < k <= min(features.shape):
        raise LatentShapeError(f"need features [N, F] and 0 < k <= min(N, F), got {tuple(features.shape)} and k={k}")
    centred = features.double() - features.double().mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:k]


def select_groups(features, labels, confidences, target: int, neutral: int, top_ratio: float = 1.0):
    """(positive, negative) float64 feature rows: the ``top_ratio`` most confident samples labelled
    ``target`` and ``neutral``; :class:`LatentShapeError` when a class has fewer than 2 samples."""
    groups = []
    for cls in (target, neutral):
        idx = torch.nonzero(labels == cls).flatten()
        if idx.numel() < 2:
            name = EMOTIONS[cls] if 0 <= cls < len(EMOTIONS) else f"class {cls}"
            raise LatentShapeError(f"{name} has {idx.numel()} labelled samples; need at least 2 to fit a direction")
        groups.append(features[idx[most_confident(confidences[idx], top_ratio)]].double())
    return groups[0], groups[1]


def fit_direction(
    features: torch.Tensor,
    labels: torch.Tensor,
    confidences: torch.Tensor,
    target: int,
    neutral: int,
    *,
    method: str = "mean",
    top_ratio: float = 1.0,
    validation_ratio: float = 0.3,
    generator: Optional[torch.Generator] = None,
    c: Optional[float] = None,
) -> tuple[torch.Tensor, dict]:
    """Fit one emotion's unit direction [F] (float64) in feature space against neutral.

    ``features`` [N, F] (see :func:`latent_features`), ``labels`` [N] class indices, ``confidences``
    [N] in [0, 1] (the labeller's probability of each sample's label). Of each class, the
    ``top_ratio`` most confident samples are used. ``method``: ``mean`` (centroid difference, on
    all selected samples) or ``svm`` (linear boundary with a seeded train/validation split).
    Returns the direction and a dict: accuracy (held-out), train_accuracy, strength,
    strength_range, counts. The strength figures come from all selected samples. ``c``: the SVM
    penalty (``None``: chosen by cross-validation on the train part, slow on wide W+ features).
    """
    check_latents(features, labels)
    if method not in METHODS:
        raise LatentShapeError(f"unknown method {method!r}: use {' or '.join(METHODS)}")
    if confidences.shape != labels.shape:
        raise LatentShapeError(f"confidences must be [N] like the labels, got {tuple(confidences.shape)}")
    positive, negative = select_groups(features, labels, confidences, target, neutral, top_ratio)
    groups = (positive, negative)
    accuracy = train_accuracy = None
    if method == "mean":
        direction = fit_mean_difference(positive, negative)
    else:
        direction, accuracy, train_accuracy = fit_linear_boundary(
            positive, negative, validation_ratio=validation_ratio, generator=generator, c=c)
    strength, span = strength_range(positive, negative, direction)
    counts = {"positive": int(positive.shape[0]), "negative": int(negative.shape[0])}
    if method == "svm":
        counts["validation"] = sum(validation_size(g.shape[0], validation_ratio) for g in groups)
        counts["train"] = counts["positive"] + counts["negative"] - counts["validation"]
    return direction, {"accuracy": accuracy, "train_accuracy": train_accuracy, "strength": strength,
                       "strength_range": span, "counts": counts}


def fit_emotion_directions(
    latents: torch.Tensor,
    labels: torch.Tensor,
    confidences: torch.Tensor,
    emotions: Sequence[int],
    neutral: int,
    *,
    method: str = "mean",
    space: str = "w",
    layers: Optional[Sequence[int]] = None,
    orthogonalize_others: bool = False,
    nuisance_pcs: int = 0,
    num_ws: Optional[int] = None,
    seed: int = 0,
    **options,
) -> dict[int, FittedDirection]:
    """Fit a unit direction per emotion index in ``emotions`` against the ``neutral`` class.

    ``latents`` [N, D] or [N, num_ws, w_dim] (W+ needs the latter), ``layers`` the layer mask (W+:
    the layers fitted; W: the layers the edit applies to; default all). ``orthogonalize_others``
    removes from each direction its components along the other emotions' raw directions;
    ``nuisance_pcs > 0`` also along the top principal axes of all latents (pose, identity...).
    The held-out accuracy reported is the raw boundary's (before orthogonalisation); the strength
    figures are measured along the final direction.
    ``num_ws``: the generator's layer count (needed for W latents [N, D]; W+ latents carry it).
    ``options`` go to :func:`fit_direction` (top_ratio, validation_ratio, c). Seeded by ``seed``.
    """
    check_latents(latents, labels)
    if latents.ndim == 3:
        if num_ws is not None and num_ws != latents.shape[1]:
            raise LatentShapeError(f"latents have {latents.shape[1]} layers, the generator {num_ws}")
        num_ws = latents.shape[1]
    num_ws = 1 if num_ws is None else int(num_ws)
    w_dim = latents.shape[-1]
    layers = tuple(range(num_ws)) if layers is None else tuple(int(i) for i in layers)
    features = latent_features(latents, space, layers if space == "w+" else None)
    raw, info = {}, {}
    for index in emotions:
        gen = torch.Generator().manual_seed(int(seed) * 1000 + int(index))
        raw[index], info[index] = fit_direction(features, labels, confidences, index, neutral, method=method,
                                                generator=gen, **options)
    pcs = principal_directions(features, nuisance_pcs) if nuisance_pcs > 0 else features.new_zeros(0, features.shape[1])
    fits = {}
    for index in emotions:
        others = [raw[j] for j in emotions if j != index] if orthogonalize_others else []
        nuisance = torch.cat([torch.stack(others), pcs]) if others else pcs
        vector = orthogonalize(raw[index], nuisance) if nuisance.shape[0] else raw[index]
        if nuisance.shape[0]:
            groups = select_groups(features, labels, confidences, index, neutral, options.get("top_ratio", 1.0))
            info[index]["strength"], info[index]["strength_range"] = strength_range(*groups, vector)
        fits[index] = FittedDirection(
            vector=expand_direction(vector, space, layers, num_ws, w_dim), method=method, layers=layers,
            accuracy=info[index]["accuracy"], train_accuracy=info[index]["train_accuracy"],
            strength=info[index]["strength"], strength_range=info[index]["strength_range"],
            counts=info[index]["counts"])
    return fits


