"""Pasting rendered faces back into the photo: inverse warp, soft mask, colour match, hole fill.

Images here are ``H x W x 3`` RGB arrays, either uint8 or float32 on the same 0..255 scale
(:func:`inversion.common.images.tensor_to_images` turns the stages' float NCHW [-1, 1] tensors into that).
Geometry follows docs/CONVENTIONS.md: ``forward`` is the 3x3 photo -> crop matrix of the face's
alignment, pixel centres at integer coordinates, and a photo pixel p takes the crop's value at ``forward · p``
(``cv2.warpAffine`` with ``WARP_INVERSE_MAP``, the same matrix that cut the crop out).
Only pixels whose mask value is above zero are written: every other pixel of the result is
bit-identical to the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from editor.deformation import (
    DeformationSupport, apply_deformation, deformation_support, falloff_weights, moved_forward,
)
from editor.masks import (
    crop_roi, face_mask, face_support, rescale_forward, transform_points, warp_crop_to_roi,
    warp_mask_to_photo,
)


def _as_float(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def _restore_dtype(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    if like.dtype == np.uint8:
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return values.astype(like.dtype)


def paste_face(photo: np.ndarray, crop: np.ndarray, forward, mask_crop: np.ndarray,
               interpolation: int = cv2.INTER_LINEAR, colour: "ColourTransfer | None" = None,
               inplace: bool = False) -> np.ndarray:
    """Blend an aligned crop back into the photo under a soft crop-space mask; returns a new photo.

    ``photo`` ``H x W x 3`` (uint8, or float32 0..255); ``mask_crop`` ``S x S`` float in [0, 1]
    (e.g. :func:`editor.masks.face_mask`) and ``forward`` its 3x3 photo -> crop matrix; ``crop``
    on the photo's scale, ``S x S x 3`` or any other square size ``R x R x 3`` of the same view (a
    generator's resolution: the matrix and the mask are rescaled to it). Result =
    photo·(1 − m) + warped crop·m, with the same dtype as ``photo``; only the crop's footprint is
    computed and pixels where m = 0 keep the photo's exact values. A crop with 2+ pixels per
    photo pixel is first reduced by a Gaussian pyramid (no aliasing); ``colour``, when given, is
    applied to the (reduced) crop before warping.
    ``inplace`` writes into ``photo`` itself and returns it.
    """
    size = crop.shape[0]
    if crop.shape[0] != crop.shape[1] or mask_crop.shape[0] != mask_crop.shape[1]:
        raise ValueError(f"crop {crop.shape} and mask {mask_crop.shape} must both be square")
    if mask_crop.shape[0] != size:
        forward = rescale_forward(forward, mask_crop.shape[0], size)
        shrink = cv2.INTER_AREA if size < mask_crop.shape[0] else cv2.INTER_LINEAR
        mask_crop = cv2.resize(mask_crop.astype(np.float32), (size, size), interpolation=shrink)
    out = photo if inplace else photo.copy()
    crop, mask_crop, forward = _prefilter_for_downscale(_as_float(crop), mask_crop.astype(np.float32), forward)
    if colour is not None:
        crop = colour.apply(crop)
    size = crop.shape[0]
    roi = crop_roi(forward, size, photo.shape)
    x0, y0, x1, y1 = roi
    if x0 >= x1 or y0 >= y1:
        return out
    face = warp_crop_to_roi(crop, forward, roi, interpolation, border=cv2.BORDER_REPLICATE)
    alpha = warp_crop_to_roi(mask_crop, forward, roi)
    alpha = np.clip(alpha, 0.0, 1.0)
    region = _as_float(photo[y0:y1, x0:x1])
    blended = region + alpha[:, :, None] * (face - region)
    touched = alpha > 0
    patch = out[y0:y1, x0:x1]
    patch[touched] = _restore_dtype(blended, photo)[touched]
    return out


def _prefilter_for_downscale(crop: np.ndarray, mask: np.ndarray, forward):
    """Halve crop and mask (Gaussian pyramid) while the crop has 2+ pixels per photo pixel.

    Bilinear resampling of a much larger crop would alias (shimmer in a video); each
    ``cv2.pyrDown`` keeps pixel centres consistent: new crop pixel i sits at old pixel 2i,
    so the photo -> crop matrix is pre-multiplied by diag(1/2, 1/2, 1).
    """
    forward = np.asarray(forward, dtype=np.float64)
    halve = np.diag([0.5, 0.5, 1.0])
    while np.sqrt(abs(np.linalg.det(forward[:2, :2]))) >= 2.0 and crop.shape[0] >= 16:
        crop, mask = cv2.pyrDown(crop), cv2.pyrDown(mask)
        forward = halve @ forward
    return crop, mask, forward


@dataclass(frozen=True)
class ColourTransfer:
    """Per-channel affine map in CIE Lab (Reinhard): ``lab' = (lab − src_mean) · gain + dst_mean``."""

    src_mean: np.ndarray
    gain: np.ndarray
    dst_mean: np.ndarray

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Apply to an RGB image (uint8 or float32 0..255); returns the same dtype."""
        lab = _rgb_to_lab(image)
        lab *= self.gain
        lab += self.dst_mean - self.src_mean * self.gain
        rgb = _lab_to_rgb(lab)
        return rgb if np.asarray(image).dtype == np.float32 else _restore_dtype(rgb, np.asarray(image))


def _rgb_to_lab(image: np.ndarray) -> np.ndarray:
    rgb = _as_float(image) * np.float32(1.0 / 255.0)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.astype(np.float32, copy=False), cv2.COLOR_Lab2RGB)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    rgb *= np.float32(255.0)
    return rgb


def _weighted_stats(lab: np.ndarray, weight: np.ndarray):
    w = weight.reshape(-1).astype(np.float64)
    total = w.sum()
    if total <= 1e-6:
        raise ValueError("the colour-matching mask is empty")
    values = lab.reshape(-1, 3).astype(np.float64)
    mean = (values * w[:, None]).sum(0) / total
    var = (((values - mean) ** 2) * w[:, None]).sum(0) / total
    return mean, np.sqrt(var)


def fit_colour_transfer(source: np.ndarray, target: np.ndarray, mask: np.ndarray,
                        max_gain: float = 2.0) -> ColourTransfer:
    """Fit the Lab mean/std transfer that makes ``source`` match ``target`` under ``mask``.

    Typically ``source`` = the generator's reconstruction of the face and ``target`` = the photo's
    own aligned crop (same size); fit once per face and apply the same transfer to every frame,
    so colour does not flicker. Gains are clipped to [1/max_gain, max_gain].
    """
    if source.shape != target.shape or source.shape[:2] != mask.shape[:2]:
        raise ValueError(f"source {source.shape}, target {target.shape} and mask {mask.shape} must match")
    src_mean, src_std = _weighted_stats(_rgb_to_lab(source), mask)
    dst_mean, dst_std = _weighted_stats(_rgb_to_lab(target), mask)
    gain = np.clip(dst_std / np.maximum(src_std, 1e-3), 1.0 / max_gain, max_gain)
    return ColourTransfer(src_mean=src_mean.astype(np.float32), gain=gain.astype(np.float32),
                          dst_mean=dst_mean.astype(np.float32))


def fill_region(image: np.ndarray, hole: np.ndarray, smooth_iterations: int = 40) -> np.ndarray:
    """Fill the pixels where ``hole`` is true with a smooth continuation of their surroundings.

    A push-pull fill: mask-weighted averages over an image pyramid give every hole pixel a value
    from the nearest known pixels at the coarsest scale that reaches them, blended up scale by
    scale; then ``smooth_iterations`` of Jacobi relaxation (known pixels held fixed) remove what
    is left of the pyramid's structure. Pixels outside ``hole`` are returned unchanged (same
    dtype). Used outside the crop, where the generator cannot paint: for background that a
    moving face uncovers.
    """
    hole = np.asarray(hole, dtype=bool)
    if not hole.any():
        return image.copy()
    if hole.all():
        raise ValueError("nothing to fill from: the hole covers the whole image")
    values = _as_float(image)
    known = (~hole).astype(np.float32)
    filled = _push_pull(values * known[:, :, None], known)
    filled = np.where(hole[:, :, None], filled, values)
    hole3 = hole[:, :, None]
    for _ in range(smooth_iterations):
        blurred = cv2.blur(filled, (3, 3), borderType=cv2.BORDER_REFLECT)
        filled = np.where(hole3, blurred, values)
    out = image.copy()
    out[hole] = _restore_dtype(filled, image)[hole]
    return out


def _push_pull(weighted: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Values everywhere from ``weighted`` (= value·weight) and ``weight`` via a weighted pyramid."""
    h, w = weight.shape
    if weight.min() > 0:
        return weighted / weight[:, :, None]
    if min(h, w) <= 2:  # the coarsest level: the weighted mean of what is known
        mean = weighted.sum((0, 1)) / max(float(weight.sum()), 1e-8)
        return np.broadcast_to(mean, weighted.shape).astype(np.float32)
    small = ((w + 1) // 2, (h + 1) // 2)
    coarse_weighted = cv2.resize(cv2.GaussianBlur(weighted, (5, 5), 1.0), small, interpolation=cv2.INTER_AREA)
    coarse_weight = cv2.resize(cv2.GaussianBlur(weight, (5, 5), 1.0), small, interpolation=cv2.INTER_AREA)
    coarse = _push_pull(coarse_weighted, coarse_weight)
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    here = weighted / np.maximum(weight, 1e-8)[:, :, None]
    confidence = np.clip(weight * 4.0, 0.0, 1.0)[:, :, None]
    return confidence * here + (1.0 - confidence) * up


def uncovered_region(before: np.ndarray, after: np.ndarray, grow: int = 2) -> np.ndarray:
    """bool ``[H, W]``: pixels the face covered in the still photo and no longer covers in a frame.

    ``before`` and ``after`` are the face's masks (bool or float > 0.5) in the photo and in the
    frame; the result is grown by ``grow`` pixels so that the old face's edge is inside it.
    """
    b = np.asarray(before) > 0.5
    a = np.asarray(after) > 0.5
    region = (b & ~a).astype(np.uint8)
    if grow > 0 and region.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        region = cv2.dilate(region, kernel) & (~a).astype(np.uint8)
    return region.astype(bool)


@dataclass(frozen=True)
class FaceLayer:
    """What compositing needs to know about one face, computed once per face (see :func:`prepare_face_layer`).

    ``forward`` 3x3 photo -> crop; ``mask_crop`` ``S x S`` soft mask; ``weights`` ``H x W`` float32
    deformation weights (1 on the face, fading to 0 about ``falloff`` px outside it); ``colour``
    the transfer from the generator's colours to the photo's (None: no matching); ``center``
    (x, y) and ``width`` of the face in photo pixels.
    """

    forward: np.ndarray
    mask_crop: np.ndarray
    weights: np.ndarray
    colour: ColourTransfer | None
    center: tuple[float, float]
    width: float
    support: DeformationSupport | None = None

    @property
    def size(self) -> int:
        return int(self.mask_crop.shape[0])


def prepare_face_layer(photo: np.ndarray, forward, landmarks68, size: int, reconstruction: np.ndarray | None = None,
                       falloff: float = 0.8, **mask_options) -> FaceLayer:
    """Build a face's :class:`FaceLayer` from the photo, its alignment and its 68 landmarks (photo pixels).

    ``reconstruction``: the generator's rendering of the face's unedited latent (square, any
    size), used to fit the colour transfer against the photo's own aligned crop. ``falloff`` is the
    deformation's reach outside the face in face widths (jaw-to-jaw distance).
    ``mask_options`` go to :func:`editor.masks.face_mask`.
    """
    landmarks = np.asarray(landmarks68, dtype=np.float64)
    forward = np.asarray(forward, dtype=np.float64)
    mask_crop = face_mask(transform_points(forward, landmarks), size, **mask_options)
    width = float(np.linalg.norm(landmarks[16] - landmarks[0]))
    region = warp_mask_to_photo(mask_crop, forward, photo.shape) > 0.5
    weights = falloff_weights(region, falloff * width)
    colour = None
    if reconstruction is not None:
        res = int(reconstruction.shape[0])  # the generator's resolution may differ from the crop's
        own = cv2.warpAffine(photo, rescale_forward(forward, size, res)[:2], (res, res), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        mask_res = mask_crop if res == size else cv2.resize(mask_crop, (res, res), interpolation=cv2.INTER_AREA)
        colour = fit_colour_transfer(reconstruction, own, mask_res)
    center = tuple(float(v) for v in landmarks[list(range(17, 68))].mean(axis=0))
    return FaceLayer(forward=forward, mask_crop=mask_crop, weights=weights, colour=colour,
                     center=center, width=width, support=deformation_support(weights))


def compose_frame(photo: np.ndarray, layers, crops, motions=None, masks=None, outside=None) -> np.ndarray:
    """One video frame: the photo deformed around each moving face, then each face's crop pasted.

    ``layers`` from :func:`prepare_face_layer`; ``crops[k]`` the rendered ``S x S x 3`` crop of
    face k for this frame (None leaves that face as the photo has it); ``motions[k]`` its 3x3
    head motion (photo -> frame, e.g. :func:`editor.trajectory.head_transforms`) or None;
    ``masks[k]`` this frame's ``S x S`` paste mask (None: the layer's still mask); ``outside[k]``
    None or the crop-space ``(weight, unknown)`` masks of uncovered background that the paste
    cannot reach, filled in the frame first (:func:`fill_outside_crop`). Returns an array of the
    photo's dtype; pixels outside every face's weights and crop are the photo's, bit for bit.
    """
    count = len(layers)
    motions = list(motions) if motions is not None else [None] * count
    masks = list(masks) if masks is not None else [None] * count
    outside = list(outside) if outside is not None else [None] * count
    if not count == len(crops) == len(motions) == len(masks) == len(outside):
        raise ValueError(f"{count} layers, {len(crops)} crops, {len(motions)} motions, {len(masks)} masks, "
                         f"{len(outside)} outside masks")
    frame = photo.copy()
    for layer, motion in zip(layers, motions):
        if motion is not None and not np.array_equal(motion, np.eye(3)):
            apply_deformation(frame, layer.weights, motion, support=layer.support, inplace=True)
    for layer, crop, motion, mask, rest in zip(layers, crops, motions, masks, outside):
        if crop is None:
            continue
        forward = layer.forward if motion is None else moved_forward(layer.forward, motion)
        if rest is not None:
            fill_outside_crop(frame, rest, forward)
        paste_face(frame, crop, forward, layer.mask_crop if mask is None else mask, colour=layer.colour, inplace=True)
    return frame


def fill_outside_crop(frame: np.ndarray, outside, forward) -> np.ndarray:
    """Blend, in place, a smooth background fill into the frame under a crop-space weight.

    ``outside`` = ``(weight, unknown)``: ``S x S`` float masks in crop space (``forward`` the frame
    -> crop matrix of that size); the fill (:func:`fill_region`) continues the frame's pixels where
    ``unknown`` and ``weight`` are both below 0.5, and the frame becomes
    ``frame + weight·(fill − frame)``.
    Used for uncovered background where the crop's border taper keeps the paste from covering the
    old face's edge; pixels where the weight is 0 keep their exact values.
    """
    weight_crop, unknown_crop = (np.asarray(m, np.float32) for m in outside)
    roi = crop_roi(forward, weight_crop.shape[0], frame.shape, margin=6)
    x0, y0, x1, y1 = roi
    if x0 >= x1 or y0 >= y1:
        return frame
    weight = np.clip(warp_crop_to_roi(weight_crop, forward, roi), 0.0, 1.0)
    ys, xs = np.nonzero(weight > 0)
    if ys.size == 0:
        return frame
    # Only the box around the weight, with room for the fill's context, is filled.
    room = 8
    bx0, by0 = max(int(xs.min()) - room, 0), max(int(ys.min()) - room, 0)
    bx1, by1 = min(int(xs.max()) + room + 1, x1 - x0), min(int(ys.max()) + room + 1, y1 - y0)
    weight = weight[by0:by1, bx0:bx1]
    x0, y0, x1, y1 = x0 + bx0, y0 + by0, x0 + bx1, y0 + by1
    hole = (warp_crop_to_roi(unknown_crop, forward, (x0, y0, x1, y1)) > 0.5) | (weight > 0.5)
    touched = weight > 0
    if hole.all():
        return frame
    patch = frame[y0:y1, x0:x1]
    values = _as_float(patch)
    filled = _as_float(fill_region(values, hole, smooth_iterations=8))  # thin strips: few steps suffice
    blended = values + weight[:, :, None] * (filled - values)
    patch[touched] = _restore_dtype(blended, frame)[touched]
    return frame


def touched_region(photo_hw, layers) -> np.ndarray:
    """bool ``[H, W]``: every pixel :func:`compose_frame` may change for these faces (small motions)."""
    out = np.zeros(tuple(int(v) for v in photo_hw[:2]), bool)
    for layer in layers:
        out |= layer.weights > 0
        # The moved crop reaches a little past the still one: allow a few pixels of head motion.
        out |= face_support(photo_hw, layer.forward, layer.size, margin=0.1 * layer.width)
    return out
