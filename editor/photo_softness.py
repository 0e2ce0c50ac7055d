"""How soft a photo is around a face: the Gaussian blur its own edges show, so that synthesised layers match it.

A layer drawn by the editor (an iris disc, a sclera, teeth, a tongue) has edges a pixel wide. On a
compressed or upscaled photo whose own edges spread over several pixels, such a layer looks pasted
on: a crisp iris in a soft face. :func:`softness` measures the photo's blur and :func:`soften` gives
a synthesised layer the same.

Measure: re-blur. A step edge blurred by a Gaussian of sigma ``s`` has gradient energy (the integral
of its squared gradient) proportional to ``1 / s``; blurring it again by ``b`` leaves ``1 / sqrt(s² +
b²)``. So the ratio ``r`` of the region's gradient energies after and before a blur of ``b`` gives
``s = b r / sqrt(1 − r²)``. Real faces are not single steps, and the estimate reads low on very soft
photos (a face blurred by 2 px on top of its own reads 1.6, by 4 px 2.8: the region is small), which
errs on the side of a layer a little crisper than its photo rather than a smudged one. A sharp photo
reads about :data:`SHARP` px, which is also how soft a drawn layer's anti-aliased edges already are.

Units: pixels of the photo. Input photos are uint8 RGB ``[H, W, 3]`` or grey ``[H, W]``.
"""

from __future__ import annotations

import cv2
import numpy as np

#: The re-blur's sigma (px).
REBLUR = 1.0
#: What :func:`softness` reads on a sharp photo (the astronaut's face, 0.6 px): a drawn layer's own softness.
SHARP = 0.6
#: The largest softness measured (px): beyond it the region says more about its size than about blur.
MAX_SOFTNESS = 4.0


def _gradient_energy(grey: np.ndarray) -> float:
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return float((gx * gx + gy * gy)[2:-2, 2:-2].sum())


def softness(photo: np.ndarray, landmarks: np.ndarray) -> float:
    """The photo's blur sigma (px) over the face's brows, eyes, nose and mouth (dlib points 17-67).

    Returns :data:`SHARP` for a region too small or too flat to measure.
    """
    lm = np.asarray(landmarks, np.float64)
    (x0, y0), (x1, y1) = np.floor(lm[17:68].min(axis=0)).astype(int), np.ceil(lm[17:68].max(axis=0)).astype(int) + 1
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    x1, y1 = min(int(x1), photo.shape[1]), min(int(y1), photo.shape[0])
    if x1 - x0 < 12 or y1 - y0 < 12:
        return SHARP
    region = photo[y0:y1, x0:x1]
    grey = (cv2.cvtColor(region, cv2.COLOR_RGB2GRAY) if region.ndim == 3 else region).astype(np.float32)
    before = _gradient_energy(grey)
    if before <= 1e-6 * grey.size:
        return SHARP
    ratio = min(_gradient_energy(cv2.GaussianBlur(grey, (0, 0), REBLUR)) / before, 0.999)
    return float(np.clip(REBLUR * ratio / np.sqrt(1.0 - ratio * ratio), SHARP, MAX_SOFTNESS))


def extra_blur(photo_softness: float) -> float:
    """The Gaussian sigma (px) that takes a drawn layer (as soft as :data:`SHARP`) to ``photo_softness``."""
    return float(np.sqrt(max(photo_softness ** 2 - SHARP ** 2, 0.0)))


def soften(image: np.ndarray, photo_softness: float, alpha: np.ndarray | None = None):
    """A drawn layer blurred to the photo's softness: ``image`` ``[h, w, C]`` float; with ``alpha`` ``[h, w, 1]``
    (straight, not premultiplied) the pair is blurred premultiplied and returned as ``(image, alpha)``."""
    sigma = extra_blur(photo_softness)
    if sigma < 0.05:
        return image if alpha is None else (image, alpha)

    def blur(x: np.ndarray) -> np.ndarray:
        out = cv2.GaussianBlur(np.ascontiguousarray(x, np.float32), (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        return out.reshape(x.shape)

    if alpha is None:
        return blur(image)
    weight = blur(alpha)
    colour = blur(image * alpha) / np.maximum(weight, 1e-6)
    return np.where(weight > 1e-6, colour, image).astype(np.float32), weight.astype(np.float32)
