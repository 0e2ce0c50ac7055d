"""Wrinkle lines where the warp compresses skin: anatomical creases, each shown as far as the skin across it bunches.

Skin that is pushed together folds along lines its anatomy fixes: horizontal lines at the nose root when
the brows come down (its skin follows them, :data:`editor.warp_pipeline.SKIN_CARRY`), the nasolabial fold
when the mouth's corners rise towards the nose, crow's feet when the cheeks push the outer eye corners'
skin together. Each :class:`Crease` is such a line, placed by the face's landmarks once (a soft mask over
the face's spline box, its profile a Gaussian across the line tapering to nothing at both ends), with the
direction across it. In a frame it darkens the skin by :data:`LINE_GAIN` times how much the warp
compresses the skin across it (1 minus the forward field's stretch along that direction, beyond
:data:`LINE_FROM`, averaged along the line), at most :data:`LINE_MAX`: a face that does not compress there
shows none, and nothing is drawn at rest.

Not drawn, as measured (docs/BENCHMARKS.md): vertical lines between brows drawn together and lines across a
raised forehead. The judges read the first as anger on sad faces and the benchmark's sad and surprised faces
were seen as such less often with both (sadness 88 -> 79 %, surprise 88 -> 79 %), though faces128 training
faces gained (fear 83 -> 90 %, sadness 83 -> 90 %).

Coordinates: photo pixels (x right, y down); masks are ``[h, w]`` float32 in [0, 1] over the box
``(x0, y0, x1, y1)`` (x1/y1 exclusive) where the forward field (``p -> p + f(p)``) is given. The masks are
darkening in photo coordinates: the compositor moves them with the skin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: The compression across a line (1 - stretch) from which it shows, the darkening per unit beyond, and at most.
LINE_FROM, LINE_GAIN, LINE_MAX = 0.05, 1.5, 0.2
#: A line's Gaussian half-width, in eye distances (at least :data:`MIN_SIGMA` px, and the photo's own blur).
LINE_SIGMA, MIN_SIGMA = 0.025, 0.8
#: The stretch across a line is read over this span (eye distances) on either side of each of its points.
READ_SPAN = 0.06


@dataclass(frozen=True)
class Crease:
    """One wrinkle line: its ``mask`` over the rows and columns ``rows``, ``cols`` of the box where it is not
    zero (``mask`` is ``[rows, cols]`` of the box's ``[h, w]``), ``points`` ``[m, 2]`` along it (photo px),
    ``across`` the unit direction across it (photo px) and ``span`` (px), how far either side of each point
    the stretch across it is read, for :func:`crease_darkening`."""

    name: str
    mask: np.ndarray
    rows: slice
    cols: slice
    points: np.ndarray
    across: np.ndarray
    span: float

    def over_box(self, shape) -> np.ndarray:
        """The mask as float32 ``shape`` (the box's ``[h, w]``), zero outside its rows and columns."""
        out = np.zeros(shape, np.float32)
        out[self.rows, self.cols] = self.mask
        return out


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(origin = the nose root, landmark 27; unit x from the face's right eye to its left; unit y down the
    face; the eye distance in px)."""
    lm = np.asarray(landmarks, np.float64)
    right, left = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eyes = float(np.linalg.norm(left - right)) or 1.0
    x = (left - right) / eyes
    return lm[27], x, np.array([-x[1], x[0]]), eyes


def nasolabial_lines(landmarks: np.ndarray, top: tuple[float, float], bend: float,
                     low: tuple[float, float]) -> list[np.ndarray]:
    """Both nasolabial folds' polylines ``[3, 2]`` (photo px; the face's right side first): from ``top`` beside
    the nose's wing (landmarks 31 / 35) to ``low`` by the mouth's corner (48 / 54), each (outwards, down) in eye
    distances along the face's axes, through their midpoint pushed ``bend`` eye distances outwards."""
    lm = np.asarray(landmarks, np.float64)
    _, ex, ey, eyes = face_frame(lm)
    lines = []
    for wing, corner, side in ((31, 48, -1.0), (35, 54, 1.0)):
        start = lm[wing] + eyes * (top[0] * side * ex + top[1] * ey)
        end = lm[corner] + eyes * (low[0] * side * ex + low[1] * ey)
        lines.append(np.array([start, 0.5 * (start + end) + eyes * bend * side * ex, end]))
    return lines


def _lines(landmarks: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Each crease's polyline ``[m, 2]`` (photo px), from the landmarks, in the face's own frame."""
    lm = np.asarray(landmarks, np.float64)
    origin, ex, ey, eyes = face_frame(lm)

    def at(u: float, v: float) -> np.ndarray:  # u, v in eye distances along the face's axes from the nose root
        return origin + eyes * (u * ex + v * ey)

    lines = []
    for v in (-0.04, 0.1, 0.24):  # nose root: under brows that come down
        lines.append(("nose root", np.array([at(-0.15, v), at(0.15, v + 0.01)])))
    lines += [("nasolabial", line) for line in nasolabial_lines(lm, (0.06, -0.04), 0.05, (0.1, 0.1))]
    for corner, side in ((36, -1.0), (45, 1.0)):  # crow's feet: fanning from the outer eye corners
        for angle in (-0.45, 0.0, 0.45):
            d = np.cos(angle) * side * ex + np.sin(angle) * ey
            lines.append(("crow's feet", np.array([lm[corner] + eyes * 0.1 * d, lm[corner] + eyes * 0.3 * d])))
    return lines


def line_mask(polyline: np.ndarray, box, sigma: float) -> np.ndarray:
    """float32 ``[h, w]`` over ``box``: a Gaussian profile of half-width ``sigma`` px across the polyline,
    tapering as ``sin(pi t)`` along it (t from 0 to 1 by arc length), so it has no hard ends."""
    x0, y0, x1, y1 = box
    pts = np.asarray(polyline, np.float64)
    seg = np.diff(pts, axis=0)
    lengths = np.linalg.norm(seg, axis=1)
    total = float(lengths.sum())
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    if total <= 0:
        return out
    reach = 3.0 * sigma + 1.0
    lo = np.floor(pts.min(axis=0) - reach).astype(int)
    hi = np.ceil(pts.max(axis=0) + reach).astype(int) + 1
    bx0, by0 = max(int(lo[0]), x0), max(int(lo[1]), y0)
    bx1, by1 = min(int(hi[0]), x1), min(int(hi[1]), y1)
    if bx0 >= bx1 or by0 >= by1:
        return out
    ys, xs = np.mgrid[by0:by1, bx0:bx1].astype(np.float64)
    best = np.full(xs.shape, np.inf)
    along = np.zeros(xs.shape)
    start = 0.0
    for a, d, n in zip(pts[:-1], seg, lengths):
        if n <= 0:
            continue
        t = np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / (n * n), 0.0, 1.0)
        dist = np.hypot(xs - a[0] - t * d[0], ys - a[1] - t * d[1])
        closer = dist < best
        best = np.where(closer, dist, best)
        along = np.where(closer, (start + t * n) / total, along)
        start += n
    profile = np.exp(-0.5 * (best / sigma) ** 2) * np.sqrt(np.sin(np.pi * along))
    out[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0] = profile
    return out


def face_creases(landmarks: np.ndarray, box, blur: float = 0.0) -> list[Crease]:
    """The face's creases over ``box`` (its spline box); ``blur`` the photo's own blur sigma (px), so a
    line is never sharper than the skin it lies on."""
    _, _, _, eyes = face_frame(landmarks)
    sigma = max(LINE_SIGMA * eyes, MIN_SIGMA, float(blur))
    out = []
    for name, polyline in _lines(landmarks):
        mask = line_mask(polyline, box, sigma)
        if not mask.any():
            continue
        d = polyline[-1] - polyline[0]
        across = np.array([-d[1], d[0]]) / (float(np.linalg.norm(d)) or 1.0)
        t = np.linspace(0.2, 0.8, 5)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(polyline, axis=0), axis=1))])
        points = np.stack([np.interp(t * arc[-1], arc, polyline[:, i]) for i in range(2)], axis=1)
        ys, xs = np.nonzero(mask)
        rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
        out.append(Crease(name, mask[rows, cols], rows, cols, points, across, READ_SPAN * eyes))
    return out


def _sample(field: np.ndarray, points: np.ndarray, box) -> np.ndarray:
    """Bilinear ``field`` ``[h, w, 2]`` (over ``box``) at photo points ``[m, 2]`` (clamped to the box)."""
    h, w = field.shape[:2]
    x = np.clip(points[:, 0] - box[0], 0.0, w - 1.001)
    y = np.clip(points[:, 1] - box[1], 0.0, h - 1.001)
    i, j = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = (y - i)[:, None], (x - j)[:, None]
    return ((1 - fy) * (1 - fx) * field[i, j] + (1 - fy) * fx * field[i, j + 1]
            + fy * (1 - fx) * field[i + 1, j] + fy * fx * field[i + 1, j + 1])


def compressions(creases: Sequence[Crease], forward: np.ndarray, box) -> np.ndarray:
    """``[n]``: for each crease, 1 minus the forward map's stretch across it (read ``span`` px either side of
    each of its points), the mean along it. All points are read at once (a frame has a dozen creases)."""
    if not creases:
        return np.zeros(0)
    points = np.concatenate([c.points for c in creases])
    spans = np.concatenate([np.full(len(c.points), c.span) for c in creases])
    steps = np.concatenate([np.repeat(c.span * c.across[None], len(c.points), axis=0) for c in creases])
    ahead = _sample(forward, points + steps, box) + steps
    behind = _sample(forward, points - steps, box) - steps
    squeeze = 1.0 - np.linalg.norm(ahead - behind, axis=1) / (2.0 * spans)
    ends = np.cumsum([len(c.points) for c in creases])[:-1]
    return np.array([part.mean() for part in np.split(squeeze, ends)])


def compression_across(crease: Crease, forward: np.ndarray, box) -> float:
    """1 minus the forward map's stretch across one crease (see :func:`compressions`)."""
    return float(compressions([crease], forward, box)[0])


def crease_darkening(creases: Sequence[Crease], forward: np.ndarray, box) -> np.ndarray:
    """float32 ``[h, w]`` over ``box``: the share each pixel is darkened by its creases in this frame, at
    most :data:`LINE_MAX` (``forward`` the frame's forward expression field ``[h, w, 2]`` over ``box``)."""
    out = np.zeros(forward.shape[:2], np.float32)
    strengths = LINE_GAIN * (compressions(creases, forward, box) - LINE_FROM)
    for crease, strength in zip(creases, strengths):
        if strength > 0:
            out[crease.rows, crease.cols] += np.float32(min(strength, LINE_MAX)) * crease.mask
    return np.minimum(out, LINE_MAX, out=out)
