"""A face's latents over time: the blended emotion direction and the path ``w(t)`` (torch tensors).

``w(t) = w0 + s(t) * d + n(t) + b(t) * d_blink`` with the strength ``s``, noise ``n`` and blink ``b``
of a motion plan (:mod:`editor.trajectory`) and ``d`` from :func:`blend_directions`.
"""

from __future__ import annotations

import numpy as np
import torch


def blend_directions(directions, weights, scales=None, renormalise: bool = True) -> torch.Tensor:
    """One offset direction from several: ``sum_e weights[e] * scales[e] * directions[e]``.

    ``directions`` [E, D] or [E, num_ws, D] (per-layer directions, zero on unused layers);
    ``weights`` [E] (a blend, e.g. from :class:`editor.emotion_spec.EmotionSpec`); ``scales`` [E]
    the recommended strength of each direction (default 1). With ``renormalise`` the result is
    rescaled to norm ``sum_e weights[e] * scales[e] * |directions[e]|``, so a blend of orthogonal
    directions is as strong as each of its parts would be alone.
    """
    d = torch.as_tensor(directions, dtype=torch.float32)
    w = torch.as_tensor(weights, dtype=torch.float32).reshape(-1)
    if d.shape[0] != w.shape[0]:
        raise ValueError(f"{d.shape[0]} directions but {w.shape[0]} weights")
    s = torch.ones_like(w) if scales is None else torch.as_tensor(scales, dtype=torch.float32).reshape(-1)
    coef = (w * s).reshape(-1, *([1] * (d.dim() - 1)))
    out = (coef * d).sum(0)
    if renormalise:
        target = (w * s * d.reshape(d.shape[0], -1).norm(dim=1)).sum()
        norm = out.norm()
        if norm > 0:
            out = out * (target / norm)
    return out


def latent_path(w_start, direction, strengths, noise=None, blink_direction=None, blink=None) -> torch.Tensor:
    """The latents of every frame: ``w_start + s[t] * direction + noise[t] + blink[t] * blink_direction``.

    ``w_start`` [D] (W) or [num_ws, D] (W+); ``direction`` and ``blink_direction`` the same shape
    or [D] (broadcast over layers); ``strengths`` and ``blink`` [T]; ``noise`` [T, D] or
    [T, num_ws, D]. Returns float32 ``[T, *w_start.shape]`` on ``w_start``'s device.
    """
    w0 = torch.as_tensor(w_start, dtype=torch.float32)
    dev = w0.device
    s = torch.as_tensor(np.asarray(strengths, dtype=np.float32), device=dev).reshape(-1)
    extra = [1] * w0.dim()
    d = torch.as_tensor(direction, dtype=torch.float32, device=dev)
    path = w0.unsqueeze(0) + s.reshape(-1, *extra) * d.expand_as(w0).unsqueeze(0)
    if noise is not None:
        n = torch.as_tensor(np.asarray(noise, dtype=np.float32), device=dev)
        if n.shape[0] != s.shape[0]:
            raise ValueError(f"noise has {n.shape[0]} frames, strengths {s.shape[0]}")
        path = path + (n.unsqueeze(1) if n.dim() == 2 and w0.dim() == 2 else n)
    if blink_direction is not None and blink is not None:
        bd = torch.as_tensor(blink_direction, dtype=torch.float32, device=dev).expand_as(w0)
        b = torch.as_tensor(np.asarray(blink, dtype=np.float32), device=dev).reshape(-1, *extra)
        path = path + b * bd.unsqueeze(0)
    return path
