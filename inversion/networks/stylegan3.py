"""The StyleGAN3 (alias-free, configs T and R) generator, named as the official ``networks_stylegan3``.

The synthesis starts from Fourier features (``SynthesisInput``: sinusoids at fixed frequencies,
rotated and translated per sample by an affine of the first w), followed by ``num_layers``
modulated convolutions, each wrapped in a *filtered* leaky ReLU: upsample with a low-pass FIR
filter, apply the nonlinearity at the higher rate, low-pass and downsample again
(:func:`filtered_lrelu`, written here on :func:`cuda_ops.upfirdn2d` and :func:`cuda_ops.bias_act`).
The last layer is the toRGB layer; the output is multiplied by ``output_scale``.

Conventions as for :mod:`inversion.networks.stylegan2`: ``G.mapping(z, c=None, truncation_psi)`` →
ws [N, num_ws, w_dim] with ``num_ws = num_layers + 2``; ``G.synthesis(ws)`` → [N, C, R, R] float32
(float64 for float64 ws and weights) in about [-1, 1]. StyleGAN3 has no noise inputs: ``noise_mode`` is accepted and has no effect.
Filters are buffers stored in checkpoints; they are designed here (Kaiser ``firwin``, or a radial
jinc for config R) only for freshly built networks.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import scipy.signal
import scipy.special
import torch

from cuda_ops import bias_act, upfirdn2d
from inversion.networks.layers import FullyConnectedLayer, MappingNetwork
from inversion.networks.stylegan2 import _check_noise_mode


def filtered_lrelu(x: torch.Tensor, fu: Optional[torch.Tensor] = None, fd: Optional[torch.Tensor] = None,
                   b: Optional[torch.Tensor] = None, up: int = 1, down: int = 1, padding=0,
                   gain: float = math.sqrt(2), slope: float = 0.2, clamp: Optional[float] = None,
                   flip_filter: bool = False) -> torch.Tensor:
    """Bias, ``up``-sample with ``fu`` (gain ``up**2``, padded by ``padding`` = [x0, x1, y0, y1]),
    leaky ReLU × ``gain`` clamped to ±``clamp``, then filter with ``fd`` and keep every ``down``-th pixel.

    ``fu``/``fd`` are 1-D (separable) or 2-D filters, ``None`` for none. NCHW in and out.
    """
    x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2, flip_filter=flip_filter)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter)


def modulated_conv2d(x: torch.Tensor, w: torch.Tensor, s: torch.Tensor, demodulate: bool = True, padding: int = 0,
                     input_gain: Optional[torch.Tensor] = None) -> torch.Tensor:
    """StyleGAN3's modulated convolution (pre-normalised weights and styles, then per-sample demodulation)."""
    batch = x.shape[0]
    out_ch, in_ch, kh, kw = w.shape
    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    w = w.unsqueeze(0) * s[:, None, :, None, None]  # [N, O, I, kh, kw]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    if input_gain is not None:
        w = w * input_gain.expand(batch, in_ch)[:, None, :, None, None]
    x = x.reshape(1, -1, *x.shape[2:])
    x = torch.nn.functional.conv2d(x, w.reshape(-1, in_ch, kh, kw).to(x.dtype), padding=padding, groups=batch)
    return x.reshape(batch, -1, *x.shape[2:])


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> Optional[torch.Tensor]:
    """A Kaiser-window low-pass FIR (1-D, separable), or a radially symmetric jinc (2-D); None for 1 tap."""
    if numtaps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs),
                               dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    with np.errstate(invalid="ignore", divide="ignore"):
        f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    f[r == 0] = cutoff  # the limit of j1(2 pi c r) / (pi r) at r = 0
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f = f * np.outer(window, window)
    return torch.as_tensor(f / np.sum(f), dtype=torch.float32)


class SynthesisInput(torch.nn.Module):
    """Fourier features [N, channels, size, size] transformed (rotation, translation) by ``affine(w)``."""

    def __init__(self, w_dim: int, channels: int, size, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = [int(v) for v in np.broadcast_to(np.asarray(size), [2])]
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = torch.nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))  # user inverse transform of the output image
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)

    def _transforms(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)  # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        n = w.shape[0]
        m_r = torch.eye(3, device=w.device, dtype=w.dtype).repeat([n, 1, 1])
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3, device=w.device, dtype=w.dtype).repeat([n, 1, 1])
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        return m_r @ m_t @ self.transform.to(w.dtype).unsqueeze(0)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        transforms = self._transforms(w)
        freqs, phases = self.freqs.unsqueeze(0), self.phases.unsqueeze(0)
        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                      / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        theta = torch.eye(2, 3, device=w.device, dtype=w.dtype)
        theta[0, 0] = 0.5 * self.size[0] / self.sampling_rate
        theta[1, 1] = 0.5 * self.size[1] / self.sampling_rate
        grids = torch.nn.functional.affine_grid(theta.unsqueeze(0), [1, 1, self.size[1], self.size[0]],
                                                align_corners=False)
        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (2 * math.pi))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(torch.nn.Module):
    """Modulated conv + filtered lrelu between two sampling rates (or the final toRGB layer)."""

    def __init__(self, w_dim, is_torgb, is_critically_sampled, use_fp16, in_channels, out_channels, in_size,
                 out_size, in_sampling_rate, out_sampling_rate, in_cutoff, out_cutoff, in_half_width,
                 out_half_width, conv_kernel=3, filter_size=6, lrelu_upsampling=2, use_radial_filters=False,
                 conv_clamp=256, magnitude_ema_beta=0.999):
        super().__init__()
        self.is_torgb, self.use_fp16 = bool(is_torgb), bool(use_fp16)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.conv_kernel = 1 if is_torgb else int(conv_kernel)
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta
        tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.affine = FullyConnectedLayer(w_dim, self.in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([self.out_channels, self.in_channels,
                                                      self.conv_kernel, self.conv_kernel]))
        self.bias = torch.nn.Parameter(torch.zeros([self.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.up_factor = int(np.rint(tmp_rate / in_sampling_rate))
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(self.up_taps, in_cutoff, in_half_width * 2, tmp_rate))
        self.down_factor = int(np.rint(tmp_rate / out_sampling_rate))
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = bool(use_radial_filters and not is_critically_sampled)
        self.register_buffer("down_filter", design_lowpass_filter(
            self.down_taps, out_cutoff, out_half_width * 2, tmp_rate, radial=self.down_radial))
        pad_total = (self.out_size - 1) * self.down_factor + 1  # size wanted before downsampling
        pad_total = pad_total - (self.in_size + self.conv_kernel - 1) * self.up_factor  # size after upsampling
        pad_total = pad_total + self.up_taps + self.down_taps - 2  # what the filters take away
        pad_lo = (pad_total + self.up_factor) // 2  # symmetric sample positions (paper, appendix C.3)
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]

    def forward(self, x: torch.Tensor, w: torch.Tensor, force_fp32: bool = False, **_unused) -> torch.Tensor:
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        use_half = self.use_fp16 and not force_fp32 and x.device.type == "cuda"
        full = torch.float64 if x.dtype == torch.float64 else torch.float32  # float64 only for gradient checks
        x = modulated_conv2d(x.to(torch.float16 if use_half else full), self.weight, styles,
                             demodulate=not self.is_torgb, padding=self.conv_kernel - 1,
                             input_gain=self.magnitude_ema.rsqrt())
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias.to(x.dtype), up=self.up_factor,
                              down=self.down_factor, padding=self.padding, gain=1 if self.is_torgb else math.sqrt(2),
                              slope=1 if self.is_torgb else 0.2, clamp=self.conv_clamp)


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_layers + 2, w_dim] → image; cutoffs, stopbands and sampling rates in geometric progression."""

    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_layers=14,
                 num_critical=2, first_cutoff=2, first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3,
                 margin_size=10, output_scale=0.25, num_fp16_res=4, **layer_kwargs):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_ws, self.num_layers, self.output_scale = num_layers + 2, num_layers, output_scale
        last_cutoff = img_resolution / 2
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.input = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), rates[0], cutoffs[0])
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim=w_dim, is_torgb=(idx == num_layers), is_critically_sampled=(idx >= num_layers - num_critical),
                use_fp16=(rates[idx] * 2 ** num_fp16_res > img_resolution),
                in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                in_sampling_rate=int(rates[prev]), out_sampling_rate=int(rates[idx]),
                in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev], out_half_width=half_widths[idx], **layer_kwargs)
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", force_fp32: bool = False,
                generator: Optional[torch.Generator] = None, **_unused) -> torch.Tensor:
        _check_noise_mode(noise_mode)
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        full = torch.float64 if ws.dtype == torch.float64 else torch.float32  # float64 only for gradient checks
        ws = ws.to(full).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w, force_fp32=force_fp32)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(full)


class Generator(torch.nn.Module):
    """StyleGAN3 generator; ``config`` = constructor arguments + ``"network": "stylegan3"`` + ``"alignment"``."""

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 1024,
                 img_channels: int = 3, mapping_kwargs: Optional[dict] = None, alignment: str = "ffhq",
                 **synthesis_kwargs):
        super().__init__()
        mapping_kwargs = {"num_layers": 2, "w_avg_beta": 0.998, **(mapping_kwargs or {})}
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)
        self.config = {"network": "stylegan3", "z_dim": z_dim, "c_dim": c_dim, "w_dim": w_dim,
                       "img_resolution": img_resolution, "img_channels": img_channels,
                       "mapping_kwargs": mapping_kwargs, **synthesis_kwargs, "alignment": alignment}

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, **synthesis_kwargs) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)
