"""Background uncovered by a moving face, filled at render time so the old face's edge never shows.

When the generator's face moves inside its crop (a jaw or cheek retracting, the face shifting), the
pixels it covered in the still photo and no longer covers in a frame — the *uncovered* region —
would show the photo's old face contour: through the paste mask's feather (the photo under it
still has the face where it was) and, where the flow is imperfect, in the motion-transferred crop
itself. Per frame, with the frame's backward flow (reference -> frame rendering, see
:func:`editor.motion_transfer.generator_flow`):

* the frame's face region is the still face region carried by the flow; uncovered = still region
  minus the frame's region, grown past the old edge (:func:`editor.composite.uncovered_region`);
* inside the crop the uncovered pixels show the photo's background beyond the old edge (the flow
  reads there: that is what makes them uncovered), without the generator's residual (the 64 px
  generator's edge zone is no background: its residual there made blotches on real photos); where
  the warp stretches that background, the
  generator's own frame rendering takes over (it shows what the generator sees behind the moved
  face), tone-matched to the photo by a low-pass per-pixel offset (photo crop minus reference,
  fitted once per face, carried by the flow), blended in with a feather;
* the paste mask of the frame covers the uncovered region and follows the flow, so the photo's old
  edge under the feather is replaced; what the paste cannot cover (the crop's outer pixels, crop
  pixels outside the photo, the mask's border taper for a pasted rendering) is filled in the frame
  by :func:`editor.composite.fill_region` from the background around the old face
  (:func:`editor.composite.fill_outside_crop`).

Conventions: crops ``S x S x 3`` float32/uint8 on the 0..255 scale, renderings ``R x R x 3``,
flows backward ``[F, F, 2]`` at any resolution (frame pixel q shows the reference at
``q + flow[q]``), masks float32 in [0, 1] (1 = the crop replaces the photo). Nothing here is
random; a frame in which nothing is uncovered keeps the crop and mask it was given, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from editor.composite import uncovered_region
from editor.masks import border_taper, face_outline
from editor.motion_transfer import warp_with_flow

#: How far the uncovered region is grown past the old edge, in flow pixels (the old edge must lie inside it).
GROW = 2
#: The fill's feather: a Gaussian of this sigma in flow pixels, scaled to the crop.
FEATHER = 0.6
#: The tone offset's low-pass: a Gaussian of this fraction of the crop's size.
TONE_SIGMA = 1.0 / 24.0
#: The generator's fill takes over from the warped photo as the flow stretches the photo's background:
#: not at all at an area stretch of 1 + STRETCH[0], fully at 1 + STRETCH[1] (and where the warp reads
#: outside the crop).
STRETCH = (0.25, 1.0)


@dataclass(frozen=True)
class UncoverPlan:
    """What filling a face's uncovered background needs, computed once per face (:func:`plan_uncover`).

    ``region`` float32 ``[F, F]``: the face's still region (its outline filled) at the flow's
    resolution F; ``mask`` float32 ``[F, F]``: the face's paste mask at F (it is moved by the flow);
    ``offset`` float32 ``[S, S, 3]`` (None: no fill inside the crop, the rendering is pasted as it
    is): the photo's tone minus the generator's, low-pass, added (moved by the flow) to the upscaled
    rendering;
    ``taper`` float32 ``[S, S]``: where (1) and how much the paste may cover the photo.
    """

    region: np.ndarray
    mask: np.ndarray
    offset: np.ndarray | None
    taper: np.ndarray

    @property
    def size(self) -> int:
        return int(self.taper.shape[0])


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    image = np.asarray(image, np.float32)
    if image.shape[0] == size:
        return image
    shrink = cv2.INTER_AREA if size < image.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=shrink)


def face_region(landmarks_crop, size: int, forehead: float = 0.5) -> np.ndarray:
    """float32 ``[size, size]``: 1 inside the face's outline (:func:`editor.masks.face_outline`), else 0."""
    hard = np.zeros((size, size), np.uint8)
    outline = face_outline(landmarks_crop, forehead)
    cv2.fillConvexPoly(hard, np.round(outline * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
    return hard.astype(np.float32)


def tone_offset(photo_crop: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """float32 ``[S, S, 3]``: low-pass (photo crop − upscaled reference), the photo's tone minus the generator's.

    Per frame it is carried by the flow with the content it belongs to, so ``rendering↑ +
    warp(offset)`` has, in the uncovered region, the tone of the photo's background beyond the old
    edge (the flow reads there), not the face's.
    """
    size = photo_crop.shape[0]
    diff = np.asarray(photo_crop, np.float32) - _resize(reference, size)
    return cv2.GaussianBlur(diff, (0, 0), TONE_SIGMA * size)


def plan_uncover(landmarks_crop, mask_crop: np.ndarray, flow_size: int, *, photo_crop: np.ndarray | None = None,
                 reference: np.ndarray | None = None, coverable: np.ndarray | None = None,
                 forehead: float = 0.5, feather: float = 0.03) -> UncoverPlan:
    """A face's :class:`UncoverPlan` from its 68 landmarks in crop pixels and its ``S x S`` paste mask.

    ``photo_crop`` (``S x S x 3``) and ``reference`` (``R x R x 3``, the generator's rendering of the
    unedited latent) give the tone offset for filling inside the crop (motion transfer); leave them
    out when the rendering itself is pasted. ``coverable`` ``[S, S]`` in [0, 1]: where the paste may
    fully cover the photo (default: the paste mask's border taper, from ``feather``; a motion-
    transferred crop is the photo's own pixels up to its edge, so it may go further). ``forehead``
    is the paste mask's option (:func:`editor.masks.face_mask`), so the region matches the mask.
    """
    size = int(mask_crop.shape[0])
    region = face_region(landmarks_crop, size, forehead)
    offset = tone_offset(photo_crop, reference) if photo_crop is not None and reference is not None else None
    taper = border_taper(size, max(3.0 * feather * size, 2.0)) if coverable is None else coverable
    return UncoverPlan(region=_resize(region, flow_size), mask=_resize(mask_crop, flow_size), offset=offset,
                       taper=np.asarray(taper, np.float32))


def uncovered_mask(plan: UncoverPlan, flow: np.ndarray) -> np.ndarray | None:
    """Soft ``[S, S]`` mask of the background the face uncovered in this frame (None: nothing uncovered).

    It is 1 over the old edge and feathered outward; ``flow`` is the frame's backward flow.
    """
    moved = warp_with_flow(plan.region, flow)
    hard = uncovered_region(plan.region, moved, grow=GROW)
    if not hard.any():
        return None
    size = plan.size
    scale = size / float(plan.region.shape[0])
    soft = _resize(hard.astype(np.float32), size)
    soft = cv2.GaussianBlur(soft, (0, 0), max(FEATHER * scale, 0.5))
    soft[soft < 1e-3] = 0.0
    return np.clip(soft * 1.5, 0.0, 1.0)  # 1 over the grown region's inner part, where the old edge lies


def moved_paste_mask(plan: UncoverPlan, mask_crop: np.ndarray, flow: np.ndarray,
                     uncovered: np.ndarray | None) -> np.ndarray:
    """The frame's ``[S, S]`` paste mask: the still mask, the mask carried by the flow and the uncovered region.

    Where the face moved outward its new edge is pasted whole; where it moved inward the uncovered
    background replaces the photo's old edge. Within the crop's border taper only.
    """
    still = np.asarray(mask_crop, np.float32)
    change = _resize(warp_with_flow(plan.mask, flow) - plan.mask, plan.size)  # 0 where nothing moved
    out = np.maximum(still, np.clip(still + change, 0.0, 1.0) * plan.taper)
    if uncovered is not None:
        np.maximum(out, uncovered * plan.taper, out=out)
    return out


def stretch_weight(flow: np.ndarray, size: int) -> np.ndarray:
    """float32 ``[size, size]`` in [0, 1]: where the backward warp stretches the photo (or reads outside the crop).

    The warp ``q -> q + flow[q]`` magnifies the photo by ``1 / det(I + ∇flow)``; a stretched
    background is smeared, and from :data:`STRETCH` on the generator's content is the better fill.
    """
    flow = np.asarray(flow, np.float32)
    dxx, dxy = np.gradient(flow[..., 0], axis=(1, 0))
    dyx, dyy = np.gradient(flow[..., 1], axis=(1, 0))
    det = (1.0 + dxx) * (1.0 + dyy) - dxy * dyx
    stretch = 1.0 / np.maximum(det, 1e-3) - 1.0
    weight = np.clip((stretch - STRETCH[0]) / (STRETCH[1] - STRETCH[0]), 0.0, 1.0)
    n = flow.shape[0]
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
    src_x, src_y = xs + flow[..., 0], ys + flow[..., 1]
    weight[(src_x < -0.5) | (src_x > n - 0.5) | (src_y < -0.5) | (src_y > n - 0.5)] = 1.0
    return _resize(weight, size)


def fill_uncovered(crop: np.ndarray, rendering: np.ndarray, plan: UncoverPlan, uncovered: np.ndarray,
                   flow: np.ndarray) -> np.ndarray:
    """The crop with its uncovered pixels taken from the tone-matched rendering where needed; float32 ``S x S x 3``.

    ``crop`` is the frame's motion-transferred crop: in the uncovered region it already shows the
    photo's background beyond the old edge (the region is where the flow reads outside the old
    face), sharp and in the photo's colours, as long as the warp does not stretch it. Where it does
    (:func:`stretch_weight`), the generator's frame ``rendering`` (``R x R x 3``) plus the tone
    offset takes over: ``crop + u·w·(rendering↑ + offset − crop)``.
    """
    crop = np.asarray(crop, np.float32)
    if plan.offset is None:
        return crop
    weight = uncovered * stretch_weight(flow, plan.size)
    if not weight.any():
        return crop
    fill = _resize(rendering, plan.size) + warp_with_flow(plan.offset, flow)
    return np.clip(crop + weight[:, :, None] * (fill - crop), 0.0, 255.0)


def outside_taper(plan: UncoverPlan, uncovered: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """What the frame must fill itself: ``(weight, unknown)`` ``[S, S]`` crop-space masks, or None.

    ``weight`` is the share of the uncovered region that the paste cannot cover (the crop's border
    taper); ``unknown`` marks the pixels the smooth fill may not take values from (the still face
    region and the uncovered region), so it continues the background, not the old face.
    """
    if uncovered is None:
        return None
    weight = uncovered * (1.0 - plan.taper)
    if weight.max() < 0.1:  # a trace of the old edge at a tenth of its contrast is not seen
        return None
    unknown = np.maximum(_resize(plan.region, plan.size), uncovered)
    return weight, unknown
