"""Stand-in direction sets for generators that have no labelled faces (test fixtures, benchmarks).

The generator's mapped latents of ``samples`` random z are split into seven groups by a random
linear rule (the argmax of seven random projections of ``w - mean(w)``) and fitted like emotion
classes (:func:`directions.fitting.fit_emotion_directions`, mean differences in W, group 6 as the
neutral one). The directions say nothing about emotions; they only move the latent the way real
directions would. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from directions.direction_file import DirectionSet, direction_set_from_fits, save_directions
from directions.fitting import fit_emotion_directions
from inversion.checkpoints import generator_identity


@torch.no_grad()
def random_rule_directions(G: nn.Module, samples: int = 400, seed: int = 0) -> DirectionSet:
    """Six W directions for ``G`` from ``samples`` mapped latents grouped by a seeded random rule."""
    g = torch.Generator().manual_seed(seed)
    w = G.mapping(torch.randn(samples, G.z_dim, generator=g), None)[:, 0]
    labels = ((w - w.mean(0)) @ torch.randn(G.w_dim, 7, generator=g)).argmax(1)
    fits = fit_emotion_directions(w, labels, torch.ones(len(w)), list(range(6)), 6, space="w", num_ws=G.num_ws)
    return direction_set_from_fits(fits, generator=generator_identity(G), space="w", num_ws=G.num_ws, w_dim=G.w_dim)


def save_random_rule_directions(G: nn.Module, path: str | os.PathLike, samples: int = 400, seed: int = 0):
    """:func:`random_rule_directions` written to ``path`` (atomically); returns the path written."""
    return save_directions(random_rule_directions(G, samples, seed), path)
