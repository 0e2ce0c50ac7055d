"""ImageNet feature extractors for LPIPS: AlexNet and VGG16 ``features`` stacks with taps.

The layers and their indices are those of ``torchvision.models.alexnet().features`` and
``torchvision.models.vgg16().features`` (so the state dicts of :func:`inversion.assets.loaders.
load_backbone` load as is); torchvision itself is not needed. A forward pass returns the
activations after the five ReLUs that LPIPS uses (AlexNet: relu1..relu5; VGG16: relu1_2, relu2_2,
relu3_3, relu4_3, relu5_3).

Input: float NCHW, already shifted and scaled as the networks expect (LPIPS's ScalingLayer does
this from [-1, 1]); output: a list of five NCHW tensors, largest first.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from inversion.assets.loaders import load_backbone
from inversion.assets.resolver import Progress

# ("C", in, out, kernel, stride, padding) | ("R",) relu | ("M", kernel, stride) max-pool.
Layer = tuple
_ALEXNET: Sequence[Layer] = (
    ("C", 3, 64, 11, 4, 2), ("R",), ("M", 3, 2),
    ("C", 64, 192, 5, 1, 2), ("R",), ("M", 3, 2),
    ("C", 192, 384, 3, 1, 1), ("R",),
    ("C", 384, 256, 3, 1, 1), ("R",),
    ("C", 256, 256, 3, 1, 1), ("R",),
)
# The index (in ``features``) of the ReLU after which each LPIPS tap is taken.
_ALEXNET_TAPS = (1, 4, 7, 9, 11)


def _vgg16_layers() -> list[Layer]:
    layers: list[Layer] = []
    channels = 3
    for width in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if width == "M":
            layers.append(("M", 2, 2))
        else:
            layers += [("C", channels, width, 3, 1, 1), ("R",)]
            channels = width
    return layers


_VGG16 = tuple(_vgg16_layers())
_VGG16_TAPS = (3, 8, 15, 22, 29)

_SPECS = {
    "alex": (_ALEXNET, _ALEXNET_TAPS, "alexnet-imagenet"),
    "vgg": (_VGG16, _VGG16_TAPS, "vgg16-imagenet"),
}
TAP_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}


def _make_layer(spec: Layer) -> nn.Module:
    if spec[0] == "C":
        _, cin, cout, k, stride, pad = spec
        return nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
    if spec[0] == "R":
        return nn.ReLU(inplace=False)
    return nn.MaxPool2d(kernel_size=spec[1], stride=spec[2])


class TappedFeatures(nn.Module):
    """A torchvision-style ``features`` stack that returns the activations at given indices."""

    def __init__(self, layers: Sequence[Layer], taps: Sequence[int]):
        super().__init__()
        self.features = nn.Sequential(*[_make_layer(spec) for spec in layers])
        self.taps = tuple(taps)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
                if len(outputs) == len(self.taps):
                    break
        return outputs


def build_backbone(net: str, pretrained: bool = True, progress: Progress = None) -> TappedFeatures:
    """AlexNet (``net="alex"``) or VGG16 (``"vgg"``) features with LPIPS's five taps.

    ``pretrained`` loads the ImageNet weights through the asset resolver (``alexnet-imagenet`` /
    ``vgg16-imagenet``); otherwise PyTorch's default initialisation is left in place.
    """
    if net not in _SPECS:
        raise ValueError(f"unknown backbone {net!r}; use 'alex' or 'vgg'")
    layers, taps, asset = _SPECS[net]
    model = TappedFeatures(layers, taps)
    if pretrained:
        model.load_state_dict(load_backbone(asset, progress), strict=True)
    return model


def tap_channels(net: str) -> tuple[int, ...]:
    """Channel counts of the five taps of ``net`` (for building the LPIPS heads)."""
    return TAP_CHANNELS[net]

