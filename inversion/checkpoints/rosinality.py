"""rosinality/stylegan2-pytorch checkpoints (``g_ema`` state dicts) → this package's StyleGAN2 generator.

rosinality's generator computes the same function as the official one with other names:
``style.{i+1}`` ↔ ``mapping.fc{i}``, ``input.input`` [1, C, 4, 4] ↔ ``synthesis.b4.const``,
``conv1``/``convs.{k}`` (``conv.weight`` [1, O, I, 3, 3], ``conv.modulation``, ``noise.weight``,
``activate.bias``) ↔ ``b{res}.conv0/conv1`` (``weight``, ``affine``, ``noise_strength``, ``bias``),
``to_rgb1``/``to_rgbs.{k}`` ↔ ``b{res}.torgb``, ``noises.noise_{j}`` ↔ the layers' ``noise_const``
and ``latent_avg`` ↔ ``mapping.w_avg``. Its upsampling convolutions are transposed convolutions
with the weight as stored, which is what the official ``flip_weight=False`` layers compute, so
no weight is flipped. Its blur/upsample ``kernel`` buffers are the fixed [1, 3, 3, 1] filter.
The architecture is inferred from the tensor shapes: skip generator, no conv clamp, no fp16,
mapping lr multiplier 0.01 (rosinality's default; it is not stored in the file).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Optional

import torch

from inversion.common.errors import CheckpointError


def _channels(g_ema: dict, resolutions: list[int]) -> dict[int, int]:
    out = {4: int(g_ema["conv1.conv.weight"].shape[1])}
    for i, res in enumerate(resolutions[1:]):
        out[res] = int(g_ema[f"convs.{2 * i}.conv.weight"].shape[1])
    return out


def infer_config(g_ema: dict, path: Path) -> dict:
    """Generator constructor arguments for a rosinality ``g_ema`` state dict."""
    try:
        n_mlp = len([k for k in g_ema if re.fullmatch(r"style\.\d+\.weight", k)])
        w_dim = int(g_ema["style.1.weight"].shape[1])
        num_rgbs = len([k for k in g_ema if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
        resolution = 4 * 2 ** num_rgbs
        resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        channels = _channels(g_ema, resolutions)
        img_channels = int(g_ema["to_rgb1.conv.weight"].shape[1])
    except KeyError as err:
        raise CheckpointError(f"{path}: not a rosinality stylegan2 'g_ema' state dict (no {err.args[0]})") from None
    channel_max = max(channels.values())
    below = [res for res in resolutions if channels[res] < channel_max]
    channel_base = channels[below[0]] * below[0] if below else channel_max * resolution
    if any(min(channel_base // res, channel_max) != channels[res] for res in resolutions):
        raise CheckpointError(f"{path}: its channel counts {channels} follow no channel_base/channel_max rule")
    return {
        "z_dim": w_dim, "c_dim": 0, "w_dim": w_dim, "img_resolution": resolution, "img_channels": img_channels,
        "mapping_kwargs": {"num_layers": n_mlp, "lr_multiplier": 0.01},
        "synthesis_kwargs": {"channel_base": channel_base, "channel_max": channel_max, "num_fp16_res": 0,
                             "conv_clamp": None, "architecture": "skip"},
    }


def _styled_conv(src: dict, prefix: str, dst: str, out: dict) -> None:
    out[f"{dst}.weight"] = src[f"{prefix}.conv.weight"][0]
    out[f"{dst}.affine.weight"] = src[f"{prefix}.conv.modulation.weight"]
    out[f"{dst}.affine.bias"] = src[f"{prefix}.conv.modulation.bias"]
    out[f"{dst}.noise_strength"] = src[f"{prefix}.noise.weight"].reshape([])
    out[f"{dst}.bias"] = src[f"{prefix}.activate.bias"]


def _to_rgb(src: dict, prefix: str, dst: str, out: dict) -> None:
    out[f"{dst}.weight"] = src[f"{prefix}.conv.weight"][0]
    out[f"{dst}.affine.weight"] = src[f"{prefix}.conv.modulation.weight"]
    out[f"{dst}.affine.bias"] = src[f"{prefix}.conv.modulation.bias"]
    out[f"{dst}.bias"] = src[f"{prefix}.bias"].reshape([-1])


def convert_state_dict(g_ema: dict, config: dict, latent_avg: Optional[torch.Tensor]) -> dict:
    """rosinality names → this package's names (without the fixed resample filters, which are kept as built)."""
    out: dict[str, torch.Tensor] = {}
    for i in range(config["mapping_kwargs"]["num_layers"]):
        out[f"mapping.fc{i}.weight"] = g_ema[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = g_ema[f"style.{i + 1}.bias"]
    if latent_avg is not None:
        out["mapping.w_avg"] = latent_avg.reshape([-1])
    out["synthesis.b4.const"] = g_ema["input.input"][0]
    _styled_conv(g_ema, "conv1", "synthesis.b4.conv1", out)
    out["synthesis.b4.conv1.noise_const"] = g_ema["noises.noise_0"][0, 0]
    _to_rgb(g_ema, "to_rgb1", "synthesis.b4.torgb", out)
    num_blocks = int(math.log2(config["img_resolution"])) - 2
    for k in range(num_blocks):
        res = 2 ** (k + 3)
        for j, layer in enumerate(("conv0", "conv1")):
            _styled_conv(g_ema, f"convs.{2 * k + j}", f"synthesis.b{res}.{layer}", out)
            out[f"synthesis.b{res}.{layer}.noise_const"] = g_ema[f"noises.noise_{2 * k + j + 1}"][0, 0]
        _to_rgb(g_ema, f"to_rgbs.{k}", f"synthesis.b{res}.torgb", out)
    return out


def generator_from_rosinality(checkpoint: dict, path: Path, alignment: str = "ffhq") -> torch.nn.Module:
    """Build and load the generator of a rosinality checkpoint dict (``g_ema``, optional ``latent_avg``)."""
    from inversion.networks.stylegan2 import Generator

    g_ema = checkpoint["g_ema"]
    if not isinstance(g_ema, dict):
        raise CheckpointError(f"{path}: 'g_ema' is not a state dict")
    config = infer_config(g_ema, path)
    G = Generator(**config, alignment=alignment)
    latent_avg = checkpoint.get("latent_avg")
    latent_avg = latent_avg if isinstance(latent_avg, torch.Tensor) else None
    try:
        state = convert_state_dict(g_ema, config, latent_avg)
    except (KeyError, IndexError) as err:
        raise CheckpointError(f"{path}: rosinality 'g_ema' lacks {err}") from None
    expected = G.state_dict()
    for name, value in expected.items():
        state.setdefault(name, value)  # resample filters; w_avg when the file has no latent_avg
    try:
        G.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: its weights do not fit a StyleGAN2 generator "
                              f"({str(err).splitlines()[-1].strip()})") from None
    if latent_avg is None:
        _estimate_w_avg(G)
    return G.eval().requires_grad_(False)


@torch.no_grad()
def _estimate_w_avg(G: torch.nn.Module, samples: int = 4096, seed: int = 0) -> None:
    """Set ``w_avg`` to the mean w of ``samples`` seeded z's (for files without ``latent_avg``)."""
    z = torch.randn([samples, G.z_dim], generator=torch.Generator().manual_seed(seed))
    G.mapping.w_avg.copy_(G.mapping(z, None)[:, 0].mean(dim=0))
