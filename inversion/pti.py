"""Pivotal tuning (PTI, Roich et al. 2021): fine-tune a copy of the synthesis network around a pivot.

After projection has found a pivot latent ``w_p`` for a face, the synthesis weights of a *copy* of
the generator are tuned so that ``synthesis(w_p)`` reproduces the target more closely:

    loss = lpips_weight * LPIPS(x, target) + l2_weight * MSE(x, target)
         + locality_lpips_weight * LPIPS(x_r, x_r_orig) + locality_l2_weight * MSE(x_r, x_r_orig)

where ``x_r`` / ``x_r_orig`` are the tuned / original renders of ``w_r = w_p + alpha * (w_z - w_p) /
|w_z - w_p|`` for ``w_z`` a mapped random z (truncation 0.5): the locality regulariser keeps latents
near the pivot rendering as before, so edits around the pivot stay meaningful. For a W+ pivot the
distance is the root mean square of the per-layer distances, so ``alpha`` means the same per layer.

The radius ``alpha`` is measured in units of the generator's latent spread ``w_std`` (as the
projector computes it, :func:`inversion.projection.projector.estimate_w_stats`) unless
``locality_alpha_units="w"``. The paper's ``alpha = 30`` is in the W units of its 1024 px FFHQ
generator; W's scale differs between generators (the embedded default generator has ``w_std``
about 2.2, so 30 would probe 14 spreads away, far outside the latents it renders or edits). With
that absolute radius the regulariser held the tuned network back (docs/BENCHMARKS.md, Inversion);
one spread keeps the probes where edits go and lets the fit proceed.

The result is a *weight delta*: the differences ``tuned - original`` of the synthesis parameters
that changed, named as in ``G.state_dict()`` (``synthesis.b8.conv0.weight`` ...), stored in
float16 by default (see docs/BENCHMARKS.md for the error that costs). :func:`apply_delta` turns a
generator and a delta into a tuned copy. The generator passed in is never modified.

Images are NCHW float32 in [-1, 1]; noise maps as in :mod:`inversion.projection.projector`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import nn

from inversion.common.errors import FaceLatentError, IncompatibleModelError
from inversion.projection.projector import (
    estimate_w_stats, pixel_distance, synthesize, target_distance, to_wplus,
)

DELTA_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


@dataclass
class PTIConfig:
    """Settings of :func:`pivotal_tuning`; defaults follow the PTI paper's code (350 steps, LPIPS + L2,
    locality regulariser with weights 0.1) except the learning rate and the locality radius: on the
    embedded 64 px generator lr 1e-3 fitted better than the paper's 3e-4 at every step count tried
    (20-60 steps), and the radius is one ``w_std`` (see the module docstring; docs/BENCHMARKS.md)."""

    num_steps: int = 350
    learning_rate: float = 1e-3
    lpips_weight: float = 1.0
    l2_weight: float = 1.0
    locality: bool = True
    locality_lpips_weight: float = 0.1
    locality_l2_weight: float = 0.1
    locality_alpha: float = 1.0
    locality_alpha_units: str = "w_std"
    locality_samples: int = 1
    locality_truncation: float = 0.5
    delta_dtype: str = "float16"

    def check(self) -> None:
        if self.num_steps < 1:
            raise FaceLatentError(f"the number of PTI steps must be at least 1, not {self.num_steps}")
        if self.locality_alpha_units not in ("w_std", "w"):
            raise FaceLatentError(f"unknown locality radius units '{self.locality_alpha_units}': use w_std or w")
        if self.delta_dtype not in DELTA_DTYPES:
            raise FaceLatentError(f"unknown delta dtype '{self.delta_dtype}': use {', '.join(DELTA_DTYPES)}")


@dataclass
class PTIStep:
    """One tuning step: per-face losses computed in this step's forward pass (before the update)."""

    step: int
    num_steps: int
    loss: float
    lpips: float
    l2: float
    locality: float


@dataclass
class PTIResult:
    """A tuned synthesis network (a copy), its weight delta and the per-step loss history."""

    synthesis: nn.Module
    delta: dict
    loss_history: torch.Tensor  # [num_steps]
    lpips_history: torch.Tensor  # [num_steps]


def tuned_synthesis_copy(G: nn.Module) -> nn.Module:
    """A deep copy of ``G.synthesis`` with trainable float parameters (G itself is untouched)."""
    synthesis = copy.deepcopy(G.synthesis).eval()
    for param in synthesis.parameters():
        param.requires_grad_(param.is_floating_point())
    return synthesis


def locality_radius(G: nn.Module, config: PTIConfig, w_std: Optional[float] = None) -> float:
    """The locality radius in W units: ``locality_alpha``, times ``w_std`` unless the units are ``w``.

    ``w_std`` defaults to the projector's estimate from 2,000 mapped samples (fixed seed).
    """
    if config.locality_alpha_units == "w":
        return config.locality_alpha
    if w_std is None:
        w_std = estimate_w_stats(G, 2000)[1]
    return config.locality_alpha * float(w_std)


def locality_latents(G: nn.Module, pivot: torch.Tensor, config: PTIConfig, gen: torch.Generator,
                     radius: Optional[float] = None) -> torch.Tensor:
    """``[S, num_ws, w_dim]`` latents at distance ``radius`` (default :func:`locality_radius`) from the
    pivot towards mapped random z."""
    radius = locality_radius(G, config) if radius is None else radius
    z = torch.randn([config.locality_samples, G.z_dim], generator=gen).to(pivot.device)
    with torch.no_grad():
        w_z = G.mapping(z, None, truncation_psi=config.locality_truncation)
    pivot_plus = to_wplus(pivot, G.num_ws)
    direction = w_z - pivot_plus
    rms = direction.norm(dim=2).square().mean(dim=1).sqrt().clamp_min(1e-8)
    return pivot_plus + radius * direction / rms.reshape(-1, 1, 1)


def _locality_loss(G, synthesis, pivot, noise, config, gen, lpips, radius) -> torch.Tensor:
    ws = locality_latents(G, pivot, config, gen, radius)
    face_noise = {k: v.expand(ws.shape[0], *v.shape[1:]) for k, v in noise.items()} if noise else None
    with torch.no_grad():
        reference = synthesize(G, ws, face_noise)
    images = synthesize(G, ws, face_noise, synthesis=synthesis)
    distance = target_distance(lpips, reference)  # the original render's features once, without gradient
    return (config.locality_lpips_weight * distance(images).mean()
            + config.locality_l2_weight * pixel_distance(images, reference).mean())


def pivotal_tuning_steps(G: nn.Module, synthesis: nn.Module, target: torch.Tensor, pivot: torch.Tensor,
                         lpips: nn.Module, config: PTIConfig, *, noise: Optional[dict] = None,
                         seed: int = 0, w_std: Optional[float] = None) -> Iterator[PTIStep]:
    """Tune ``synthesis`` (a copy made by :func:`tuned_synthesis_copy`) in place; yield each step.

    ``target``: ``[1, C, H, W]`` in [-1, 1]; ``pivot``: ``[1, w_dim]`` or ``[1, num_ws, w_dim]``;
    ``noise``: the face's optimised noise maps (``[1, 1, H, W]`` each) or ``None`` for G's own;
    ``w_std``: the generator's latent spread for the locality radius (estimated when None).
    """
    config.check()
    if target.ndim != 4 or target.shape[0] != 1 or pivot.shape[0] != 1:
        raise FaceLatentError("pivotal tuning takes one face at a time (target [1, C, H, W], pivot [1, ...])")
    gen = torch.Generator().manual_seed(int(seed))
    ws = to_wplus(pivot.detach().float(), G.num_ws)
    target = target.detach().float()
    distance_to_target = target_distance(lpips, target)
    params = [p for p in synthesis.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.learning_rate, betas=(0.9, 0.999))
    radius = locality_radius(G, config, w_std) if config.locality else 0.0
    for step in range(config.num_steps):
        images = synthesize(G, ws, noise, synthesis=synthesis)
        dist = distance_to_target(images).sum()
        l2 = pixel_distance(images, target).sum()
        loss = config.lpips_weight * dist + config.l2_weight * l2
        locality = torch.zeros((), device=target.device)
        if config.locality:
            locality = _locality_loss(G, synthesis, pivot, noise, config, gen, lpips, radius)
            loss = loss + locality
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        yield PTIStep(step=step, num_steps=config.num_steps, loss=float(loss.detach()), lpips=float(dist.detach()),
                      l2=float(l2.detach()), locality=float(locality.detach()))


def pivotal_tuning(G: nn.Module, target: torch.Tensor, pivot: torch.Tensor, lpips: nn.Module,
                   config: Optional[PTIConfig] = None, *, noise: Optional[dict] = None, seed: int = 0,
                   w_std: Optional[float] = None, progress=None) -> PTIResult:
    """Tune a copy of ``G.synthesis`` around ``pivot`` for one face and return it with its delta.

    ``progress`` is called with every :class:`PTIStep`; ``w_std`` as in :func:`pivotal_tuning_steps`.
    ``G`` is not modified.
    """
    config = config or PTIConfig()
    synthesis = tuned_synthesis_copy(G)
    losses, dists = [], []
    for step in pivotal_tuning_steps(G, synthesis, target, pivot, lpips, config, noise=noise, seed=seed,
                                     w_std=w_std):
        losses.append(step.loss)
        dists.append(step.lpips)
        if progress is not None:
            progress(step)
    synthesis.requires_grad_(False)
    delta = weight_delta(G.synthesis, synthesis, DELTA_DTYPES[config.delta_dtype])
    return PTIResult(synthesis=synthesis, delta=delta, loss_history=torch.tensor(losses),
                     lpips_history=torch.tensor(dists))


@torch.no_grad()
def weight_delta(original: nn.Module, tuned: nn.Module, dtype: torch.dtype = torch.float16,
                 prefix: str = "synthesis.") -> dict:
    """``{prefix + name: (tuned - original).to(dtype)}`` for the float parameters that changed (on the CPU)."""
    before = dict(original.named_parameters())
    delta = {}
    for name, param in tuned.named_parameters():
        if not param.is_floating_point():
            continue
        diff = param.detach().float() - before[name].detach().float()
        if bool(diff.abs().max() > 0):
            delta[prefix + name] = diff.to(dtype).cpu()
    return delta


@torch.no_grad()
def apply_delta(G: nn.Module, delta: dict) -> nn.Module:
    """A deep copy of ``G`` with ``delta`` (from :func:`weight_delta`) added to its parameters.

    Raises :class:`IncompatibleModelError` when a name or shape does not match ``G``.
    """
    tuned = copy.deepcopy(G).eval()
    params = dict(tuned.named_parameters())
    for name, diff in delta.items():
        if name not in params or params[name].shape != diff.shape:
            raise IncompatibleModelError(
                f"the PTI weight delta does not fit this generator (parameter '{name}'); "
                "it was made for another generator")
        params[name].add_(diff.to(device=params[name].device, dtype=params[name].dtype))
    return tuned
