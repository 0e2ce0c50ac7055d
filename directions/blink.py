"""An eye-closing (blink) direction, learned the InterFaceGAN way: attribute score -> linear model of latents.

The attribute is the **eye aspect ratio** (EAR, Soukupová and Čech 2016) of dlib's 68 landmarks:
per eye ``(|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)`` over the six eye points (36-41 and 42-47 in
dlib's 0-based numbering), averaged over both eyes. Open eyes give about 0.25-0.35, closed ones
under about 0.15. It is measured on *renders* of the latents (what the generator draws), with the
whole render as the face box: the default generator's faces are tight crops, so the image is the
face. Renders are upscaled to :data:`LANDMARK_SIDE` pixels first (dlib's model wants faces of
80 px or more).

The direction is the unit normal of a ridge regression ``EAR ≈ features @ beta + c`` on W+
features (:func:`directions.fitting.latent_features`), *negated*: ``w' = w + strength * vector``
lowers the EAR, i.e. closes the eyes.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
import torch

from directions.fitting import LatentShapeError, unit

#: Side (pixels) renders are upscaled to before dlib places the landmarks.
LANDMARK_SIDE = 256
#: dlib 68-point indices (0-based) of the six points of each eye, in EAR order p1..p6.
EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))
#: Relative ridge of :func:`fit_attribute_direction` (times the mean feature variance and N).
RIDGE = 0.1
#: Mean EAR at which the eyes count as closed when calibrating the blink strength.
EAR_CLOSED = 0.2


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """The mean EAR of both eyes of dlib's 68 landmarks ``[68, 2]`` (any pixel units)."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise LatentShapeError(f"landmarks must be [68, 2], got {points.shape}")
    ratios = []
    for eye in EYES:
        p = points[list(eye)]
        width = np.linalg.norm(p[0] - p[3])
        height = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
        ratios.append(height / (2.0 * width) if width > 1e-9 else 0.0)
    return float(np.mean(ratios))


def measure_ear(images: torch.Tensor, side: int = LANDMARK_SIDE) -> np.ndarray:
    """EAR ``[N]`` (float64) of face images ``[N, C, H, W]`` in [-1, 1] (grey or RGB), each image
    upscaled (bicubic) to ``side`` x ``side`` and used whole as the face box."""
    from inversion.faces.landmarks import predict_landmarks  # noqa: PLC0415 (loads dlib's model on first use)

    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise LatentShapeError(f"images must be [N, 1 or 3, H, W], got {tuple(images.shape)}")
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
    out = np.empty(len(pixels))
    for i, img in enumerate(pixels):
        rgb = np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img
        big = cv2.resize(np.ascontiguousarray(rgb.transpose(1, 2, 0)), (side, side), interpolation=cv2.INTER_CUBIC)
        out[i] = eye_aspect_ratio(predict_landmarks(big, (0, 0, side, side)))
    return out


@torch.no_grad()
def render_ear(G, ws: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """EAR ``[N]`` of ``G``'s renders (``noise_mode="const"``) of W+ latents ``ws`` [N, num_ws, w_dim]."""
    parts = [measure_ear(G.synthesis(ws[s:s + batch_size], noise_mode="const"))
             for s in range(0, ws.shape[0], batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0)


def fit_attribute_direction(features: torch.Tensor, values, ridge: Optional[float] = None) -> torch.Tensor:
    """Unit normal ``[F]`` (float64) of a ridge regression of ``values`` [N] on ``features`` [N, F]:
    the direction in which the attribute grows fastest under the linear model.

    ``ridge`` (default: :data:`RIDGE` x the mean feature variance x N) regularises the (centred)
    normal equations; strong ridge leans the normal towards the covariance ``X^T y``, which on the
    default generator moved renders' EAR about twice as far as a weakly regularised fit
    (0.29 -> 0.18 vs 0.26 at 8 latent units). Raises :class:`LatentShapeError` for mismatched or constant inputs.
    """
    x = features.double()
    y = torch.as_tensor(np.asarray(values), dtype=torch.float64)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise LatentShapeError(f"need features [N, F] and values [N] with N >= 2, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not torch.isfinite(y).all() or float(y.std()) <= 0:
        raise LatentShapeError("the attribute values are constant or not finite: nothing to regress")
    xc, yc = x - x.mean(0), y - y.mean()
    lam = float(ridge) if ridge is not None else RIDGE * float(xc.var(0).mean()) * x.shape[0]
    gram = xc.T @ xc + lam * torch.eye(x.shape[1], dtype=torch.float64)
    return unit(torch.linalg.solve(gram, xc.T @ yc))


def fit_blink_direction(features: torch.Tensor, ear) -> tuple[torch.Tensor, float]:
    """(unit eye-closing direction [F] float64, correlation of the linear EAR model with the
    measured EAR) from W+ features [N, F] and their renders' EAR [N]."""
    normal = fit_attribute_direction(features, ear)
    predicted = (features.double() - features.double().mean(0)) @ normal
    measured = torch.as_tensor(np.asarray(ear), dtype=torch.float64)
    corr = float(torch.corrcoef(torch.stack([predicted, measured]))[0, 1])
    return -normal, corr

