"""Measured recommended strengths: how far along a direction an edit must go to show its effect.

A direction's recommended strength is *measured* on a calibration set of W+ latents (encoded faces
that are not the held-out evaluation faces), on a grid of strengths in latent units along the unit
W+ offset (``ws' = ws + s * offset``, renders with ``noise_mode="const"``):

1. walking the grid upwards, the first strength whose **score** reaches ``level`` is taken (for an
   emotion: the share of faces whose top class is the target reaches :data:`SUCCESS_LEVEL`; for
   the blink: the mean eye aspect ratio falls to :data:`directions.blink.EAR_CLOSED`); when no
   strength reaches it, the strength with the best score (the smallest of ties);
2. the **identity drift** there (mean dlib descriptor distance between edited and unedited renders
   of the first ``identity_faces`` faces, :class:`directions.evaluation.DlibIdentity`) must be at
   most ``drift_limit`` (:data:`DRIFT_LIMIT`, under dlib's same-person threshold 0.6); otherwise
   the strength steps down the grid until it is (or the grid's first strength is reached).

:func:`calibrate` returns the chosen strength with what was measured (JSON-serialisable), which
direction files keep as each entry's ``calibration``.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch

from directions.evaluation import Describe, to_uint8_rgb
from directions.labelled_latents import to_classifier_input
from inversion.common.errors import FaceLatentError

#: Share of calibration faces whose top class must become the target at the recommended strength
#: (three in four: the emotion shows clearly, not just on the faces that were close to it).
SUCCESS_LEVEL = 0.75
#: Largest mean identity drift (dlib descriptor distance) allowed at the recommended strength.
DRIFT_LIMIT = 0.5
#: Strengths tried (latent units along the unit W+ offset): 0.5 to 4 in steps of 0.5, then 5 to 14.
DEFAULT_GRID: tuple[float, ...] = tuple(0.5 * k for k in range(1, 9)) + tuple(float(k) for k in range(5, 15))

Score = Callable[[torch.Tensor], float]


@torch.no_grad()
def render(G, ws: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """``G.synthesis`` of W+ latents [N, num_ws, w_dim] in batches, ``noise_mode="const"``: [N, C, H, W]."""
    return torch.cat([G.synthesis(ws[s:s + batch_size], noise_mode="const") for s in range(0, ws.shape[0], batch_size)])


def success_score(G, classify: Callable[[torch.Tensor], torch.Tensor], target: int) -> Score:
    """Score of edited latents: the share whose renders the classifier puts in class ``target``."""
    def score(ws: torch.Tensor) -> float:
        with torch.no_grad():
            probs = torch.as_tensor(classify(to_classifier_input(render(G, ws))))
        return float((probs.argmax(dim=1) == target).double().mean())
    return score


def identity_drift(G, ws: torch.Tensor, edited: torch.Tensor, describe: Describe,
                   base: Optional[np.ndarray] = None) -> float:
    """Mean descriptor distance between renders of ``ws`` (or their descriptors ``base``) and of ``edited``."""
    if base is None:
        base = np.asarray(describe(to_uint8_rgb(render(G, ws))))
    moved = np.asarray(describe(to_uint8_rgb(render(G, edited))))
    return float(np.linalg.norm(moved - base, axis=1).mean())


def first_reaching(scores: Sequence[float], level: float) -> tuple[int, bool]:
    """(index of the first score >= ``level``, True), else (index of the best score, False)."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        raise FaceLatentError("no strengths were tried")
    hits = np.flatnonzero(values >= level)
    return (int(hits[0]), True) if hits.size else (int(np.argmax(values)), False)


def calibrate(G, ws: torch.Tensor, offset: torch.Tensor, score: Score, level: float, *,
              describe: Optional[Describe] = None, strengths: Sequence[float] = DEFAULT_GRID,
              drift_limit: float = DRIFT_LIMIT, identity_faces: int = 16) -> dict:
    """Measure the recommended strength of ``offset`` [num_ws, w_dim] (unit) on latents ``ws``
    [N, num_ws, w_dim] (see the module docstring). ``describe=None`` skips the drift cap.

    Returns ``{"strength", "score", "reached", "identity_distance" (None without describe),
    "capped", "level", "drift_limit", "faces", "identity_faces", "strengths", "scores"}``, where
    ``strengths``/``scores`` are the grid points walked (the walk stops at the first that reaches
    ``level``).
    """
    grid = sorted(float(s) for s in strengths)
    if not grid or grid[0] <= 0:
        raise FaceLatentError(f"calibration strengths must be positive, got {list(strengths)}")
    offset = offset.to(ws.device, ws.dtype)
    tried, scores = [], []
    for s in grid:
        tried.append(s)
        scores.append(score(ws + s * offset))
        if scores[-1] >= level:
            break
    index, _ = first_reaching(scores, level)
    drift, capped = None, False
    if describe is not None:
        few = ws[:identity_faces]
        base = np.asarray(describe(to_uint8_rgb(render(G, few))))
        drift = identity_drift(G, few, few + tried[index] * offset, describe, base)
        while drift > drift_limit and index > 0:
            index, capped = index - 1, True
            drift = identity_drift(G, few, few + tried[index] * offset, describe, base)
    return {"strength": tried[index], "score": float(scores[index]), "reached": bool(scores[index] >= level),
            "identity_distance": drift, "capped": capped, "level": float(level), "drift_limit": float(drift_limit),
            "faces": int(ws.shape[0]), "identity_faces": int(min(identity_faces, ws.shape[0])) if describe else 0,
            "strengths": tried, "scores": [float(v) for v in scores]}
