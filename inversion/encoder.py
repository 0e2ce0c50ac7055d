"""A one-pass encoder into a StyleGAN2 generator's W+ (the SplitGAN route's ``E``).

``E(img) -> ws``: ``img`` float NCHW in [-1, 1] (``img_channels`` channels, ``img_resolution``
pixels, the same tight crop the generator was trained on), ``ws`` float32 ``[N, num_ws, w_dim]``,
ready for ``G.synthesis(ws)``. The network is a small residual CNN (one stride-2 residual block per
octave down to 4x4, then two fully connected layers). It predicts one shared offset ``w`` and
per-layer offsets ``d_i``; ``ws_i = w_avg + w + d_i``, where ``w_avg`` is a buffer holding the
generator's ``G.mapping.w_avg`` (copied into the encoder when it is trained/exported), so the
encoder is self-contained. :meth:`Encoder.encode_w` returns the single W (the mean over layers).

Files: a ``.pt`` dict ``{"format": "facelatent-encoder", "config": {...}, "state_dict": {...}}``
read with ``torch.load(weights_only=True)``. ``config["generator_identity"]`` is the
:func:`inversion.checkpoints.generator_identity` of the generator it was trained with;
:func:`encoder_for` returns the embedded default encoder only for that generator.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from inversion.common.errors import CheckpointError

FORMAT = "facelatent-encoder"
DEFAULT_ENCODER_PATH = Path(__file__).resolve().parent / "models" / "default_generator" / "encoder.pt"


class ResidualDown(nn.Module):
    """Two 3x3 convolutions (lrelu) and a 2x average-pool, plus a pooled 1x1 skip; sum / sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv1 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv0(x), 0.2)
        y = F.avg_pool2d(F.leaky_relu(self.conv1(y), 0.2), 2)
        return (y + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)


class Encoder(nn.Module):
    """Images [N, C, R, R] in [-1, 1] → ws [N, num_ws, w_dim] (see the module docstring)."""

    def __init__(self, img_resolution: int = 64, img_channels: int = 1, num_ws: int = 10, w_dim: int = 128,
                 channels: Sequence[int] = (32, 64, 128, 128), hidden: int = 512,
                 generator_identity: Optional[str] = None):
        super().__init__()
        levels = int(math.log2(img_resolution)) - 2
        if img_resolution < 8 or 2 ** (levels + 2) != img_resolution or len(channels) != levels:
            raise ValueError(f"need a power-of-two resolution >= 8 and one channel count per octave "
                             f"down to 4x4 ({levels}), got {img_resolution} and {list(channels)}")
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.num_ws, self.w_dim = num_ws, w_dim
        self.config = {"img_resolution": img_resolution, "img_channels": img_channels, "num_ws": num_ws,
                       "w_dim": w_dim, "channels": list(channels), "hidden": hidden,
                       "generator_identity": generator_identity}
        self.stem = nn.Conv2d(img_channels, channels[0], 3, padding=1)
        ins = [channels[0]] + list(channels[:-1])
        self.blocks = nn.Sequential(*[ResidualDown(i, o) for i, o in zip(ins, channels)])
        self.fc = nn.Linear(channels[-1] * 16, hidden)
        self.head = nn.Linear(hidden, (num_ws + 1) * w_dim)
        nn.init.zeros_(self.head.bias)
        self.head.weight.data.mul_(0.1)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def offsets(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(shared offset [N, w_dim], per-layer offsets [N, num_ws, w_dim]) from ``w_avg``."""
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise ValueError(f"the encoder expects images [N, {', '.join(map(str, expected))}], "
                             f"got {list(img.shape)}")
        x = F.leaky_relu(self.stem(img.to(self.stem.weight.dtype)), 0.2)
        x = self.blocks(x).flatten(1)
        out = self.head(F.leaky_relu(self.fc(x), 0.2)).view(-1, self.num_ws + 1, self.w_dim)
        return out[:, 0], out[:, 1:]

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        shared, per_layer = self.offsets(img)
        return (self.w_avg + shared).unsqueeze(1) + per_layer

    @torch.no_grad()
    def encode_w(self, img: torch.Tensor) -> torch.Tensor:
        """The single latent W ``[N, w_dim]``: the mean of :meth:`forward` over layers."""
        return self.forward(img).mean(dim=1)


def save_encoder(E: Encoder, path: Union[str, Path], half: bool = False) -> Path:
    """Write ``E`` (config + state dict, float16 weights if ``half``) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()).contiguous()
             for k, v in E.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, "config": dict(E.config), "state_dict": state}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_encoder(path: Union[str, Path], device: Union[str, torch.device] = "cpu") -> Encoder:
    """Read an encoder file (eval mode, no gradients, float32); every failure is a CheckpointError."""
    from inversion.checkpoints.native import torch_load_safe

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such encoder file: {path}")
    content = torch_load_safe(path)
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a facelatent encoder file")
    try:
        E = Encoder(**content["config"])
        E.load_state_dict({k: v.float() for k, v in content["state_dict"].items()}, strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        detail = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise CheckpointError(f"{path}: the encoder weights do not fit its config "
                              f"({detail[-1] if detail else err})") from None
    return E.eval().requires_grad_(False).to(device)


def load_default_encoder(device: Union[str, torch.device] = "cpu") -> Optional[Encoder]:
    """The encoder shipped with the embedded default generator, or None where it is absent."""
    if not DEFAULT_ENCODER_PATH.is_file():
        return None
    return load_encoder(DEFAULT_ENCODER_PATH, device)


def encoder_for(G: torch.nn.Module, device: Union[str, torch.device] = "cpu") -> Optional[Encoder]:
    """The default encoder if ``G`` is the generator it was trained with (same identity), else None."""
    from inversion.checkpoints.native import generator_identity

    E = load_default_encoder(device)
    if E is None or E.config.get("generator_identity") != generator_identity(G):
        return None
    if E.num_ws != G.num_ws or E.w_dim != G.w_dim:
        return None
    return E
