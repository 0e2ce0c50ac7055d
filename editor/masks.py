"""Soft face masks from the 68 landmarks, and the photo region a face can touch.

Coordinates are pixels, x right, y down, pixel centres at integer coordinates (OpenCV). Masks
are float32 in [0, 1] (1 = the face replaces the photo). A crop-space mask is built from the
landmarks expressed in crop coordinates (``forward`` applied to the photo's landmarks; see
:func:`transform_points`); :func:`warp_mask_to_photo` carries it into the photo through the
alignment's ``forward`` (3x3, photo -> crop) matrix, as in docs/CONVENTIONS.md.

The 68 points follow dlib / iBUG 300-W: 0..16 jaw (right ear to left ear via the chin at 8),
17..26 eyebrows, 27..35 nose, 36..47 eyes, 48..67 mouth.
"""

from __future__ import annotations

import cv2
import numpy as np

JAW = slice(0, 17)
BROWS = slice(17, 27)
CHIN = 8


def transform_points(matrix, points) -> np.ndarray:
    """Apply a 3x3 (or 2x3) affine ``matrix`` to points ``[N, 2]``; returns float64 ``[N, 2]``."""
    m = np.asarray(matrix, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p @ m[:2, :2].T + m[:2, 2]


def face_outline(landmarks68, forehead: float = 0.5) -> np.ndarray:
    """Convex hull ``[K, 2]`` of the jaw, the brows and the brows lifted up onto the forehead.

    "Up" is the direction from the chin to the brows' centre; the brows are lifted by
    ``forehead`` times that chin-to-brow distance, so the hull holds the forehead and the hair
    line (0 = stop at the brows).
    """
    pts = np.asarray(landmarks68, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks must be [68, 2], got {pts.shape}")
    brows = pts[BROWS]
    up = brows.mean(axis=0) - pts[CHIN]
    lifted = brows + forehead * up
    hull = cv2.convexHull(np.concatenate([pts[JAW], brows, lifted]).astype(np.float32))
    return hull.reshape(-1, 2).astype(np.float64)


def border_taper(size: int, width: float) -> np.ndarray:
    """``[size, size]`` float32 that is 0 on the crop's outer pixels and rises smoothly to 1 at ``width`` px."""
    d = np.arange(size, dtype=np.float64)
    edge = np.minimum(d, size - 1 - d) / max(width, 1e-6)
    ramp = np.clip(edge, 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    return np.outer(ramp, ramp).astype(np.float32)


def face_mask(landmarks_crop, size: int, *, forehead: float = 0.5, erode: float = 0.02,
              feather: float = 0.025, grow: float = 0.0) -> np.ndarray:
    """Soft mask ``[size, size]`` float32 in [0, 1] of the face in an aligned crop.

    ``landmarks_crop`` [68, 2] in crop pixels. The outline (:func:`face_outline`) is filled,
    eroded by ``erode * size`` pixels (keeps the seam inside the face), feathered by a Gaussian
    of sigma ``feather * size`` pixels, and tapered to exactly 0 on the crop's border so the
    pasted crop never shows its edge. ``grow`` scales the outline about its centre by
    ``1 + grow`` first (room for an edit that moves the jaw, such as a surprised open mouth).
    """
    outline = face_outline(landmarks_crop, forehead)
    if grow:
        centre = outline.mean(axis=0)
        outline = centre + (outline - centre) * (1.0 + float(grow))
    hard = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(hard, np.round(outline * 16).astype(np.int32), 255, lineType=cv2.LINE_8, shift=4)
    radius = int(round(erode * size))
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        hard = cv2.erode(hard, kernel)
    soft = hard.astype(np.float32) / 255.0
    sigma = feather * size
    if sigma > 0:
        soft = cv2.GaussianBlur(soft, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT)
    soft *= border_taper(size, max(3.0 * sigma, 2.0))
    soft[soft < 1e-4] = 0.0
    return np.clip(soft, 0.0, 1.0)


def rescale_forward(forward, from_size: int, to_size: int) -> np.ndarray:
    """The photo -> crop matrix for the same crop resampled from ``from_size`` to ``to_size`` pixels.

    Pixel edges scale with the size (pixel centre u maps to ``s·u + (s − 1) / 2``, s = to / from),
    the convention of ``cv2.resize``.
    """
    s = float(to_size) / float(from_size)
    rescale = np.array([[s, 0.0, (s - 1.0) / 2.0], [0.0, s, (s - 1.0) / 2.0], [0.0, 0.0, 1.0]])
    return rescale @ np.asarray(forward, dtype=np.float64)


def crop_roi(forward, size: int, photo_hw, margin: int = 2) -> tuple[int, int, int, int]:
    """Bounding box ``(x0, y0, x1, y1)`` (x1/y1 exclusive, clipped) of the photo pixels a crop covers.

    ``forward`` is the 3x3 photo -> crop matrix; the crop's outer pixel edges are mapped into the
    photo and the box is grown by ``margin`` pixels. The box may be empty (x0 >= x1).
    """
    h, w = int(photo_hw[0]), int(photo_hw[1])
    inverse = np.linalg.inv(np.asarray(forward, dtype=np.float64))
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [size - 0.5, size - 0.5], [-0.5, size - 0.5]])
    q = transform_points(inverse, corners)
    x0 = max(int(np.floor(q[:, 0].min())) - margin, 0)
    y0 = max(int(np.floor(q[:, 1].min())) - margin, 0)
    x1 = min(int(np.ceil(q[:, 0].max())) + margin + 1, w)
    y1 = min(int(np.ceil(q[:, 1].max())) + margin + 1, h)
    return x0, y0, x1, y1


def roi_matrix(forward, roi) -> np.ndarray:
    """3x3 matrix from pixel coordinates inside ``roi`` (x0, y0, ...) to crop coordinates."""
    shift = np.array([[1.0, 0.0, roi[0]], [0.0, 1.0, roi[1]], [0.0, 0.0, 1.0]])
    return np.asarray(forward, dtype=np.float64) @ shift


def warp_crop_to_roi(crop: np.ndarray, forward, roi, interpolation: int = cv2.INTER_LINEAR,
                     border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """Resample a crop-space array onto the photo pixels of ``roi`` (photo pixel p reads crop at forward·p)."""
    x0, y0, x1, y1 = roi
    m = roi_matrix(forward, roi)[:2]
    return cv2.warpAffine(crop, m, (x1 - x0, y1 - y0), flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=border, borderValue=0)


def warp_mask_to_photo(mask_crop: np.ndarray, forward, photo_hw) -> np.ndarray:
    """A crop-space mask carried into the photo: float32 ``[H, W]``, exactly 0 outside the crop."""
    out = np.zeros(tuple(int(v) for v in photo_hw[:2]), np.float32)
    roi = crop_roi(forward, mask_crop.shape[0], photo_hw)
    if roi[0] < roi[2] and roi[1] < roi[3]:
        out[roi[1]:roi[3], roi[0]:roi[2]] = warp_crop_to_roi(mask_crop.astype(np.float32), forward, roi)
    return out


def face_support(photo_hw, forward, size: int, margin: float = 0.0) -> np.ndarray:
    """bool ``[H, W]``: the photo pixels a face's crop can touch, grown by ``margin`` pixels.

    With ``margin = 0`` this is the crop's footprint (every pixel a paste can change); pass the
    deformation fall-off distance to include what :mod:`editor.composite`'s motion can move.
    Pixels outside the union of all faces' supports are the photo's own in every frame.
    """
    h, w = int(photo_hw[0]), int(photo_hw[1])
    inverse = np.linalg.inv(np.asarray(forward, dtype=np.float64))
    corners = np.array([[-1.0, -1.0], [size, -1.0], [size, size], [-1.0, size]])
    quad = transform_points(inverse, corners)
    out = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(out, np.round(quad * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
    # One extra pixel beyond the quad absorbs the polygon's rounding: the support is conservative.
    dist = cv2.distanceTransform((1 - out).astype(np.uint8), cv2.DIST_L2, 5)
    return dist <= float(margin) + 1.5
