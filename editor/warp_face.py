"""One face's warp, prepared once: its spline pattern fields, head-motion weights, layers and fold bound.

Boxes and coordinates are photo pixels (x right, y down, ``(x0, y0, x1, y1)``, x1/y1 exclusive).
The spline's controls are the 68 landmarks, except that near-coincident ones (a closed mouth's
inner lips, the lip corners) are split apart along the lip line or dropped, so the system stays
well posed; its anchors are a ring around the face (:data:`ANCHOR_RING` face radii) that never
moves. The expression field is windowed to the face's ellipse (1 inside :data:`WINDOW_INNER`, 0
beyond :data:`WINDOW_OUTER` radii); head motion moves the face and fades over :data:`HEAD_FALLOFF`
face widths (neck, hair, shoulders follow).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from editor.creases import Crease, face_creases
from editor.deformation import falloff_weights
from editor.expression_motion import J_MAX, J_MIN, ExpressionPlan, brow_lid_limit, scaled
from editor.face_layers import INNER_LIPS, LEFT_EYE, RIGHT_EYE, closed_openings, eye_layer, polygon_mask, smooth_outline
from editor.keypoint_warp import SplineBasis, area_change, combine_fields, ellipse_window
from editor.masks import face_outline
from editor.mouth_interior import mouth_layers, visible_interior_lips
from editor.photo_softness import softness
from editor.smile_folds import FoldRelief, fold_relief

WINDOW_INNER, WINDOW_OUTER, ANCHOR_RING = 1.05, 1.4, 1.45
#: How far below the chin the face's ellipse reaches, in chin-to-brow distances.
NECK = 0.25
HEAD_FALLOFF = 0.8
ANCHORS = 24
#: The fold bound checks a plan's frames this many seconds apart (and its worst case).
FOLD_CHECK_EVERY = 0.1
#: Landmarks closer than this (face widths) to an earlier control are split or dropped.
MIN_CONTROL_GAP = 0.02


@dataclass(frozen=True)
class FaceEllipse:
    """The face's ellipse: centre (x, y), semi-axes (across, along the face), angle (rad) of its x axis."""

    centre: np.ndarray
    axes: tuple[float, float]
    angle: float

    @classmethod
    def of(cls, landmarks: np.ndarray) -> "FaceEllipse":
        lm = np.asarray(landmarks, np.float64)
        brows = lm[17:27].mean(axis=0)
        up = brows - lm[8]
        chin = lm[8] - NECK * up  # the neck takes up the jaw's motion
        forehead = brows + 0.45 * up
        across = float(np.linalg.norm(lm[16] - lm[0])) / 2.0
        along = float(np.linalg.norm(forehead - chin)) / 2.0
        angle = float(np.arctan2(up[0], -up[1]))
        return cls(0.5 * (forehead + chin), (across, along), angle)

    def points(self, scale: float, count: int) -> np.ndarray:
        t = np.linspace(0, 2 * np.pi, count, endpoint=False)
        c, s = np.cos(self.angle), np.sin(self.angle)
        u, v = scale * self.axes[0] * np.cos(t), scale * self.axes[1] * np.sin(t)
        return np.stack([self.centre[0] + c * u - s * v, self.centre[1] + s * u + c * v], axis=1)

    def box(self, scale: float, shape) -> tuple[int, int, int, int]:
        pts = self.points(scale, 64)
        x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 3
        return max(int(x0), 0), max(int(y0), 0), min(int(x1), shape[1]), min(int(y1), shape[0])


def control_points(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(controls ``[n, 2]``, selection ``[n, 68]``): spline controls and how each reads the landmarks' motion.

    A closed mouth's inner lip pairs (61/67, 62/66, 63/65) are moved apart, each into its own lip
    by a third of the lip's thickness, so the spline can open the mouth; other landmarks closer than
    :data:`MIN_CONTROL_GAP` face widths to an earlier control are dropped (they move with it).
    """
    lm = np.asarray(landmarks, np.float64)
    width = float(np.linalg.norm(lm[16] - lm[0])) or 1.0
    points = lm.copy()
    for upper, lower, outer_up, outer_low in ((61, 67, 50, 58), (62, 66, 51, 57), (63, 65, 52, 56)):
        if np.linalg.norm(lm[upper] - lm[lower]) < 0.05 * width:
            points[upper] = lm[upper] + (lm[outer_up] - lm[upper]) / 3.0
            points[lower] = lm[lower] + (lm[outer_low] - lm[lower]) / 3.0
    keep: list[int] = []
    for i in range(68):
        if all(np.linalg.norm(points[i] - points[j]) >= MIN_CONTROL_GAP * width for j in keep):
            keep.append(i)
    selection = np.zeros((len(keep), 68))
    selection[np.arange(len(keep)), keep] = 1.0
    return points[keep], selection


def openings(points: np.ndarray) -> dict[str, np.ndarray]:
    """The smooth outlines ``[m, 2]`` of both eyes and the inner lips of these 68 points."""
    return {"right_eye": smooth_outline(points[list(RIGHT_EYE)]), "left_eye": smooth_outline(points[list(LEFT_EYE)]),
            "mouth": smooth_outline(points[list(INNER_LIPS)])}


@dataclass
class WarpFace:
    """Everything a frame needs of one face (see the module docstring); built by :func:`prepare_warp_face`."""

    landmarks: np.ndarray
    plan: ExpressionPlan
    basis: SplineBasis
    fields: np.ndarray
    head_box: tuple[int, int, int, int]
    head_weights: np.ndarray
    head: np.ndarray
    layers: dict
    jacobian: tuple[float, float]
    closed: tuple[tuple[int, int, int, int], np.ndarray]
    skin: np.ndarray
    creases: tuple[Crease, ...] = ()
    fold: FoldRelief | None = None
    smile_drop: float = 0.0

    def moving(self, index: int) -> bool:
        return bool(np.any(self.plan.coefficients[index] != 0) or not np.array_equal(self.head[index], np.eye(3)))


def skin_mask(basis: SplineBasis, landmarks: np.ndarray) -> np.ndarray:
    """bool ``[h, w]`` over the spline's box: where the warp moves skin (window > 0, eyes and mouth cut out)."""
    skin = basis.window > 0
    width = float(np.linalg.norm(landmarks[16] - landmarks[0]))
    grow = 2 * int(np.ceil(0.03 * width)) + 1  # the lip and lid margins next to an opening
    for outline in openings(landmarks).values():
        hole = polygon_mask(outline, basis.box, feather=0) > 0
        skin &= ~cv2.dilate(hole.astype(np.uint8), np.ones((grow, grow), np.uint8)).astype(bool)
    return skin


def fold_range(fields: np.ndarray, coefficients: np.ndarray, skin: np.ndarray) -> tuple[float, float]:
    """(min, max) of the area change J over the skin for these coefficients."""
    j = area_change(combine_fields(fields, coefficients))[skin]
    return (float(j.min()), float(j.max())) if j.size else (1.0, 1.0)


def bound_expression(plan: ExpressionPlan, basis: SplineBasis, selection: np.ndarray, landmarks: np.ndarray,
                     skin: np.ndarray, steps: int = 7) -> tuple[ExpressionPlan, np.ndarray, tuple[float, float]]:
    """Scale the plan's expression down until brows and lids keep their gap and J stays in [J_MIN, J_MAX].

    ``selection`` ``[n, 68]`` maps landmark motion to the spline's controls (:func:`control_points`),
    ``skin`` is :func:`skin_mask`. Checked on the plan's own frames (every :data:`FOLD_CHECK_EVERY` s:
    regions may be at different stages of their rise) and at its worst case, every pattern at its
    largest coefficient at once. Returns (bounded plan, its pattern fields, the J range over those checks).
    """
    brows, lids = plan.patterns[0], plan.patterns[1]
    plan = scaled(plan, brow_lid_limit(landmarks, brows, lids))
    step = max(1, int(round(FOLD_CHECK_EVERY * (len(plan.times) - 1) / max(float(plan.times[-1]), 1e-9))))
    checks = np.concatenate([plan.coefficients[::step], np.abs(plan.coefficients).max(axis=0)[None]])
    raw = basis.pattern_fields(np.einsum("nm,kmc->knc", selection, plan.patterns))

    def folds(scale: float) -> tuple[float, float]:
        ranges = [fold_range(raw, np.concatenate([c[:3] * scale, c[3:]]), skin) for c in checks]
        return min(r[0] for r in ranges), max(r[1] for r in ranges)

    ok = lambda r: J_MIN <= r[0] and r[1] <= J_MAX  # noqa: E731
    low, high = 0.0, 1.0
    if not ok(folds(1.0)):
        for _ in range(steps):
            mid = 0.5 * (low + high)
            low, high = (mid, high) if ok(folds(mid)) else (low, mid)
        plan = scaled(plan, low)
        raw[:3] *= low
    return plan, raw, folds(1.0)


def head_weights(photo_shape, landmarks: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """(box, weights ``[h, w]``): 1 on the face (its outline up to the forehead), 0 at HEAD_FALLOFF widths out."""
    lm = np.asarray(landmarks, np.float64)
    width = float(np.linalg.norm(lm[16] - lm[0]))
    outline = face_outline(lm, forehead=0.5)
    reach = HEAD_FALLOFF * width + 2
    x0, y0 = np.floor(outline.min(axis=0) - reach).astype(int)
    x1, y1 = np.ceil(outline.max(axis=0) + reach).astype(int)
    box = (max(int(x0), 0), max(int(y0), 0), min(int(x1), photo_shape[1]), min(int(y1), photo_shape[0]))
    region = polygon_mask(outline, box, feather=0) > 0.5
    return box, falloff_weights(region, HEAD_FALLOFF * width)


def prepare_warp_face(photo: np.ndarray, landmarks: np.ndarray, plan: ExpressionPlan, head: np.ndarray,
                      smile_drop: float = 0.0) -> WarpFace:
    """Fit the face's spline, bound its plan against folds and build its layers (once per face).

    ``head`` ``[T, 3, 3]`` photo -> frame head motion (:func:`editor.trajectory.head_transforms`);
    ``smile_drop`` the share of a full smile the plan's mouth takes away at its apex (0 where it adds one),
    before the fold bound, which cuts it with the rest (:mod:`editor.smile_folds`).
    """
    lm = visible_interior_lips(photo, landmarks)
    ellipse = FaceEllipse.of(lm)
    box = ellipse.box(ANCHOR_RING, photo.shape)
    window = ellipse_window(box, ellipse.centre, ellipse.axes, ellipse.angle, WINDOW_INNER, WINDOW_OUTER)
    controls, selection = control_points(lm)
    basis = SplineBasis.fit(controls, ellipse.points(ANCHOR_RING, ANCHORS), box, window)
    skin = skin_mask(basis, lm)
    bounded, fields, jacobian = bound_expression(plan, basis, selection, lm, skin)
    head_box, weights = head_weights(photo.shape, lm)
    soft = softness(photo, lm)
    cavity, jaw_mouth, upper_teeth = mouth_layers(photo, lm, soft)
    layers = {"right_eye": eye_layer(photo, lm[list(RIGHT_EYE)], soft),
              "left_eye": eye_layer(photo, lm[list(LEFT_EYE)], soft),
              "mouth": cavity, "jaw": jaw_mouth, "teeth": upper_teeth}
    drop = max(float(smile_drop), 0.0) * bounded.scale / plan.scale if plan.scale else 0.0
    return WarpFace(lm, bounded, basis, fields, head_box, weights, np.asarray(head, np.float64), layers, jacobian,
                    closed_openings(photo, lm), skin, tuple(face_creases(lm, box, soft)),
                    fold_relief(photo, lm, box) if drop > 0 else None, drop)
