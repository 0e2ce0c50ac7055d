"""Motion transfer: move the photo's own pixels the way the generator's face moved.

For a generator of lower resolution than the face in the photo, pasting its rendering would blur
the face and change its identity and colour. Instead, the dense optical flow between the
generator's reconstruction of the face (``reference``, the unedited latent) and an edited frame
is carried onto the photo's own aligned crop, and only what the flow cannot explain — new
content such as teeth, the mouth's interior or wrinkles — is added from the generator:

``out = warp(photo_crop, flow↑) + resize(frame − warp(reference, flow), S)``

Images are ``R x R x 3`` (generator) and ``S x S x 3`` (photo crop, S ≥ R usually) RGB arrays,
uint8 or float32 on the 0..255 scale, of the same aligned view (see
:func:`editor.masks.rescale_forward`). Flows are backward, float32 ``[R, R, 2]`` (dx, dy): frame
pixel q shows what the reference has at ``q + flow[q]``.

In a frame: ``photo_crop`` is the photo's aligned crop (``AlignedFace.image``, or
``cv2.warpAffine(photo, forward[:2], (S, S))``); pass the result to
:func:`editor.composite.compose_frame` as that face's crop, with a layer built *without* a
``reconstruction`` (the colours are already the photo's; the residual is a difference).
"""

from __future__ import annotations

import cv2
import numpy as np


def grey_uint8(image: np.ndarray) -> np.ndarray:
    """RGB (or grey) on the 0..255 scale -> uint8 grey (BT.601 luma), as the flow estimators want."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def generator_flow(reference: np.ndarray, frame: np.ndarray, still_level: float = 1.5) -> np.ndarray:
    """Backward flow ``[R, R, 2]`` from ``frame`` into ``reference`` (Farnebäck, coarse to fine).

    Where the two images do not differ (the local mean absolute difference, blurred over about
    R/32 pixels, is below ``still_level`` grey levels) the flow fades smoothly to exactly zero:
    the estimator's small drift there would otherwise move the photo's detail for no reason.
    """
    if reference.shape != frame.shape:
        raise ValueError(f"reference {reference.shape} and frame {frame.shape} must match")
    size = reference.shape[0]
    window = int(np.clip(size // 10, 5, 31)) | 1
    levels = int(np.clip(np.log2(size / 16.0), 1, 5))
    flow = cv2.calcOpticalFlowFarneback(grey_uint8(frame), grey_uint8(reference), None, pyr_scale=0.5,
                                        levels=levels, winsize=window, iterations=4, poly_n=5,
                                        poly_sigma=1.1, flags=0)
    if still_level > 0:
        diff = np.abs(np.asarray(frame, np.float32) - np.asarray(reference, np.float32))
        diff = diff.mean(axis=2) if diff.ndim == 3 else diff
        sigma = max(size / 32.0, 1.0)
        diff = cv2.GaussianBlur(diff, (0, 0), sigma)
        gate = np.clip(diff / still_level - 0.5, 0.0, 1.0)
        flow *= (gate * gate * (3.0 - 2.0 * gate))[:, :, None]
    return flow


def warp_with_flow(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: ``out[q] = image[q + flow[q]]`` (bilinear, borders replicated); float32.

    ``flow`` may be at another resolution than ``image``: it is resized and its vectors scaled,
    keeping pixel centres aligned as ``cv2.resize`` does.
    """
    h, w = image.shape[:2]
    fh, fw = flow.shape[:2]
    if (fh, fw) != (h, w):
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.array([w / fw, h / fh], np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(np.asarray(image, dtype=np.float32), xs + flow[..., 0], ys + flow[..., 1],
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def transfer_motion(photo_crop: np.ndarray, reference: np.ndarray, frame: np.ndarray,
                    flow: np.ndarray | None = None, residual_gain: float = 1.0,
                    residual_sigma: float = 0.0, residual_shrink: float = 0.0,
                    residual_weight: np.ndarray | None = None) -> np.ndarray:
    """The photo's aligned crop moved as the generator's face moved from ``reference`` to ``frame``.

    Returns float32 ``S x S x 3`` on the 0..255 scale (clip or round it as needed). The high
    frequencies come from ``photo_crop``; the residual ``frame − warp(reference, flow)``, resized
    to S and scaled by ``residual_gain``, brings in what the motion alone cannot (e.g. teeth).
    ``flow`` may be passed when already computed (:func:`generator_flow`). ``residual_sigma`` > 0
    low-passes the residual with a Gaussian of that sigma in generator pixels first (keeps the
    generator's pixel noise, which the upscaling would magnify into blotches, out of the photo);
    ``residual_shrink`` > 0 soft-thresholds it by that many grey levels (``sign(r)·max(|r| − t, 0)``),
    keeping strong new content such as teeth and dropping faint shading differences.
    ``residual_weight`` ``[S, S]`` in [0, 1] scales the residual per pixel (0 where the photo's own
    moved pixels are to be kept as they are, such as background the face uncovered).
    """
    if flow is None:
        flow = generator_flow(reference, frame)
    moved = warp_with_flow(photo_crop, flow)
    residual = np.asarray(frame, dtype=np.float32) - warp_with_flow(reference, flow)
    if residual_sigma > 0:
        residual = cv2.GaussianBlur(residual, (0, 0), float(residual_sigma))
    if residual_shrink > 0:
        residual = np.sign(residual) * np.maximum(np.abs(residual) - float(residual_shrink), 0.0)
    size = photo_crop.shape[0]
    if residual.shape[0] != size:
        residual = cv2.resize(residual, (size, size), interpolation=cv2.INTER_LINEAR)
    if residual_weight is not None:
        residual *= np.asarray(residual_weight, np.float32)[:, :, None]
    return np.clip(moved + residual_gain * residual, 0.0, 255.0)
