"""A smile's folds, relaxed as the smile goes: the photo's own nasolabial shading flattened where a face un-smiles.

A smiling face carries its smile in its cheeks as well as its mouth: the cheek bunches up into a bulge
that ends in the nasolabial fold, a dark line from the wing of the nose down past the mouth's corner.
The warp moves the corners in and down when a smiling face is asked for another emotion, but the
photo's cheek shading stays where it was, and the fold that bordered the smile is left as a lump
beside a mouth that no longer smiles. Where a real face un-smiles the fold flattens.

:func:`fold_relief` takes the fold's shading from the photo once per face: along each fold's line
(:func:`fold_lines`) a band of the photo's relief at the fold's scale, the photo smoothed by the grain's
scale (:data:`GRAIN_SIGMA`, so pores and the photo's grain stay) less its large-scale shading
(:data:`SHADING_SIGMA`, a normalised Gaussian over skin only: lips and nostrils do not bleed into it).
Relief deeper than any fold (:data:`STRONG_RELIEF`: a moustache, a beard's edge) is left out with what lies
near it. A frame subtracts a share of the relief, the share of the smile the face has lost by then
(:attr:`editor.warp_face.WarpFace.smile_drop` times the mouth's weight in that frame) up to
:data:`RELAX_MAX`, moved with the skin like the creases. At rest, for a face that smiles more, and for
emotions that deepen the furrow (:data:`FURROW_DEEPENERS`), nothing changes.

Coordinates: photo pixels (x right, y down); the relief is float32 ``[h, w, 3]`` in grey levels over
rows and columns of a box ``(x0, y0, x1, y1)`` (x1/y1 exclusive), the face's spline box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from editor.creases import face_frame, line_mask, nasolabial_lines
from editor.face_layers import polygon_mask

#: Emotions whose action units deepen the nasolabial furrow (AU10 upper lip raiser for disgust, AU11
#: nasolabial deepener for sadness): a face asked for them keeps its folds. On this project's realism
#: benchmark, relaxing them (0.6 of the relief) took sadness from 88 to 75 % of faces (docs/BENCHMARKS.md).
FURROW_DEEPENERS = ("sadness", "disgust")
#: The fold's line, in eye distances along the face's axes (outwards, down): from beside the nose's wing
#: (landmarks 31 / 35), bending outwards, to below and outside the mouth's corner (48 / 54).
FOLD_TOP, FOLD_BEND, FOLD_LOW = (0.08, -0.1), 0.06, (0.12, 0.25)
#: The fold band's Gaussian half-width across its line, in eye distances.
BAND_SIGMA = 0.12
#: The fold's shading is what lies between these scales (eye distances; the grain's at least 0.8 px).
GRAIN_SIGMA, SHADING_SIGMA = 0.015, 0.3
#: At most this share of the fold's relief is taken away (a smile gone entirely).
RELAX_MAX = 0.5
#: Relief deeper than a fold (grey levels of luma, before the band's weight) is facial hair or a shadow:
#: it and what lies within PROTECT_GROW eye distances of it keep their shading. The astronaut's folds
#: reach 60, the group photo's moustache 107.
STRONG_RELIEF, PROTECT_GROW = 70.0, 0.06
#: Lips and nostrils are kept out of the shading estimate, grown by this much (eye distances).
EXCLUDE_GROW = 0.04


@dataclass(frozen=True)
class FoldRelief:
    """The photo's fold shading ``relief`` ``[rows, cols, 3]`` (grey levels, float32) over rows ``rows`` and
    columns ``cols`` of the face's spline box; a frame subtracts ``share * relief``, moved with the skin."""

    relief: np.ndarray
    rows: slice
    cols: slice

    def over_box(self, shape, share: float = 1.0) -> np.ndarray:
        """``share`` times the relief as float32 ``shape + (3,)`` (the box's ``[h, w]``), zero outside its rows
        and columns."""
        out = np.zeros(tuple(shape) + (3,), np.float32)
        out[self.rows, self.cols] = self.relief * np.float32(share)
        return out


def fold_lines(landmarks: np.ndarray) -> list[np.ndarray]:
    """The two smile folds' polylines ``[3, 2]`` (photo px; the face's right side first)."""
    return nasolabial_lines(landmarks, FOLD_TOP, FOLD_BEND, FOLD_LOW)


def _skin_weight(landmarks: np.ndarray, box, eyes: float) -> np.ndarray:
    """float32 ``[h, w]`` over ``box``: 1 on skin, 0 on the lips and the nostrils (grown a little)."""
    lm = np.asarray(landmarks, np.float64)
    grow = 2 * int(np.ceil(EXCLUDE_GROW * eyes)) + 1
    holes = np.maximum(polygon_mask(lm[48:60], box, feather=0), polygon_mask(lm[[31, 32, 33, 34, 35, 30]], box, feather=0))
    holes = cv2.dilate((holes > 0.5).astype(np.uint8), np.ones((grow, grow), np.uint8))
    return 1.0 - holes.astype(np.float32)


def _not_hair(relief: np.ndarray, eyes: float) -> np.ndarray:
    """float32 ``[h, w]`` in [0, 1]: 0 on and around relief deeper than any fold (a moustache, a beard's edge,
    a shadow: luma beyond :data:`STRONG_RELIEF`, whatever the band's weight there), grown by
    :data:`PROTECT_GROW` and feathered, 1 elsewhere."""
    luma = np.abs(relief @ np.array([0.299, 0.587, 0.114], np.float32))
    strong = (luma > STRONG_RELIEF).astype(np.uint8)
    if not strong.any():
        return np.ones(luma.shape, np.float32)
    grow = 2 * int(np.ceil(PROTECT_GROW * eyes)) + 1
    near = cv2.dilate(strong, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))).astype(np.float32)
    return 1.0 - np.clip(cv2.GaussianBlur(near, (0, 0), max(0.5 * PROTECT_GROW * eyes, 0.8)) * 2.0, 0.0, 1.0)


def fold_relief(photo: np.ndarray, landmarks: np.ndarray, box) -> FoldRelief | None:
    """The face's fold relief (see the module docstring) over its spline ``box``; None where no band falls in it.

    ``photo`` uint8 RGB ``[H, W, 3]``, ``landmarks`` the 68 points (photo px).
    """
    _, _, _, eyes = face_frame(landmarks)
    x0, y0, x1, y1 = box
    band = np.zeros((y1 - y0, x1 - x0), np.float32)
    for line in fold_lines(landmarks):
        band = np.maximum(band, line_mask(line, box, max(BAND_SIGMA * eyes, 1.0)))
    ys, xs = np.nonzero(band > 1e-3)
    if ys.size == 0:
        return None
    region = photo[y0:y1, x0:x1].astype(np.float32)
    skin = _skin_weight(landmarks, box, eyes)
    grain = cv2.GaussianBlur(region, (0, 0), max(GRAIN_SIGMA * eyes, 0.8))
    wide = SHADING_SIGMA * eyes
    shading = cv2.GaussianBlur(region * skin[..., None], (0, 0), wide)
    shading /= np.maximum(cv2.GaussianBlur(skin, (0, 0), wide), 1e-3)[..., None]
    relief = grain - shading
    relief *= (band * skin * _not_hair(relief * ((band > 0) & (skin > 0))[..., None], eyes))[..., None]
    rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
    return FoldRelief(np.ascontiguousarray(relief[rows, cols]), rows, cols)


def relaxing_share(weights: dict) -> float:
    """The share of an emotion blend (``{name: weight}``, weights summing to 1) that relaxes the folds."""
    return float(sum(w for name, w in weights.items() if name not in FURROW_DEEPENERS))


def relaxed_share(smile_drop: float, mouth_weight: float) -> float:
    """The share of the fold relief a frame takes away: the smile lost by then (``smile_drop``, the share of
    a full smile the target takes away, times the mouth's weight in the frame), at most :data:`RELAX_MAX`."""
    return float(np.clip(RELAX_MAX * smile_drop * mouth_weight, 0.0, RELAX_MAX))
