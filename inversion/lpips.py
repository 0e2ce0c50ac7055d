"""LPIPS v0.1 perceptual distance (Zhang et al. 2018), AlexNet or VGG16 backbone, in plain torch.

The distance between images ``x`` and ``y``:

1. ScalingLayer: ``(img - shift) / scale`` per channel, with shift ``(-.030, -.088, -.188)`` and
   scale ``(.458, .448, .450)`` (maps [-1, 1] to ImageNet-normalised input);
2. the backbone's five ReLU taps (:mod:`inversion.projection.backbones`);
3. each tap unit-normalised over channels at every pixel, ``f / (||f|| + 1e-10)`` (computed as
   ``f / sqrt(||f||^2 + 1e-20)`` so that the gradient stays finite where a pixel's features are all
   zero; the values agree with the reference to ~1e-10);
4. the squared difference weighted per channel by a linear 1x1 head (non-negative weights of the
   ``lpips-alex`` / ``lpips-vgg`` assets), averaged over space;
5. summed over the five taps.

Inputs are float NCHW RGB in [-1, 1] (same size; a batch of one broadcasts against a batch of N).
The result is a float tensor ``[N]``. The module is differentiable with respect to its inputs
(the projector optimises through it); its own parameters are frozen (``requires_grad=False``) and
it stays in eval mode.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from inversion.assets.loaders import load_torch_state
from inversion.assets.resolver import Progress
from inversion.projection.backbones import build_backbone, tap_channels

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
_HEAD_ASSETS = {"alex": "lpips-alex", "vgg": "lpips-vgg"}
_ALIASES = {"alex": "alex", "alexnet": "alex", "vgg": "vgg", "vgg16": "vgg"}


def normalize_channels(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Unit-normalise NCHW features over C at every pixel: ``f / sqrt(sum_c f^2 + eps^2)``."""
    return feat * torch.rsqrt(feat.square().sum(dim=1, keepdim=True) + eps * eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance: ``LPIPS(net="alex" | "vgg")(x, y) -> [N]``, x, y NCHW in [-1, 1].

    Weights come through :func:`inversion.assets.resolve_asset` (backbone: ``alexnet-imagenet`` /
    ``vgg16-imagenet``; heads: ``lpips-alex`` / ``lpips-vgg``), so a missing asset raises
    :class:`inversion.common.errors.AssetMissingError`.
    """

    def __init__(self, net: str = "alex", progress: Progress = None):
        super().__init__()
        if net not in _ALIASES:
            raise ValueError(f"unknown LPIPS network {net!r}; use 'alex' or 'vgg'")
        self.net = _ALIASES[net]
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.backbone = build_backbone(self.net, pretrained=True, progress=progress)
        heads = load_torch_state(_HEAD_ASSETS[self.net], progress)
        self.heads = nn.ModuleList()
        for k, channels in enumerate(tap_channels(self.net)):
            head = nn.Conv2d(channels, 1, kernel_size=1, bias=False)
            head.weight.data.copy_(heads[f"lin{k}.model.1.weight"])
            self.heads.append(head)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":
        """LPIPS has no training behaviour; it stays in eval mode whatever is asked."""
        return super().train(False)

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """The five unit-normalised taps of ``img`` (NCHW in [-1, 1]); reusable for a fixed target."""
        _check_image(img)
        scaled = (img - self.shift.to(img.dtype)) / self.scale.to(img.dtype)
        return [normalize_channels(f) for f in self.backbone(scaled)]

    def layer_distances(self, fx: Sequence[torch.Tensor], fy: Sequence[torch.Tensor]) -> torch.Tensor:
        """Per-tap distances ``[N, 5]`` between two lists of normalised taps (from :meth:`features`)."""
        columns = []
        for head, a, b in zip(self.heads, fx, fy):
            columns.append(head((a - b).square()).mean(dim=(1, 2, 3)))
        return torch.stack(columns, dim=1)

    def distance_from_features(self, fx: Sequence[torch.Tensor], fy: Sequence[torch.Tensor]) -> torch.Tensor:
        """LPIPS ``[N]`` from precomputed taps (e.g. the target's, computed once)."""
        return self.layer_distances(fx, fy).sum(dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS distance ``[N]`` between images x and y (NCHW RGB in [-1, 1], same H and W)."""
        if x.shape[1:] != y.shape[1:] or (x.shape[0] != y.shape[0] and 1 not in (x.shape[0], y.shape[0])):
            raise ValueError(f"LPIPS needs images of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        return self.distance_from_features(self.features(x), self.features(y))


def _check_image(img: torch.Tensor) -> None:
    if not isinstance(img, torch.Tensor) or img.ndim != 4 or img.shape[1] != 3:
        shape = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
        raise ValueError(f"LPIPS expects float NCHW RGB images in [-1, 1], got {shape}")
    if not img.is_floating_point():
        raise ValueError(f"LPIPS expects floating-point images in [-1, 1], got {img.dtype}")
    if min(img.shape[2:]) < 32:
        raise ValueError(f"LPIPS needs images of at least 32x32 pixels, got {tuple(img.shape[2:])}")
