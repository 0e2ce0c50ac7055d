"""A linear SVM in numpy/scipy: the primal L2-regularised squared-hinge loss, minimised by L-BFGS.

scikit-learn is not a dependency; this is the model LIBLINEAR fits by default (``LinearSVC``), with
the penalty chosen by cross-validation on the training data. Conventions: features ``x`` [N, F]
(any float dtype; computed in float64), labels ``y`` [N] in {+1, -1}; the decision is
``x @ normal + bias >= 0`` for the +1 class.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from scipy.optimize import minimize

#: Penalties tried by :func:`choose_svm_c` (features are standardised, so these are comparable).
C_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)


def _svm_objective(params: np.ndarray, x: np.ndarray, y: np.ndarray, c: float):
    """Primal L2-regularised squared-hinge linear SVM: value and gradient (w then bias)."""
    w, b = params[:-1], params[-1]
    margin = 1.0 - y * (x @ w + b)
    active = margin > 0
    slack = np.where(active, margin, 0.0)
    value = 0.5 * w @ w + c * np.sum(slack * slack)
    coef = -2.0 * c * slack * y
    grad = np.concatenate([w + x.T @ coef, [coef.sum()]])
    return value, grad


def train_linear_svm(x: torch.Tensor, y: torch.Tensor, c: float = 1.0, max_iter: int = 500) -> tuple[torch.Tensor, float]:
    """Fit a linear SVM (squared hinge, L2 penalty, as LIBLINEAR's default) by L-BFGS.

    ``x`` [N, F] features, ``y`` [N] with values +1/-1. Features are centred and scaled by their
    overall standard deviation inside (the returned weights are in the original units).
    Returns (normal [F] float64, not normalised; bias) of the decision ``x @ normal + bias``.
    """
    xn = x.double().numpy()
    yn = y.double().numpy()
    mean = xn.mean(0)
    scale = float(xn.std()) or 1.0
    xs = (xn - mean) / scale
    start = np.zeros(xs.shape[1] + 1)
    result = minimize(_svm_objective, start, args=(xs, yn, c), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter})
    w_s, b_s = result.x[:-1], result.x[-1]
    w = w_s / scale
    return torch.from_numpy(w), float(b_s - mean @ w)


def accuracy(x: torch.Tensor, y: torch.Tensor, normal: torch.Tensor, bias: float) -> Optional[float]:
    if x.shape[0] == 0:
        return None
    pred = torch.where(x.double() @ normal + bias >= 0, 1.0, -1.0)
    return float((pred == y.double()).double().mean())


def choose_svm_c(x: torch.Tensor, y: torch.Tensor, grid: Sequence[float] = C_GRID, folds: int = 3,
                 generator: Optional[torch.Generator] = None) -> float:
    """The penalty ``c`` from ``grid`` with the best ``folds``-fold cross-validated accuracy on
    (x, y) (ties: the smaller, more regularised ``c``). Uses only the data given (the train part)."""
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    order = torch.randperm(x.shape[0], generator=gen)
    parts = [order[i::folds] for i in range(folds)]
    best, best_acc = grid[0], -1.0
    for c in grid:
        correct = 0.0
        for k in range(folds):
            train = torch.cat([parts[j] for j in range(folds) if j != k])
            if train.numel() == 0 or parts[k].numel() == 0 or y[train].unique().numel() < 2:
                continue
            normal, bias = train_linear_svm(x[train], y[train], c=c)
            correct += accuracy(x[parts[k]], y[parts[k]], normal, bias) * parts[k].numel()
        if correct > best_acc + 1e-12:
            best, best_acc = c, correct
    return float(best)
