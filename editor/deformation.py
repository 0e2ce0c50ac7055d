"""Smooth deformation of the photo around a moving face (neck, hair, shoulders follow it).

A face's head motion in frame i is a 3x3 similarity ``A`` in photo pixels mapping where a point
is in the still photo to where it is in the frame (forward direction, x right, y down; see
:func:`editor.trajectory.head_transforms`). The deformation moves the photo by ``A`` inside the
face's region and fades smoothly to no motion at all ``falloff`` pixels outside it (about one
face width): a backward map for ``cv2.remap``, frame pixel p reads the photo at
``p + w(p) · (A⁻¹ p − p)`` with the weight ``w`` = 1 in the region, a smoothstep of the distance
outside it, and exactly 0 beyond ``falloff``. Pixels with ``w = 0`` are copied, bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def falloff_weights(region: np.ndarray, falloff: float) -> np.ndarray:
    """float32 ``[H, W]``: 1 inside ``region`` (bool, or float > 0.5), smoothly 0 at ``falloff`` px from it.

    The profile is ``1 − smoothstep(distance / falloff)`` with zero slope at both ends, so the
    deformation has no visible crease at the region's edge or at the end of the fall-off.
    """
    inside = (np.asarray(region) > 0.5).astype(np.uint8)
    if not inside.any():
        return np.zeros(inside.shape, np.float32)
    dist = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    x = np.clip(dist / max(float(falloff), 1e-6), 0.0, 1.0)
    return (1.0 - x * x * (3.0 - 2.0 * x)).astype(np.float32)


def displacement_field(weights: np.ndarray, motion) -> np.ndarray:
    """float32 ``[H, W, 2]`` backward displacement (dx, dy): ``w(p) · (A⁻¹ p − p)`` for motion ``A`` (3x3)."""
    h, w = weights.shape
    inverse = np.linalg.inv(np.asarray(motion, dtype=np.float64))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    field = np.stack([src_x - xs, src_y - ys], axis=-1) * weights[:, :, None]
    return field.astype(np.float32)


@dataclass(frozen=True)
class DeformationSupport:
    """The box ``(x0, y0, x1, y1)`` around ``weights > 0`` with its weights and pixel grids, cached per face."""

    box: tuple[int, int, int, int]
    weights: np.ndarray
    xs: np.ndarray
    ys: np.ndarray


def deformation_support(weights: np.ndarray) -> DeformationSupport | None:
    """Precompute what :func:`apply_deformation` needs for these weights (None: nothing moves)."""
    ys, xs = np.nonzero(weights > 0)
    if ys.size == 0:
        return None
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    grid_y, grid_x = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return DeformationSupport((x0, y0, x1, y1), np.ascontiguousarray(weights[y0:y1, x0:x1]), grid_x, grid_y)


def apply_deformation(image: np.ndarray, weights: np.ndarray, motion,
                      interpolation: int = cv2.INTER_LINEAR, support: DeformationSupport | None = None,
                      inplace: bool = False) -> np.ndarray:
    """Deform ``image`` (``H x W [x C]``) by ``motion`` (3x3) faded by ``weights`` (:func:`falloff_weights`).

    Returns a new image of the same dtype; only the box around ``weights > 0`` is resampled
    (border pixels replicated) and every pixel with weight 0 keeps its exact value. Pass the
    face's cached :func:`deformation_support` as ``support`` to skip recomputing the box;
    ``inplace`` writes into ``image`` itself and returns it.
    """
    out = image if inplace else image.copy()
    support = support if support is not None else deformation_support(weights)
    if support is None:
        return out
    x0, y0, x1, y1 = support.box
    w = support.weights
    src_x, src_y = source_points(support.xs, support.ys, w, motion)
    warped = cv2.remap(image, src_x, src_y, interpolation, borderMode=cv2.BORDER_REPLICATE)
    moved = w > 0
    out[y0:y1, x0:x1][moved] = warped[moved]
    return out


def source_points(xs: np.ndarray, ys: np.ndarray, weights: np.ndarray, motion) -> tuple[np.ndarray, np.ndarray]:
    """float32 (x, y) photo points that frame pixels (``xs``, ``ys``) read: ``p + w(p) · (A⁻¹ p − p)``."""
    inv = np.linalg.inv(np.asarray(motion, dtype=np.float64)).astype(np.float32)
    src_x = xs + weights * (inv[0, 0] * xs + inv[0, 1] * ys + (inv[0, 2] - xs))
    src_y = ys + weights * (inv[1, 0] * xs + inv[1, 1] * ys + (inv[1, 2] - ys))
    return src_x, src_y


def moved_forward(forward, motion) -> np.ndarray:
    """The alignment ``forward`` (photo -> crop) of a face that has moved by ``motion``: ``forward · A⁻¹``.

    Paste a frame's rendered crop with this matrix so the face lands where the deformation moved it.
    """
    return np.asarray(forward, dtype=np.float64) @ np.linalg.inv(np.asarray(motion, dtype=np.float64))
