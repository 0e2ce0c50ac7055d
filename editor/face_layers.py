"""What a moving face reveals, built once per face and never stretched: the layers, their masks, and the eyeballs.

The skin is warped (:mod:`editor.keypoint_warp`); what lies *behind* the lids and lips is not.
Each layer is an RGB float32 image (0..255) over a small box of the still photo, tied to the
skull (it moves with the head only) or, for the lower teeth, to the jaw. A frame shows a layer
inside the *moved* opening (the eye's or the inner lips' landmark outline in that frame), under a
subpixel, feathered mask, so the lids and lips slide over it:

* **eyes**: the photo's own eye inside its outline; beyond it (an eye opening wider) the photo's
  own sclera colour, and the iris completed as a circle fitted inside the outline (its centre
  the darkness-weighted centroid, its radius :data:`IRIS_RADIUS` eye widths), so the iris stays
  round whatever the lids do;
* **mouth**: the photo's own interior where its lips were parted; elsewhere a dark cavity, teeth
  and a tongue (:mod:`editor.mouth_interior`, built on this module's masks and palettes).

What is drawn rather than taken from the photo is blurred to the photo's own softness
(:mod:`editor.photo_softness`), so a soft or upscaled face does not get a crisp iris or pasted-looking teeth.

Coordinates: photo pixels, x right, y down, pixel centres at integer coordinates; boxes
``(x0, y0, x1, y1)`` with x1, y1 exclusive. Landmarks follow dlib's 68 points.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from editor.photo_softness import SHARP, soften

RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))
INNER_LIPS = tuple(range(60, 68))
OUTER_LIPS = tuple(range(48, 60))
#: The lids' edges (lid margin and lashes) in eye widths, at least LID_MARGIN_PX: inside dlib's eye outline
#: but part of the lid, so they move with it; the eyeball shows only inside the outline inset by it.
LID_MARGIN, LID_MARGIN_PX = 0.06, 0.75
#: Iris radius in eye widths (corner to corner): an iris is about 11.7 mm across, an eye 28-30 mm.
IRIS_RADIUS = 0.23
#: The white of an eye, relative to the face's brightness.
SCLERA_PALETTE = np.array([225.0, 218.0, 210.0], np.float32)
#: Mask feather (Gaussian sigma) in pixels: enough to hide the pixel grid, not enough to blur an edge.
FEATHER = 0.6
_SUPERSAMPLE_BITS = 4


@functools.lru_cache(maxsize=8)
def _catmull_rom(count: int, samples: int) -> np.ndarray:
    """``[count * samples, count]``: the closed Catmull-Rom curve's points as weights of the control points."""
    t = np.arange(samples) / samples
    basis = 0.5 * np.stack([-t + 2 * t ** 2 - t ** 3, 2 - 5 * t ** 2 + 3 * t ** 3,
                            t + 4 * t ** 2 - 3 * t ** 3, -t ** 2 + t ** 3], axis=1)  # weights of p[i-1 .. i+2]
    out = np.zeros((count * samples, count))
    for i in range(count):
        for j, offset in enumerate((-1, 0, 1, 2)):
            out[i * samples:(i + 1) * samples, (i + offset) % count] += basis[:, j]
    return out


def smooth_outline(points: np.ndarray, samples: int = 6) -> np.ndarray:
    """A closed Catmull-Rom curve through a landmark outline ``[n, 2]``: ``[n * samples, 2]`` points."""
    p = np.asarray(points, np.float64)
    return _catmull_rom(len(p), samples) @ p


def eye_outline(eye: np.ndarray) -> np.ndarray:
    """The smooth outline of an eye's visible eyeball: its 6 landmarks (dlib order: outer or inner corner,
    two upper lid points, the other corner, two lower lid points) inset by the lids' edges
    (:data:`LID_MARGIN`): lid points towards the opposite lid by the margin (at most a third of their gap),
    corners towards each other by it."""
    p = np.array(eye, np.float64)
    margin = max(LID_MARGIN * float(np.linalg.norm(p[3] - p[0])), LID_MARGIN_PX)
    out = p.copy()
    for upper, lower in ((1, 5), (2, 4)):
        gap = p[lower] - p[upper]
        length = float(np.linalg.norm(gap))
        if length > 0:
            step = gap / length * min(margin, length / 3)
            out[upper] += step
            out[lower] -= step
    axis = p[3] - p[0]
    length = float(np.linalg.norm(axis))
    if length > 0:
        step = axis / length * min(margin, length / 6)
        out[0] += step
        out[3] -= step
    return smooth_outline(out)


def polygon_mask(outline: np.ndarray, box, feather: float = FEATHER) -> np.ndarray:
    """float32 ``[h, w]`` over ``box``: an anti-aliased, subpixel fill of a closed outline, feathered.

    Vertices keep :data:`_SUPERSAMPLE_BITS` fractional bits, so a mask moving by a tenth of a pixel
    changes (no crawling along the pixel grid at 60 fps).
    """
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    if len(outline) < 3:
        return mask
    pts = np.round((np.asarray(outline) - [x0, y0]) * (1 << _SUPERSAMPLE_BITS)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1.0, lineType=cv2.LINE_AA, shift=_SUPERSAMPLE_BITS)
    if feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
    return np.clip(mask, 0.0, 1.0)


def box_around(points: np.ndarray, pad_x: float, pad_top: float, pad_bottom: float, shape) -> tuple:
    lo, hi = points.min(axis=0), points.max(axis=0)
    x0 = int(np.floor(max(lo[0] - pad_x, 0)))
    y0 = int(np.floor(max(lo[1] - pad_top, 0)))
    x1 = int(np.ceil(min(hi[0] + pad_x + 1, shape[1])))
    y1 = int(np.ceil(min(hi[1] + pad_bottom + 1, shape[0])))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


@dataclass(frozen=True)
class Layer:
    """An RGB float32 image ``[h, w, 3]`` (0..255) over ``box`` of the still photo, tied to ``anchor``.

    ``anchor`` is "skull" (moves with the head) or "jaw" (moves with the head and the jaw).
    ``iris`` is the fitted (x, y, radius) for eye layers, else None. ``shaded`` float32 ``[h, w]`` in
    [0, 1] is how much of each pixel is synthesised and lies in the opening's shadow: open mouth (not
    teeth, not the photo's own interior), which the compositor darkens with the opening's depth, or
    eyeball beyond the photo's own eye, which it darkens under the lids; None for none.
    """

    image: np.ndarray
    box: tuple[int, int, int, int]
    anchor: str
    iris: tuple[float, float, float] | None = None
    shaded: np.ndarray | None = None


def fit_iris(photo: np.ndarray, eye: np.ndarray) -> tuple[float, float, float]:
    """(x, y, radius) of the iris: darkness-weighted centroid inside the eye outline, radius by eye width."""
    width = float(np.linalg.norm(eye[3] - eye[0]))
    box = box_around(eye, 1, 1, 1, photo.shape)
    x0, y0, x1, y1 = box
    inside = polygon_mask(smooth_outline(eye), box, feather=0) > 0.5
    grey = photo[y0:y1, x0:x1].astype(np.float32).mean(axis=2)
    centre = eye.mean(axis=0)
    if inside.sum() >= 4:
        dark = np.where(inside, np.clip(grey.max() - grey, 0, None) ** 2, 0.0)
        if dark.sum() > 0:
            ys, xs = np.mgrid[y0:y1, x0:x1]
            centre = np.array([(dark * xs).sum(), (dark * ys).sum()]) / dark.sum()
    # The iris cannot sit outside the eye's corners.
    centre[0] = float(np.clip(centre[0], min(eye[0, 0], eye[3, 0]) + 0.2 * width, max(eye[0, 0], eye[3, 0]) - 0.2 * width))
    return float(centre[0]), float(centre[1]), IRIS_RADIUS * width


def eye_layer(photo: np.ndarray, eye: np.ndarray, softness: float = SHARP) -> Layer:
    """The eyeball behind one eye's lids (``eye`` its 6 landmarks, photo pixels); see the module docstring.
    The drawn sclera and iris are blurred to the photo's ``softness`` (:mod:`editor.photo_softness`)."""
    width = float(np.linalg.norm(eye[3] - eye[0]))
    box = box_around(eye, 0.2 * width, 0.45 * width, 0.3 * width, photo.shape)
    x0, y0, x1, y1 = box
    own = photo[y0:y1, x0:x1].astype(np.float32)
    inside = polygon_mask(eye_outline(eye), box, feather=0)
    cx, cy, radius = fit_iris(photo, eye)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dist = np.hypot(xs - cx, ys - cy)
    core = inside > 0.5
    iris_px = own[core & (dist < radius)]
    sclera_px = own[core & (dist > radius * 1.15)]
    level = skin_level(photo, None, box)
    white = palette(SCLERA_PALETTE, is_grey(photo, box)) * level
    iris_colour = np.median(iris_px, axis=0) if len(iris_px) else white * 0.3
    # A small eye's sclera pixels are mixed with lashes and shadow: lean on a plausible white.
    own_white = np.percentile(sclera_px, 90, axis=0) if len(sclera_px) >= 3 else white
    sclera = (0.5 * own_white + 0.5 * white).astype(np.float32)
    # Synthetic eyeball: sclera, shaded towards the top (the lid's shadow) and the corners.
    shade = 1.0 - 0.1 * np.clip((eye[:, 1].mean() - ys) / max(0.3 * width, 1), 0, 1)
    image = sclera[None, None] * shade[..., None]
    iris_alpha = np.clip(radius + 0.5 - dist, 0, 1)[..., None]
    limbus = 0.75 + 0.25 * np.clip((radius - dist) / max(0.25 * radius, 0.5), 0, 1)
    image = image * (1 - iris_alpha) + (iris_colour[None, None] * limbus[..., None]) * iris_alpha
    image = soften(image, softness)
    alpha = cv2.GaussianBlur(inside, (0, 0), 0.7)[..., None] if width > 8 else inside[..., None]
    alpha = np.maximum(alpha, inside[..., None])
    # The lids' shade falls on revealed eyeball only: not within two pixels of the photo's own opening,
    # where a resting or barely moving lid's feathered edge shows the layer.
    near = cv2.dilate((inside > 0.5).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    shaded = 1.0 - np.maximum(cv2.GaussianBlur(near.astype(np.float32), (0, 0), 0.7), near)
    return Layer(own * alpha + image * (1 - alpha), box, "skull", (cx, cy, radius), shaded=shaded.astype(np.float32))


def closed_openings(photo: np.ndarray, landmarks: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """(box, uint8 patch) of the photo with the eyeballs (inside :func:`eye_outline`: the lids' edges stay, to
    move with the lids) and the parted lips filled with their surroundings.

    The skin warp reads this instead of the photo, so that lips and lids sliding over an opening
    show lip and lid, never a stretched or leaking copy of the teeth or eyeball behind them (those
    come from the layers, inside the frame's openings only).
    """
    lm = np.asarray(landmarks, np.float64)
    width = float(np.linalg.norm(lm[16] - lm[0])) or 1.0
    holes = [lm[list(RIGHT_EYE)], lm[list(LEFT_EYE)], lm[list(INNER_LIPS)]]
    box = box_around(np.concatenate(holes), 0.1 * width, 0.1 * width, 0.1 * width, photo.shape)
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for outline in (eye_outline(holes[0]), eye_outline(holes[1]), smooth_outline(holes[2])):
        mask |= (polygon_mask(outline, box, feather=0) > 0.02).astype(np.uint8)
    patch = np.ascontiguousarray(photo[y0:y1, x0:x1])
    if mask.any():
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        patch = cv2.inpaint(patch, mask, max(2.0, 0.03 * width), cv2.INPAINT_TELEA)
    return box, patch


def is_grey(photo: np.ndarray, box) -> bool:
    """Whether ``photo`` is grey over ``box`` (its channels within a level of each other everywhere)."""
    x0, y0, x1, y1 = box
    patch = photo[max(y0, 0):max(y1, y0 + 1), max(x0, 0):max(x1, x0 + 1)].reshape(-1, 3).astype(np.float32)
    return len(patch) == 0 or float(np.abs(patch - patch.mean(axis=1, keepdims=True)).max()) <= 1.0


def palette(colour: np.ndarray, grey: bool) -> np.ndarray:
    """A plausible ``colour`` (RGB) as a photo can show it: its grey (the channels' mean) in a ``grey`` photo
    (:func:`is_grey`), so a grey photo never gains a tint."""
    return np.full(3, float(np.mean(colour)), np.float32) if grey else np.asarray(colour, np.float32)


def skin_level(photo: np.ndarray, lm: np.ndarray | None, box=None) -> float:
    """The face's brightness relative to a mid-tone skin, clipped to [0.45, 1] (dim photos, dim teeth).

    Measured between the cheeks (landmarks 1, 15, 29, 33), or over ``box`` when given.
    """
    if box is None:
        x0, y0 = np.floor(lm[[1, 29]].min(axis=0)).astype(int)
        x1, y1 = np.ceil(lm[[15, 33]].max(axis=0)).astype(int)
    else:
        x0, y0, x1, y1 = box
    patch = photo[max(y0, 0):max(y1, y0 + 1), max(x0, 0):max(x1, x0 + 1)].reshape(-1, 3).astype(np.float32)
    mean = patch.mean(axis=0) if len(patch) else np.full(3, 170.0, np.float32)
    return np.clip(mean.mean() / 170.0, 0.45, 1.0)
