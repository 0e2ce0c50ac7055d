"""A smooth, keypoint-driven warp of the photo: thin-plate spline fields, their inverse and their area change.

Coordinates are photo pixels, x right, y down, pixel centres at integer coordinates (OpenCV).
A *forward* displacement field ``f`` says where the photo's point ``p`` goes in the frame:
``p -> p + f(p)``. ``cv2.remap`` needs the *backward* one, ``b``, with ``q + b(q)`` the photo point
that frame pixel ``q`` shows; :func:`invert_field` finds it by fixed-point iteration.

A thin-plate spline solved on fixed source points is linear in the displacements given at those
points: ``f(q) = A(q) · d``. :class:`SplineBasis` therefore evaluates ``A`` once per face over a
box of the photo and turns any number of keypoint displacement *patterns* ``[K, n, 2]`` into dense
pattern fields ``[K, h, w, 2]``; a frame's field is then a weighted sum of those (no solve per
frame). Anchors are extra source points that never move (displacement zero), so the face's
surroundings stay where they are; a smooth window fades the field to exactly zero at the box's
edge, so nothing outside the box ever moves.

Fields are float32 ``[h, w, 2]`` (dx, dy) over the box ``(x0, y0, x1, y1)`` (x1, y1 exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Relative Tikhonov term on the spline system (in units of the control points' squared spread):
#: keeps near-coincident points (a closed mouth's inner lips) solvable while moving the keypoints
#: by far less than a pixel from where they are asked to go.
SPLINE_RIDGE = 1e-7


def _kernel(d2: np.ndarray) -> np.ndarray:
    """The thin-plate kernel ``U(r) = r² log r`` from squared distances (``U(0) = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 0.5 * d2 * np.log(d2)
    return np.where(d2 > 0, out, 0.0)


@dataclass(frozen=True)
class SplineBasis:
    """The spline's influence of every control point on every pixel of a box (see the module docstring).

    ``controls`` [n, 2] are the moving keypoints, ``anchors`` [m, 2] the fixed ones, both in photo
    pixels; ``box`` the photo box the fields cover; ``window`` [h, w] float32 in [0, 1], 1 over the
    face and 0 at the box's edge. ``weights`` [(n + m + 3), n] maps keypoint displacements (one
    coordinate at a time) to the spline's coefficients.
    """

    controls: np.ndarray
    anchors: np.ndarray
    box: tuple[int, int, int, int]
    window: np.ndarray
    weights: np.ndarray
    centre: np.ndarray
    scale: float

    @classmethod
    def fit(cls, controls, anchors, box, window: np.ndarray) -> "SplineBasis":
        """Solve the spline system once for these source points (photo pixels)."""
        controls = np.asarray(controls, np.float64).reshape(-1, 2)
        anchors = np.asarray(anchors, np.float64).reshape(-1, 2)
        points = np.concatenate([controls, anchors])
        centre = points.mean(axis=0)
        scale = float(np.sqrt(((points - centre) ** 2).sum(1).mean())) or 1.0
        p = (points - centre) / scale
        n_all = p.shape[0]
        system = np.zeros((n_all + 3, n_all + 3))
        system[:n_all, :n_all] = _kernel(((p[:, None] - p[None]) ** 2).sum(-1))
        system[:n_all, :n_all] += SPLINE_RIDGE * np.eye(n_all)
        affine = np.concatenate([np.ones((n_all, 1)), p], axis=1)
        system[:n_all, n_all:] = affine
        system[n_all:, :n_all] = affine.T
        rhs = np.zeros((n_all + 3, controls.shape[0]))
        rhs[:controls.shape[0], :] = np.eye(controls.shape[0])
        weights = np.linalg.solve(system, rhs)
        x0, y0, x1, y1 = (int(v) for v in box)
        if window.shape != (y1 - y0, x1 - x0):
            raise ValueError(f"window {window.shape} does not match box {box}")
        return cls(controls, anchors, (x0, y0, x1, y1), window.astype(np.float32), weights, centre, scale)

    @property
    def shape(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box
        return y1 - y0, x1 - x0

    def pattern_fields(self, patterns, rows_per_chunk: int = 64) -> np.ndarray:
        """Dense forward fields float32 ``[K, h, w, 2]`` of keypoint displacement patterns ``[K, n, 2]`` (pixels).

        Each field interpolates its pattern exactly at the controls (up to :data:`SPLINE_RIDGE`),
        is zero at the anchors, and is multiplied by the window.
        """
        patterns = np.asarray(patterns, np.float64)
        if patterns.ndim != 3 or patterns.shape[1:] != (self.controls.shape[0], 2):
            raise ValueError(f"patterns must be [K, {self.controls.shape[0]}, 2], got {patterns.shape}")
        k = patterns.shape[0]
        coef = self.weights @ patterns.transpose(1, 0, 2).reshape(self.controls.shape[0], k * 2)
        points = (np.concatenate([self.controls, self.anchors]) - self.centre) / self.scale
        x0, y0, x1, y1 = self.box
        h, w = self.shape
        xs = (np.arange(x0, x1, dtype=np.float64) - self.centre[0]) / self.scale
        out = np.empty((h, w, k * 2), np.float32)
        for r0 in range(0, h, rows_per_chunk):
            r1 = min(r0 + rows_per_chunk, h)
            ys = (np.arange(y0 + r0, y0 + r1, dtype=np.float64) - self.centre[1]) / self.scale
            gy, gx = np.meshgrid(ys, xs, indexing="ij")
            q = np.stack([gx.ravel(), gy.ravel()], axis=1)
            d2 = ((q[:, None, :] - points[None]) ** 2).sum(-1)
            design = np.concatenate([_kernel(d2), np.ones((q.shape[0], 1)), q], axis=1)
            out[r0:r1] = (design @ coef).reshape(r1 - r0, w, k * 2)
        out = out.reshape(h, w, k, 2).transpose(2, 0, 1, 3)
        return np.ascontiguousarray(out * self.window[None, :, :, None])


def combine_fields(fields: np.ndarray, coefficients) -> np.ndarray:
    """``sum_k coefficients[k] · fields[k]``: one frame's forward field ``[h, w, 2]`` from pattern fields ``[K, h, w, 2]``."""
    c = np.asarray(coefficients, np.float32).reshape(-1)
    if c.shape[0] != fields.shape[0]:
        raise ValueError(f"{c.shape[0]} coefficients for {fields.shape[0]} fields")
    return np.tensordot(c, fields, axes=1)


def invert_field(forward: np.ndarray, iterations: int = 3) -> np.ndarray:
    """The backward field ``b`` of a forward field ``f`` on the same box: ``q + b(q) + f(q + b(q)) = q``.

    Fixed-point iteration ``b ← −f(q + b)`` (bilinear look-ups of ``f``), which converges where
    the warp does not fold (area change well inside (0, ∞), as :func:`area_change` checks);
    points whose look-up leaves the box read the nearest edge value (zero, as fields are windowed).
    """
    h, w = forward.shape[:2]
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    back = -forward.copy()
    for _ in range(iterations):
        back = -cv2.remap(forward, gx + back[..., 0], gy + back[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return back


def area_change(forward: np.ndarray) -> np.ndarray:
    """float32 ``[h, w]``: the Jacobian determinant J of ``p -> p + f(p)`` (central differences).

    J = 1 keeps area, J < 1 compresses, J ≤ 0 folds. The bound ``0.5 ≤ J ≤ 2`` is symmetric under
    inversion, so it holds for the backward map exactly where it holds for the forward one.
    """
    fx_dx = np.gradient(forward[..., 0], axis=1)
    fx_dy = np.gradient(forward[..., 0], axis=0)
    fy_dx = np.gradient(forward[..., 1], axis=1)
    fy_dy = np.gradient(forward[..., 1], axis=0)
    return ((1.0 + fx_dx) * (1.0 + fy_dy) - fx_dy * fy_dx).astype(np.float32)


def ellipse_window(box, centre, axes, angle: float, inner: float, outer: float) -> np.ndarray:
    """float32 ``[h, w]`` over ``box``: 1 inside the ellipse scaled by ``inner``, 0 beyond ``outer``.

    The ellipse has ``centre`` (x, y), semi-axes ``axes`` (a, b) in pixels and is rotated by
    ``angle`` radians; between the two scales the window falls as a smoothstep with zero slope
    at both ends, so the warp has no crease where it fades out.
    """
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = xs - centre[0], ys - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * dx + s * dy) / axes[0], (-s * dx + c * dy) / axes[1]
    radius = np.sqrt(u * u + v * v)
    x = np.clip((outer - radius) / max(outer - inner, 1e-6), 0.0, 1.0)
    return (x * x * (3.0 - 2.0 * x)).astype(np.float32)
