"""Search an expression basis's coefficients for the target that a score rates best (coordinate search).

Used by ``scripts/search_targets.py`` to find the target coefficients ``e*`` ``[K]`` of an emotion that
the shipped classifier reads best on training faces once the warp has moved them there. The search stays
inside the box ``[low, high]`` (the range of real faces' coefficients, :class:`directions.expression_basis.
ExpressionBasis`), so what it finds is a shape real faces take, one coordinate at a time.

Conventions: ``score(coefficients [K]) -> float``, larger is better; deterministic (no randomness: the
same start and score give the same result).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class SearchResult:
    """The best coefficients ``[K]``, their score, the start's score, and each improvement as
    ``(sweep, dim, value, score)``."""

    best: np.ndarray
    score: float
    start_score: float
    steps: list = field(default_factory=list)
    evaluations: int = 0


def coordinate_search(score: Callable[[np.ndarray], float], start: np.ndarray, low: np.ndarray, high: np.ndarray,
                      values: int = 5, sweeps: int = 2,
                      progress: Callable[[int, float], None] | None = None) -> SearchResult:
    """Maximise ``score`` over the box ``[low, high]`` from ``start`` (clipped into it).

    Each sweep visits the coordinates in order and tries ``values`` evenly spaced values from ``low`` to
    ``high`` for that coordinate, the others held, keeping any that scores strictly better. ``progress``
    is called after each evaluation with (evaluations so far, best score).
    """
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    if values < 2 or sweeps < 1 or low.shape != high.shape or np.any(low > high):
        raise ValueError("coordinate_search needs values >= 2, sweeps >= 1 and low <= high of one shape")
    best = np.clip(np.asarray(start, np.float64), low, high)
    first = float(score(best))
    result = SearchResult(best.copy(), first, first, evaluations=1)
    for sweep in range(sweeps):
        for dim in range(best.size):
            for value in np.linspace(low[dim], high[dim], values):
                if np.isclose(value, result.best[dim]):
                    continue
                candidate = result.best.copy()
                candidate[dim] = value
                rated = float(score(candidate))
                result.evaluations += 1
                if rated > result.score:
                    result.best, result.score = candidate, rated
                    result.steps.append((sweep, dim, float(value), rated))
                if progress is not None:
                    progress(result.evaluations, result.score)
    return result
