"""Band-limited upsampling of a photo patch: a windowed-sinc interpolator that keeps the photo's detail.

The warp reads every moving pixel at a sub-pixel point. A short interpolator (bicubic, Lanczos-4)
loses the photo's finest detail there: a half-pixel diagonal shift of the astronaut's face keeps
0.61 (bicubic) or 0.77 (Lanczos-4) of its Laplacian variance, which shows as a face that softens as
soon as it moves. :func:`upsample` makes a copy at ``factor`` times the resolution once per clip, with
a Lanczos-windowed sinc of :data:`RADIUS` lobes (0.90 at the same shift, 0.94 with 12); frames then
read it bicubically between samples that are already close together. Nothing is amplified: a
whole-pixel sample is the photo's own value, and at quarter-pixel shifts the variance kept is 1.0.

Layout: ``[h, w]`` or ``[h, w, c]``; output ``[(h - 1) * factor + 1, (w - 1) * factor + 1(, c)]`` with
``out[factor * i, factor * j] == image[i, j]`` exactly; borders are mirrored (without repeating the
edge pixel). dtype in = dtype out (uint8 is rounded and clipped to 0..255).
"""

from __future__ import annotations

import cv2
import numpy as np

#: Lobes of the windowed sinc on each side (taps: 2 * RADIUS per sub-pixel phase). Longer keeps more
#: detail and rings more at hard edges; 8 keeps 0.90 of a half-pixel shift's detail.
RADIUS = 8


def sinc_kernel(phase: float, radius: int = RADIUS) -> np.ndarray:
    """float32 ``[2 * radius]`` taps for the point ``phase`` (0 < phase < 1) after sample 0, for samples
    ``-radius + 1 .. radius``: Lanczos-windowed sinc, normalised to sum 1 (flat areas stay flat)."""
    offsets = np.arange(-radius + 1, radius + 1, dtype=np.float64) - phase
    taps = np.sinc(offsets) * np.sinc(offsets / radius)
    return (taps / taps.sum()).astype(np.float32)


def upsample(image: np.ndarray, factor: int, radius: int = RADIUS) -> np.ndarray:
    """``image`` at ``factor`` times its resolution (see the module docstring for layout and exactness)."""
    if factor < 1 or radius < 1:
        raise ValueError(f"factor and radius must be >= 1, got {factor} and {radius}")
    source = np.asarray(image)
    h, w = source.shape[:2]
    values = source.astype(np.float32)
    padded = cv2.copyMakeBorder(values, radius, radius, radius, radius, cv2.BORDER_REFLECT_101)
    if padded.ndim < values.ndim:  # OpenCV drops a trailing axis of 1
        padded = padded[..., None]
    identity = np.zeros(2 * radius, np.float32)
    identity[radius - 1] = 1.0
    kernels = [identity] + [sinc_kernel(p / factor, radius) for p in range(1, factor)]
    out = np.empty(((h - 1) * factor + 1, (w - 1) * factor + 1) + source.shape[2:], np.float32)
    for py in range(factor):
        for px in range(factor):
            target = out[py::factor, px::factor]
            if py == 0 and px == 0:
                phase = values
            else:
                phase = cv2.sepFilter2D(padded, cv2.CV_32F, kernels[px], kernels[py], anchor=(radius - 1, radius - 1),
                                        borderType=cv2.BORDER_CONSTANT)
                phase = phase.reshape(padded.shape)[radius:radius + h, radius:radius + w]
            target[...] = phase[:target.shape[0], :target.shape[1]]
    if source.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(source.dtype, copy=False)
