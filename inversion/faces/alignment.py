"""Face alignment from the 68 landmarks, with the exact transform to put the face back.

Usage::

    >>> from inversion.common.images import read_photo
    >>> from inversion.faces.detection import detect_faces
    >>> photo = read_photo("docs/examples/astronaut.jpg")
    >>> face = align_face(photo, detect_faces(photo)[0].landmarks68, size=64, variant="ffhq")
    >>> face.image.shape, face.forward.shape
    ((64, 64, 3), (3, 3))

Coordinates: pixel centres at integer coordinates, x right, y down (OpenCV's convention), in the
photo and in the crop alike. ``AlignedFace.forward`` maps photo pixel coordinates to crop pixel
coordinates (homogeneous 3x3, float64); ``AlignedFace.inverse`` maps crop to photo. So
``cv2.warpAffine(photo, forward[:2], (size, size))`` gives ``aligned.image`` up to the padding and
the anti-aliasing described below.

Variants (``quad`` corners in the order top-left, bottom-left, bottom-right, top-right):

* ``"ffhq"``: exactly the quad of the FFHQ dataset script (``recreate_aligned_images``): with the
  eye centres ``eL, eR`` (means of points 36-41, 42-47), the mouth corners ``m0, m6`` (points 48, 54),
  ``eye_avg = (eL + eR) / 2``, ``eye_to_eye = eR - eL``, ``eye_to_mouth = (m0 + m6) / 2 - eye_avg``:
  ``x = eye_to_eye - rot90(eye_to_mouth)`` normalised, times ``max(2 |eye_to_eye|, 1.8 |eye_to_mouth|)``;
  ``y = rot90(x)``; centre ``c = eye_avg + 0.1 eye_to_mouth``; quad ``c -x -y, c -x +y, c +x +y, c +x -y``.
  The crop is square, ``2 |x|`` photo pixels wide: hair, ears and some background.
* ``"tight"``: the same orientation ``x, y``, a smaller square around the inner face, for generators
  trained on tight crops (FER2013-like, the project's ``faces128``): half-size
  ``max(TIGHT_EYE_SCALE |eye_to_eye|, TIGHT_MOUTH_SCALE |eye_to_mouth|)`` and centre
  ``eye_avg + TIGHT_CENTRE eye_to_mouth``. The constants were measured on 300 ``faces128`` crops
  (dlib HOG + 68 landmarks; medians): the eye midpoint sits at 40 % of the height, the mouth
  midpoint at 78.5 %, the eye centres 0.352 of the width apart and eyes-to-mouth is 0.387 of it;
  so ``0.5 / 0.352 = 1.42``, ``0.5 / 0.387 = 1.29`` and ``(0.5 - 0.40) / 0.387 = 0.26``. About 71 %
  of the FFHQ quad's side: forehead to chin, little hair, no background (docs/BENCHMARKS.md).

Where the quad leaves the photo, the photo is padded as FFHQ does: reflect padding, blurred with
sigma ``0.02 * qsize`` increasingly towards the outer edge, and faded to the median colour. The
warp samples bilinearly at an integer multiple of the output size (no more than 1:1) and then
area-averages down, so large faces are anti-aliased like FFHQ's shrink + ANTIALIAS resize.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

from inversion.common.errors import FaceLatentError

VARIANTS = ("ffhq", "tight")
TIGHT_EYE_SCALE = 1.42
TIGHT_MOUTH_SCALE = 1.29
TIGHT_CENTRE = 0.26


@dataclass
class AlignedFace:
    """An aligned crop and its geometry (see the module docstring for conventions)."""

    image: np.ndarray  # uint8 [size, size, 3] RGB
    forward: np.ndarray  # 3x3 float64: photo pixel -> crop pixel
    inverse: np.ndarray  # 3x3 float64: crop pixel -> photo pixel
    quad: np.ndarray  # [4, 2] photo coords of the crop's corners: TL, BL, BR, TR
    size: int
    variant: str

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Crop pixel coordinates [N, 2] -> photo pixel coordinates."""
        return apply_transform(self.inverse, points)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo pixel coordinates [N, 2] -> crop pixel coordinates."""
        return apply_transform(self.forward, points)


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a homogeneous 3x3 transform to points ``[N, 2]`` (x, y)."""
    points = np.asarray(points, dtype=np.float64)
    out = points @ matrix[:2, :2].T + matrix[:2, 2]
    return out


def _eyes_and_mouth(landmarks68: np.ndarray):
    lm = np.asarray(landmarks68, dtype=np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise FaceLatentError(f"alignment needs 68 finite (x, y) landmarks, got shape {lm.shape}")
    eye_left, eye_right = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (lm[48] + lm[54]) * 0.5 - eye_avg
    return eye_avg, eye_to_eye, eye_to_mouth


def face_quad(landmarks68: np.ndarray, variant: str = "ffhq") -> np.ndarray:
    """The crop's corners in photo coordinates ``[4, 2]`` (TL, BL, BR, TR) for ``variant``."""
    if variant not in VARIANTS:
        raise FaceLatentError(f"unknown alignment {variant!r}; choose one of {', '.join(VARIANTS)}")
    eye_avg, eye_to_eye, eye_to_mouth = _eyes_and_mouth(landmarks68)
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    norm = np.hypot(*x)
    if norm < 1e-6:
        raise FaceLatentError("degenerate landmarks: eyes and mouth coincide")
    x = x / norm
    if variant == "ffhq":
        x = x * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
        c = eye_avg + eye_to_mouth * 0.1
    else:
        x = x * max(np.hypot(*eye_to_eye) * TIGHT_EYE_SCALE, np.hypot(*eye_to_mouth) * TIGHT_MOUTH_SCALE)
        c = eye_avg + eye_to_mouth * TIGHT_CENTRE
    y = np.flipud(x) * [-1, 1]
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_to_crop_matrix(quad: np.ndarray, size: int) -> np.ndarray:
    """3x3 map photo -> crop: the quad's corners go to the crop's outer pixel *edges*.

    Crop pixel centre ``u`` has edge coordinate ``u + 0.5``; the quad's TL corner is the edge
    point (0, 0), TR is (size, 0), BL is (0, size) (the FFHQ script's ``quad + 0.5`` for PIL).
    """
    quad = np.asarray(quad, dtype=np.float64)
    origin, axis_u, axis_v = quad[0], quad[3] - quad[0], quad[1] - quad[0]
    crop_from_photo = np.linalg.inv(np.array([[axis_u[0], axis_v[0]], [axis_u[1], axis_v[1]]]))
    m = np.eye(3)
    m[:2, :2] = crop_from_photo * size
    m[:2, 2] = -m[:2, :2] @ origin - 0.5
    return m


def _pad_like_ffhq(photo: np.ndarray, quad: np.ndarray, qsize: float):
    """Crop the photo around the quad and pad it where the quad leaves it, as FFHQ does.

    Returns ``(region float32 HxWx3, (ox, oy))`` with ``region[y, x] == photo[y + oy, x + ox]``
    wherever that pixel exists.
    """
    h, w = photo.shape[:2]
    border = max(int(np.rint(qsize * 0.1)), 3)
    lo, hi = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    x0, y0 = max(lo[0] - border, 0), max(lo[1] - border, 0)
    x1, y1 = min(hi[0] + border, w), min(hi[1] + border, h)
    if x1 <= x0 or y1 <= y0:
        raise FaceLatentError("the face lies outside the photo")
    region = photo[y0:y1, x0:x1].astype(np.float32)
    pad = [max(-(lo[0] - x0) + border, 0), max(-(lo[1] - y0) + border, 0),
           max(hi[0] - x0 - region.shape[1] + border, 0), max(hi[1] - y0 - region.shape[0] + border, 0)]
    if max(pad) <= border - 4:
        return region, (x0, y0)
    pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
    mode = "reflect" if min(region.shape[:2]) > 1 else "edge"
    region = np.pad(region, ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), mode)
    rh, rw = region.shape[:2]
    yy, xx = np.ogrid[:rh, :rw]
    mask = np.maximum(1.0 - np.minimum(xx / pad[0], (rw - 1 - xx) / pad[2]),
                      1.0 - np.minimum(yy / pad[1], (rh - 1 - yy) / pad[3]))[:, :, None].astype(np.float32)
    blur = qsize * 0.02
    region += (gaussian_filter(region, [blur, blur, 0]) - region) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    region += (np.median(region, axis=(0, 1)) - region) * np.clip(mask, 0.0, 1.0)
    return region, (x0 - pad[0], y0 - pad[1])


def align_face(photo: np.ndarray, landmarks68: np.ndarray, size: int = 256,
               variant: str = "ffhq") -> AlignedFace:
    """Align one face: ``photo`` uint8 [H, W, 3] RGB, ``landmarks68`` [68, 2] photo pixels."""
    if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise FaceLatentError("align_face needs a uint8 RGB photo [H, W, 3]")
    if int(size) < 4:
        raise FaceLatentError(f"aligned size must be at least 4 pixels, not {size}")
    size = int(size)
    quad = face_quad(landmarks68, variant)
    qsize = float(np.hypot(*(quad[3] - quad[0])))
    forward = quad_to_crop_matrix(quad, size)
    region, (ox, oy) = _pad_like_ffhq(photo, quad, qsize)
    factor = max(1, math.ceil(qsize / size))  # warp at <= 1:1, then area-average down
    big = size * factor
    scale_up = np.array([[factor, 0, (factor - 1) / 2], [0, factor, (factor - 1) / 2], [0, 0, 1]])
    to_big = scale_up @ forward @ np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]], dtype=np.float64)
    warped = cv2.warpAffine(region, to_big[:2], (big, big), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    if factor > 1:
        warped = cv2.resize(warped, (size, size), interpolation=cv2.INTER_AREA)
    image = np.clip(np.rint(warped), 0, 255).astype(np.uint8)
    return AlignedFace(image, forward, np.linalg.inv(forward), quad, size, variant)


def unalign(crop: np.ndarray, aligned: AlignedFace, photo_shape) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Warp a crop (the aligned image or an edited one, any size) back into photo coordinates.

    Returns ``(pixels float32 [h, w, C], coverage float32 [h, w] in 0..1, (x0, y0))``: the warped
    crop over the photo's bounding box of the quad (clipped to the photo) whose top-left photo pixel
    is ``(x0, y0)``, and how much of each pixel the crop covers (1 inside, falling to 0 across the
    crop's edge). Bilinear sampling.
    """
    h, w = photo_shape[:2]
    crop = np.asarray(crop)
    scale = crop.shape[0] / aligned.size
    if crop.shape[0] != crop.shape[1]:
        raise FaceLatentError(f"the crop must be square, got {crop.shape[1]}x{crop.shape[0]}")
    lo = np.floor(aligned.quad.min(axis=0)).astype(int) - 1
    hi = np.ceil(aligned.quad.max(axis=0)).astype(int) + 2
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], w), min(hi[1], h)
    if x1 <= x0 or y1 <= y0:
        empty = np.zeros((0, 0) + crop.shape[2:], np.float32)
        return empty, np.zeros((0, 0), np.float32), (0, 0)
    rescale = np.array([[scale, 0, (scale - 1) / 2], [0, scale, (scale - 1) / 2], [0, 0, 1]])
    box_to_crop = rescale @ aligned.forward @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], dtype=np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    pixels = cv2.warpAffine(crop.astype(np.float32), box_to_crop[:2], (x1 - x0, y1 - y0), flags=flags,
                            borderMode=cv2.BORDER_REPLICATE)
    ones = np.ones(crop.shape[:2], np.float32)
    coverage = cv2.warpAffine(ones, box_to_crop[:2], (x1 - x0, y1 - y0), flags=flags,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return pixels, coverage, (x0, y0)


def paste_face(photo: np.ndarray, crop: np.ndarray, aligned: AlignedFace,
               mask: np.ndarray | None = None) -> np.ndarray:
    """Put a (possibly edited) crop back into a copy of ``photo``; returns uint8 [H, W, 3].

    ``mask`` (float [s, s] in 0..1, crop coordinates; default all ones) says how much of the crop
    to use; it is warped with the crop and multiplied by the coverage, then alpha-blended.
    """
    pixels, coverage, (x0, y0) = unalign(crop, aligned, photo.shape)
    out = photo.copy()
    if pixels.size == 0:
        return out
    if mask is not None:
        warped_mask, _, _ = unalign(np.asarray(mask, np.float32), aligned, photo.shape)
        coverage = coverage * np.clip(warped_mask, 0.0, 1.0)
    h, w = coverage.shape
    area = out[y0:y0 + h, x0:x0 + w].astype(np.float32)
    alpha = coverage[:, :, None]
    out[y0:y0 + h, x0:x0 + w] = np.clip(np.rint(area * (1 - alpha) + pixels * alpha), 0, 255).astype(np.uint8)
    return out
