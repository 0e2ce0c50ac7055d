"""Projecting images into a StyleGAN2 generator's latent space (W or W+) by optimisation.

The algorithm is the one of the official StyleGAN2-ADA projector (Karras et al. 2020), batched and
extended to W+:

* the latent starts at ``w_avg`` (the generator's tracked average, or the mean of ``w_avg_samples``
  mapped samples) or at a given latent; ``w_std`` (the spread of mapped samples) scales the latent
  noise added during the first ``noise_ramp_length`` of the steps (``initial_noise_factor * w_std *
  max(0, 1 - t / noise_ramp_length)**2``);
* Adam with a learning rate ramped up over the first ``lr_rampup_length`` and down (cosine) over the
  last ``lr_rampdown_length`` of the steps;
* the per-layer noise inputs are optimised too (each face its own noise maps, starting from N(0,1)),
  with the multi-scale autocorrelation penalty (weight ``regularize_noise_weight``) and renormalised
  to zero mean, unit variance after every step;
* loss: LPIPS (VGG16 by default) between the synthesised and target images, plus an optional pixel
  term (``pixel_weight`` times MSE or L1 in [-1, 1] units). Images larger than 256 px are
  area-downsampled to 256 x 256 before LPIPS as the official projector does; smaller generators
  (e.g. 64 px) are compared at their native size. Grey (1-channel) images are repeated to 3
  channels for LPIPS. With a ``mask`` only the pixels where it is 1 count (masked projection).

Faces are optimised in a batch, each with its own latent and noise; the loss is the sum of the
per-face losses, so with Adam each face follows the path it would follow alone. Randomness (the
initial noise maps, the latent noise) comes from one CPU ``torch.Generator`` per face seeded with
``seed + i`` (or the given per-face seeds), so the same seed gives the same result, batched or not.

The shared generator is never modified: the optimised noise maps are passed to the synthesis with
``torch.func.functional_call`` in place of its ``noise_const`` buffers.

Conventions: images are float32 NCHW in [-1, 1] at the generator's resolution; W latents are
``[N, w_dim]``, W+ latents ``[N, num_ws, w_dim]``; noise maps are a dict from the synthesis buffer
name (e.g. ``b8.conv0.noise_const``) to ``[N, 1, H, W]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inversion.common.errors import FaceLatentError

SPACES = ("w", "w+")
LPIPS_MAX_SIZE = 256
LPIPS_MIN_SIZE = 32
Seeds = Union[int, Sequence[int]]


@dataclass
class ProjectorConfig:
    """Settings of :func:`project`; the defaults are the official projector's (except ``space`` and steps)."""

    space: str = "w+"
    num_steps: int = 500
    initial_learning_rate: float = 0.1
    initial_noise_factor: float = 0.05
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5
    optimize_noise: bool = True
    pixel_weight: float = 0.0
    pixel_loss: str = "mse"
    w_avg_samples: int = 10000
    use_tracked_w_avg: bool = True

    def check(self) -> None:
        """Raise :class:`FaceLatentError` for settings that cannot work."""
        if self.space not in SPACES:
            raise FaceLatentError(f"unknown latent space '{self.space}': use w or w+")
        if self.num_steps < 1:
            raise FaceLatentError(f"the number of projection steps must be at least 1, not {self.num_steps}")
        if self.pixel_loss not in ("mse", "l1"):
            raise FaceLatentError(f"unknown pixel loss '{self.pixel_loss}': use mse or l1")
        if self.w_avg_samples < 2:
            raise FaceLatentError("w_avg_samples must be at least 2 (w_std is estimated from them)")


@dataclass
class ProjectionStep:
    """One optimisation step. ``latent`` is the latent after the step (detached, on the device).

    ``loss``, ``lpips`` and ``pixel`` are per face ``[N]``, computed in this step's forward pass,
    i.e. for the latent *before* the update and with the step's latent noise added.
    ``noise`` holds the optimised noise maps (``None`` when they are not optimised): detached views
    of the live tensors, which later steps update in place, so clone them to keep a step's maps.
    """

    step: int
    num_steps: int
    latent: torch.Tensor
    loss: torch.Tensor
    lpips: torch.Tensor
    pixel: torch.Tensor
    noise_penalty: float
    learning_rate: float
    noise: Optional[dict] = None

    @property
    def last(self) -> bool:
        return self.step == self.num_steps - 1


@dataclass
class ProjectionResult:
    """The outcome of a whole projection: final latent and noise, and the per-step history."""

    latent: torch.Tensor
    noise: Optional[dict]
    loss_history: torch.Tensor  # [num_steps, N]
    lpips_history: torch.Tensor  # [num_steps, N]
    latent_history: list = field(default_factory=list)


def face_generators(seed: Seeds, count: int) -> list[torch.Generator]:
    """One CPU ``torch.Generator`` per face: seeds ``seed + i``, or the given per-face seeds."""
    if isinstance(seed, (int, np.integer)):
        seeds = [int(seed) + i for i in range(count)]
    else:
        seeds = [int(s) for s in seed]
        if len(seeds) != count:
            raise FaceLatentError(f"{len(seeds)} seeds were given for {count} faces")
    return [torch.Generator().manual_seed(s) for s in seeds]


@torch.no_grad()
def estimate_w_stats(G: nn.Module, num_samples: int = 10000, seed: int = 123, chunk: int = 2000):
    """Mean ``[w_dim]`` and scalar spread of W over ``num_samples`` mapped z ~ N(0, I).

    ``w_std = sqrt(sum ||w - w_avg||^2 / num_samples)``, as the official projector computes it.
    """
    gen = torch.Generator().manual_seed(seed)
    device = G.mapping.w_avg.device
    samples = []
    for start in range(0, num_samples, chunk):
        z = torch.randn([min(chunk, num_samples - start), G.z_dim], generator=gen).to(device)
        samples.append(G.mapping(z, None)[:, 0].float())
    w = torch.cat(samples)
    w_avg = w.mean(0)
    w_std = float(((w - w_avg).square().sum() / num_samples).sqrt())
    return w_avg, w_std


def noise_buffer_names(G: nn.Module) -> list[str]:
    """Names (relative to ``G.synthesis``) of the synthesis network's constant noise buffers."""
    return [name for name, _ in G.synthesis.named_buffers() if name.endswith("noise_const")]


def synthesize(G: nn.Module, ws: torch.Tensor, noise: Optional[dict] = None, synthesis: Optional[nn.Module] = None):
    """Images ``[N, C, H, W]`` in about [-1, 1] from W+ ``ws`` with the given per-face noise maps.

    ``noise`` maps buffer names to ``[N, 1, H, W]`` (or ``[H, W]``) tensors that replace the
    synthesis network's ``noise_const`` buffers for this call only; ``None`` uses the generator's
    own constant noise. ``synthesis`` overrides ``G.synthesis`` (e.g. a pivotally tuned copy).
    """
    net = G.synthesis if synthesis is None else synthesis
    if not noise:
        return net(ws, noise_mode="const")
    return torch.func.functional_call(net, noise, (ws,), {"noise_mode": "const"}, strict=False)


def to_wplus(latent: torch.Tensor, num_ws: int) -> torch.Tensor:
    """W ``[N, w_dim]`` broadcast to ``[N, num_ws, w_dim]``; W+ returned as it is."""
    return latent.unsqueeze(1).repeat(1, num_ws, 1) if latent.ndim == 2 else latent


def lpips_input(img: torch.Tensor) -> torch.Tensor:
    """An NCHW [-1, 1] image as LPIPS gets it: 3 channels, at most 256 x 256 (area downsampling).

    Images under 32 px (too small for the LPIPS backbones) are bilinearly upsampled to 32 x 32.
    """
    if img.shape[1] == 1:
        img = img.repeat(1, 3, 1, 1)
    if img.shape[2] > LPIPS_MAX_SIZE or img.shape[3] > LPIPS_MAX_SIZE:
        img = F.interpolate(img, size=(LPIPS_MAX_SIZE, LPIPS_MAX_SIZE), mode="area")
    elif img.shape[2] < LPIPS_MIN_SIZE or img.shape[3] < LPIPS_MIN_SIZE:
        img = F.interpolate(img, size=(LPIPS_MIN_SIZE, LPIPS_MIN_SIZE), mode="bilinear", align_corners=False)
    return img


def lpips_distance(lpips: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image LPIPS ``[N]`` between two NCHW [-1, 1] batches, resized as :func:`lpips_input`."""
    return lpips(lpips_input(a), lpips_input(b)).reshape(a.shape[0], -1).sum(1)


def target_distance(lpips: nn.Module, target: torch.Tensor):
    """A function ``images -> LPIPS [N]`` against a fixed ``target``, with its features computed once.

    Uses ``lpips.features`` / ``lpips.distance_from_features`` when the module has them (the
    project's :class:`inversion.projection.lpips.LPIPS`), else calls ``lpips(images, target)`` each time.
    """
    if hasattr(lpips, "features") and hasattr(lpips, "distance_from_features"):
        with torch.no_grad():
            target_features = lpips.features(lpips_input(target))
        return lambda images: lpips.distance_from_features(lpips.features(lpips_input(images)), target_features)
    return lambda images: lpips_distance(lpips, images, target)


def pixel_distance(a: torch.Tensor, b: torch.Tensor, kind: str = "mse", mask: Optional[torch.Tensor] = None):
    """Per-image mean squared (``mse``) or absolute (``l1``) difference ``[N]``, inside ``mask`` if given."""
    diff = (a - b).square() if kind == "mse" else (a - b).abs()
    if mask is None:
        return diff.mean(dim=(1, 2, 3))
    weight = mask.expand_as(diff)
    return (diff * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3)).clamp_min(1e-8)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB ``[N]`` of two NCHW images in [-1, 1] (peak-to-peak range 2)."""
    mse = (a.float().clamp(-1, 1) - b.float().clamp(-1, 1)).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


def noise_penalty(noise: dict) -> torch.Tensor:
    """The StyleGAN2 noise regulariser per face ``[N]``: squared autocorrelations over a pyramid.

    For every noise map and every scale down to 8 x 8 (average-pooled by 2 each time), the squared
    mean products with the map rolled by one pixel horizontally and vertically.
    """
    total = 0
    for value in noise.values():
        maps = value
        while True:
            total = total + (maps * torch.roll(maps, shifts=1, dims=3)).mean(dim=(1, 2, 3)).square()
            total = total + (maps * torch.roll(maps, shifts=1, dims=2)).mean(dim=(1, 2, 3)).square()
            if maps.shape[2] <= 8:
                break
            maps = F.avg_pool2d(maps, kernel_size=2)
    return total


@torch.no_grad()
def normalize_noise_(noise: dict) -> None:
    """Renormalise every face's noise maps in place to zero mean and unit variance."""
    for value in noise.values():
        value -= value.mean(dim=(1, 2, 3), keepdim=True)
        value *= value.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()


def learning_rate_at(config: ProjectorConfig, t: float) -> float:
    """The official schedule: cosine ramp-down over the last part, linear ramp-up over the first."""
    ramp = min(1.0, (1.0 - t) / config.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / config.lr_rampup_length)
    return config.initial_learning_rate * ramp


def latent_noise_scale(config: ProjectorConfig, t: float, w_std: float) -> float:
    """Standard deviation of the noise added to the latent at time ``t`` in [0, 1)."""
    return w_std * config.initial_noise_factor * max(0.0, 1.0 - t / config.noise_ramp_length) ** 2


def initial_latent(G: nn.Module, config: ProjectorConfig, count: int, w_avg: torch.Tensor,
                   init: Optional[torch.Tensor]) -> torch.Tensor:
    """The starting latent ``[N, w_dim]`` (W) or ``[N, num_ws, w_dim]`` (W+), a fresh leaf tensor."""
    if init is None:
        start = w_avg.reshape(1, -1).repeat(count, 1)
        return to_wplus(start, G.num_ws) if config.space == "w+" else start
    init = init.detach().float().to(w_avg.device)
    if init.ndim not in (2, 3) or init.shape[0] != count or init.shape[-1] != G.w_dim:
        raise FaceLatentError(f"initial latent of shape {list(init.shape)} does not fit {count} faces "
                              f"of a generator with w_dim {G.w_dim}")
    if init.ndim == 3 and init.shape[1] != G.num_ws:
        raise FaceLatentError(f"initial W+ latent has {init.shape[1]} layers; the generator has {G.num_ws}")
    if config.space == "w":
        if init.ndim == 3:
            raise FaceLatentError("a W+ latent cannot start a projection into W")
        return init.clone()
    return to_wplus(init, G.num_ws).clone()


def _initial_noise(G: nn.Module, gens: list, device: torch.device) -> dict:
    """Per-face N(0, 1) noise maps ``[N, 1, H, W]`` for every noise buffer, from each face's generator."""
    buffers = dict(G.synthesis.named_buffers())
    noise = {}
    for name in noise_buffer_names(G):
        shape = buffers[name].shape[-2:]
        maps = [torch.randn([1, *shape], generator=g) for g in gens]
        noise[name] = torch.stack(maps).to(device)
    return noise


def _check_target(G: nn.Module, target: torch.Tensor, mask: Optional[torch.Tensor]) -> None:
    res, channels = G.img_resolution, G.img_channels
    if target.ndim != 4 or target.shape[1:] != (channels, res, res):
        raise FaceLatentError(f"target images of shape {list(target.shape)} do not fit the generator: "
                              f"expected [N, {channels}, {res}, {res}]")
    if mask is not None and (mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[2:] != target.shape[2:]
                             or mask.shape[0] not in (1, target.shape[0])):
        raise FaceLatentError(f"mask of shape {list(mask.shape)} does not fit targets {list(target.shape)}: "
                              "expected [N or 1, 1, H, W]")


def project(G: nn.Module, target: torch.Tensor, lpips: nn.Module, config: Optional[ProjectorConfig] = None, *,
            seed: Seeds = 0, init: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None,
            w_stats: Optional[tuple] = None) -> Iterator[ProjectionStep]:
    """Optimise a latent per target image; yield a :class:`ProjectionStep` after every step.

    ``target``: ``[N, C, H, W]`` float in [-1, 1] at the generator's resolution and channels.
    ``lpips``: a module ``lpips(x, y)`` on NCHW [-1, 1] 3-channel images giving per-image distances.
    ``mask``: optional ``[N or 1, 1, H, W]`` in [0, 1]; 1 = the pixel counts (masked projection).
    ``init``: optional starting latent (W or W+); ``w_stats``: precomputed ``(w_avg, w_std)``.
    The generator is left unchanged; the gradient flows only into the latents and noise maps.
    """
    config = config or ProjectorConfig()
    config.check()
    _check_target(G, target, mask)
    device = target.device
    count = target.shape[0]
    gens = face_generators(seed, count)
    sampled_avg, w_std = w_stats or estimate_w_stats(G, config.w_avg_samples)
    w_avg = G.mapping.w_avg.float() if config.use_tracked_w_avg else sampled_avg
    latent = initial_latent(G, config, count, w_avg.to(device), init).requires_grad_(True)
    noise = _initial_noise(G, gens, device) if config.optimize_noise else {}
    for value in noise.values():
        value.requires_grad_(True)
    optimizer = torch.optim.Adam([latent, *noise.values()], betas=(0.9, 0.999), lr=config.initial_learning_rate)
    target = target.detach().float()
    mask = None if mask is None else mask.detach().float().to(device)
    distance_to_target = target_distance(lpips, target if mask is None else target * mask)
    for step in range(config.num_steps):
        t = step / config.num_steps
        lr = learning_rate_at(config, t)
        for group in optimizer.param_groups:
            group["lr"] = lr
        scale = latent_noise_scale(config, t, w_std)
        jitter = torch.stack([torch.randn(latent.shape[1:], generator=g) for g in gens]).to(device) * scale
        images = synthesize(G, to_wplus(latent + jitter, G.num_ws), noise)
        seen = images if mask is None else images * mask
        dist = distance_to_target(seen)
        pixel = pixel_distance(images, target, config.pixel_loss, mask)
        penalty = noise_penalty(noise) if noise else torch.zeros(count, device=device)
        per_face = dist + config.pixel_weight * pixel
        loss = per_face.sum() + config.regularize_noise_weight * penalty.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        normalize_noise_(noise)
        yield ProjectionStep(
            step=step, num_steps=config.num_steps, latent=latent.detach().clone(),
            loss=per_face.detach(), lpips=dist.detach(), pixel=pixel.detach(),
            noise_penalty=float(penalty.detach().sum()), learning_rate=lr,
            noise={k: v.detach() for k, v in noise.items()} if noise else None,
        )


def run_projection(G: nn.Module, target: torch.Tensor, lpips: nn.Module, config: Optional[ProjectorConfig] = None,
                   *, keep_latents: bool = False, progress=None, **kwargs) -> ProjectionResult:
    """Run :func:`project` to the end and collect the result.

    ``keep_latents`` keeps every step's latent (on the CPU) in ``latent_history``; ``progress`` is
    called with each :class:`ProjectionStep` (for progress bars). Other arguments go to :func:`project`.
    """
    losses, dists, latents, last = [], [], [], None
    for step in project(G, target, lpips, config, **kwargs):
        losses.append(step.loss.cpu())
        dists.append(step.lpips.cpu())
        if keep_latents:
            latents.append(step.latent.cpu())
        if progress is not None:
            progress(step)
        last = step
    noise = {k: v.clone() for k, v in last.noise.items()} if last.noise else None
    return ProjectionResult(latent=last.latent, noise=noise, loss_history=torch.stack(losses),
                            lpips_history=torch.stack(dists), latent_history=latents)
