"""Frames of the photo with every face moving: one backward field per frame, one remap, then the layers.

For frame ``i`` and each face ``k`` (prepared by :func:`editor.warp_face.prepare_warp_face`):

* head motion ``A`` (photo -> frame): the backward displacement ``w'(q)·(A⁻¹q − q)`` over the
  face's head box, where ``w'`` is the face's fall-off weight shared with its neighbours
  (``w_k / max(1, Σ_j w_j)``, so one face's motion never drags another);
* expression: the spline field's inverse ``e`` read at the head-corrected point ``r = q + w'(A⁻¹q − q)``.

The frame's backward field is the sum over faces; every box where it is non-zero is resampled
*once* from the photo (bicubic look-ups in a copy of the photo at twice its resolution, made once by a
windowed sinc: :func:`_upsampled`), so the photo's detail is never resampled twice and pixels that do not
move keep their exact values (zero motion gives the photo bit for bit). Then each face's layers
(:mod:`editor.face_layers`, :mod:`editor.mouth_interior`) are shown inside that frame's openings:
eyeballs and the mouth's interior move with the head (and the lower teeth with the jaw), never with the skin.

Frames are uint8 ``H x W x 3`` RGB, the photo's size.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Sequence

import cv2
import numpy as np

from editor.creases import crease_darkening
from editor.deformation import source_points
from editor.face_layers import INNER_LIPS, LEFT_EYE, RIGHT_EYE, Layer, eye_outline, polygon_mask, smooth_outline
from editor.expression_motion import MOUTH
from editor.keypoint_warp import area_change, combine_fields, invert_field
from editor.masks import transform_points
from editor.resampling import RADIUS, upsample
from editor.smile_folds import relaxed_share
from editor.warp_face import WarpFace

#: Creases: darkening per unit of skin compression beyond CREASE_FROM (J below it), and at most this
#: share of the pixel's value: folds where skin bunches up, never a shadow over a whole cheek. Wrinkle
#: lines where the skin across them is compressed (:mod:`editor.creases`) add at most their LINE_MAX.
CREASE_FROM, CREASE_GAIN, CREASE_MAX = 0.85, 0.5, 0.12
#: Inside an open mouth, light falls off over this depth (mouth widths from the lips' edge) to at most
#: this share of darkening in the middle (the cavity's occlusion; teeth near the lips stay lit).
CAVITY_DEPTH, CAVITY_SHADOW = 0.15, 0.4
#: Under the upper lid, the lashes shade the eyeball: synthesised eyeball (what a wider eye reveals) is
#: darkened by up to this share at the opening's edge, fading over this depth (eye widths), so a raised lid
#: keeps a lash line instead of a bright rim. On 48 faces128 training faces (rows 200-247), fear with the
#: eyes opening up to twice their own (measured before the lid edges were inset): the judges saw fear on
#: 83-85 % of faces with 0.3-0.5 over 0.06, 85 % with none, 75 % with 0.5 over 0.15 (a broad shade hides
#: the white that fear shows).
LID_SHADOW, LID_SHADOW_DEPTH = 0.4, 0.06
#: Threads that make a clip's frames (two cores: two threads; one more would only queue).
FRAME_WORKERS = 2


def _intersect(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def shared_weights(faces: Sequence[WarpFace]) -> list[np.ndarray]:
    """Each face's head weights divided by ``max(1, sum of all faces' weights)`` over its box."""
    out = []
    for k, face in enumerate(faces):
        total = face.head_weights.astype(np.float64).copy()
        for j, other in enumerate(faces):
            if j == k:
                continue
            inter = _intersect(face.head_box, other.head_box)
            if inter is None:
                continue
            a, b = _slices(face.head_box, inter), _slices(other.head_box, inter)
            total[a] += other.head_weights[b]
        out.append((face.head_weights / np.maximum(total, 1.0)).astype(np.float32))
    return out


def _slices(box, inner):
    return slice(inner[1] - box[1], inner[3] - box[1]), slice(inner[0] - box[0], inner[2] - box[0])


def _touched(values: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, columns) of the smallest window holding every nonzero of ``values`` ``[h, w, ...]``; None if none.
    The creases and the relaxed folds cover a small part of a head box: only that window is composited."""
    hit = values.reshape(values.shape[0], values.shape[1], -1).any(axis=2)
    rows, cols = np.flatnonzero(hit.any(axis=1)), np.flatnonzero(hit.any(axis=0))
    return (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)) if rows.size else None


class WarpCompositor:
    """Make the frames of a clip from the photo and its prepared faces (see the module docstring)."""

    def __init__(self, photo: np.ndarray, faces: Sequence[WarpFace]):
        self.photo = photo
        self.faces = list(faces)
        self.skin = photo.copy()  # what the skin warp reads: the photo with each face's openings closed
        for face in self.faces:
            (x0, y0, x1, y1), patch = face.closed
            self.skin[y0:y1, x0:x1] = patch
        self.fine = [_upsampled(self.skin, f.head_box, f.landmarks) for f in self.faces]
        self.weights = shared_weights(self.faces)
        self.grids = [np.mgrid[b[1]:b[3], b[0]:b[2]].astype(np.float32)[::-1] for b in (f.head_box for f in self.faces)]
        self.jacobian = [1.0, 1.0]
        self._lock = threading.Lock()  # frames may be made on several threads (:meth:`frames`)

    def _pre_head(self, k: int, head: np.ndarray) -> np.ndarray:
        """``[2, h, w]``: for every frame pixel of face k's head box, the photo point before the expression."""
        return np.stack(source_points(*self.grids[k], self.weights[k], head))

    def _displacement(self, k: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Face k over its head box: (backward displacement ``[h, w, 2]``, pre-head points ``[2, h, w]``,
        crease darkening ``[h, w]`` in [0, CREASE_MAX + creases.LINE_MAX], the grey levels its relaxed
        smile folds take away ``[h, w, 3]`` or None, :mod:`editor.smile_folds`)."""
        face = self.faces[k]
        pre = self._pre_head(k, face.head[index])
        forward = combine_fields(face.fields, face.plan.coefficients[index])
        change = area_change(forward)
        if index % 10 == 0 and face.skin.any():
            j = change[face.skin]
            with self._lock:
                self.jacobian = [min(self.jacobian[0], float(j.min())), max(self.jacobian[1], float(j.max()))]
        # Creases: bounded darkening where the warp compresses skin (J < 1), never inside an opening.
        crease = np.minimum(CREASE_GAIN * np.clip(CREASE_FROM - change, 0.0, None), CREASE_MAX)
        if face.creases:  # and wrinkle lines where the skin across them bunches up
            crease += crease_darkening(face.creases, forward, face.basis.box)
        crease *= face.skin
        back = invert_field(forward)
        x0, y0 = face.basis.box[:2]
        expression = cv2.remap(back, pre[0] - x0, pre[1] - y0, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        source = (pre[0] + expression[..., 0] - x0, pre[1] + expression[..., 1] - y0)
        crease = cv2.remap(crease.astype(np.float32), *source, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        relaxed = None
        share = relaxed_share(face.smile_drop, float(face.plan.coefficients[index, MOUTH]))
        if face.fold is not None and share > 0:
            relaxed = cv2.remap(face.fold.over_box(back.shape[:2], share), *source, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT)
        gx, gy = self.grids[k]
        return np.stack([pre[0] - gx, pre[1] - gy], axis=-1) + expression, pre, crease, relaxed

    def frame(self, index: int) -> np.ndarray:
        """The uint8 frame ``index``."""
        out = self.photo.copy()
        moving = [k for k, f in enumerate(self.faces) if f.moving(index)]
        if not moving:
            return out
        fields = {k: self._displacement(k, index) for k in moving}
        for k in moving:
            box = self.faces[k].head_box
            total = fields[k][0].copy()
            for j in moving:
                inter = None if j == k else _intersect(box, self.faces[j].head_box)
                if inter is not None:
                    total[_slices(box, inter)] += fields[j][0][_slices(self.faces[j].head_box, inter)]
            gx, gy = self.grids[k]
            (ox, oy), fine = self.fine[k]
            warped = cv2.remap(fine, 2 * (gx + total[..., 0] - ox), 2 * (gy + total[..., 1] - oy), cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT)
            x0, y0, x1, y1 = box
            np.copyto(out[y0:y1, x0:x1], warped, where=np.any(total != 0, axis=-1, keepdims=True))
        for k in moving:
            x0, y0 = self.faces[k].head_box[:2]
            relaxed = fields[k][3]
            window = None if relaxed is None else _touched(relaxed)
            if window is not None:
                relaxed = relaxed[window]
                region = out[y0:, x0:][window]
                np.copyto(region, np.clip(np.rint(region - relaxed), 0, 255).astype(np.uint8),
                          where=np.any(relaxed != 0, axis=-1, keepdims=True))
        for k in moving:
            x0, y0 = self.faces[k].head_box[:2]
            window = _touched(fields[k][2])
            if window is not None:
                crease = fields[k][2][window]
                region = out[y0:, x0:][window]
                np.copyto(region, np.rint(region * (1.0 - crease[..., None])).astype(np.uint8),
                          where=crease[..., None] > 0)
        for k in moving:
            self._show_layers(out, k, index, fields[k][1])
        return out

    def frames(self, count: int, workers: int = FRAME_WORKERS, ahead: int = 2) -> Iterator[np.ndarray]:
        """Frames ``0 .. count - 1`` in order, made on ``workers`` threads, at most ``workers + ahead`` at once.

        A frame depends on its index alone, so the frames are the same whatever the threads; numpy and
        OpenCV release the GIL in the work that matters (remaps, field sums), so two threads make a
        clip about 1.5 times as fast on two cores.
        """
        if workers <= 1:
            yield from (self.frame(i) for i in range(count))
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="warp-frame") as pool:
            pending = deque()
            for i in range(count):
                pending.append(pool.submit(self.frame, i))
                if len(pending) > workers + ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def _show_layers(self, out: np.ndarray, k: int, index: int, pre: np.ndarray) -> None:
        """Composite face k's eyeballs and mouth interior inside this frame's openings (in place)."""
        face = self.faces[k]
        moved = face.plan.landmarks(face.landmarks, index)
        points = transform_points(face.head[index], moved)
        jaw_shift = (moved - face.landmarks)[[56, 57, 58]].mean(axis=0)
        hb = face.head_box
        for indices, names, outline_of, shadow_of in _OPENINGS:
            outline = outline_of(points[list(indices)])
            box = _outline_box(outline, hb)
            if box is None:
                continue
            mask = polygon_mask(outline, box)
            if not mask.any():
                continue
            sl = _slices(hb, box)
            px, py = pre[0][sl], pre[1][sl]
            region = out[box[1]:box[3], box[0]:box[2]].astype(np.float32)
            shadow = shadow_of(mask, outline - box[:2])
            for name in names:
                layer = face.layers[name]
                shift = jaw_shift if layer.anchor == "jaw" else np.zeros(2)
                colour, alpha, shaded = _sample(layer, px - shift[0], py - shift[1])
                if shaded is not None:
                    colour = colour * (1.0 - shaded * (1.0 - shadow))
                region = region * (1.0 - mask[..., None] * alpha) + mask[..., None] * colour
            out[box[1]:box[3], box[0]:box[2]] = np.clip(np.rint(region), 0, 255).astype(np.uint8)


def _upsampled(skin: np.ndarray, box, landmarks: np.ndarray) -> tuple[tuple[int, int], np.ndarray]:
    """((x0, y0), patch): the skin around a head box at twice its resolution, interpolated once.

    Patch pixel ``(2(x − x0), 2(y − y0))`` is photo pixel ``(x, y)`` exactly, the ones between come from
    :func:`editor.resampling.upsample` (a windowed sinc that reads the photo beyond the patch where
    there is photo); frames sample it bicubically, so the photo comes back bit for bit at zero motion,
    and a half-pixel diagonal shift keeps 0.90 of the face's Laplacian variance (bicubic from the
    photo itself: 0.61; a Lanczos-4 copy, as before: 0.77). The margin (a fifth of the face's width)
    holds every point a frame's field reads.
    """
    margin = int(np.ceil(0.2 * np.linalg.norm(landmarks[16] - landmarks[0]))) + 4
    x0, y0 = max(box[0] - margin, 0), max(box[1] - margin, 0)
    x1, y1 = min(box[2] + margin, skin.shape[1]), min(box[3] + margin, skin.shape[0])
    r = RADIUS  # photo context for the interpolator's taps beyond the patch, where the photo has it
    cx0, cy0 = max(x0 - r, 0), max(y0 - r, 0)
    cx1, cy1 = min(x1 + r, skin.shape[1]), min(y1 + r, skin.shape[0])
    fine = upsample(skin[cy0:cy1, cx0:cx1], 2)
    return (x0, y0), np.ascontiguousarray(fine[2 * (y0 - cy0):2 * (y1 - cy0) - 1, 2 * (x0 - cx0):2 * (x1 - cx0) - 1])


def _depth(mask: np.ndarray, unit: float, from_edge: float = 0.0) -> np.ndarray | None:
    """float32 ``[h, w]`` in [0, 1]: each pixel's distance into the opening (``mask`` > 0.5; 1 at the
    pixels next to its edge) less ``from_edge``, in units of ``unit`` px, clipped; None for an empty opening."""
    inside = (mask > 0.5).astype(np.uint8)
    if not inside.any():
        return None
    distance = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return np.clip((distance - from_edge) / unit, 0.0, 1.0)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def _cavity_shadow(mask: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """float32 ``[h, w, 1]`` in [1 - CAVITY_SHADOW, 1]: light falling off into an open mouth.

    Depth is the distance from the frame's inner-lip outline (``outline``, any origin: only its width is
    used), in units of :data:`CAVITY_DEPTH` mouth widths: the lips' edges stay lit, the middle of a wide
    opening is darkest, a narrow opening hardly darkens. It follows the opening frame by frame, so it
    deepens as the jaw drops.
    """
    depth = _depth(mask, CAVITY_DEPTH * (float(np.ptp(outline[:, 0])) or 1.0))
    if depth is None:
        return np.ones(mask.shape + (1,), np.float32)
    return (1.0 - CAVITY_SHADOW * _smoothstep(depth))[..., None].astype(np.float32)


def _lid_shadow(mask: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """float32 ``[h, w, 1]`` in [1 - LID_SHADOW, 1]: the upper lid's shade on the eyeball, darkest at the
    opening's edge and gone :data:`LID_SHADOW_DEPTH` eye widths in, from the line between the eye's corners
    up (the lower lid casts none). It follows the lids frame by frame; the compositor applies it to
    synthesised eyeball only, so the photo's own eye keeps its values.

    ``outline``: the eye's smoothed outline (:func:`editor.face_layers.eye_outline`) in the mask's box coordinates.
    """
    width = float(np.ptp(outline[:, 0])) or 1.0
    depth = _depth(mask, LID_SHADOW_DEPTH * width, from_edge=0.5)  # 0.5 at the edge's pixels
    if depth is None:
        return np.ones(mask.shape + (1,), np.float32)
    corners = outline[[int(np.argmin(outline[:, 0])), int(np.argmax(outline[:, 0]))]]
    ys = np.arange(mask.shape[0], dtype=np.float32)[:, None]
    xs = np.arange(mask.shape[1], dtype=np.float32)[None, :]
    t = np.clip((xs - corners[0, 0]) / max(corners[1, 0] - corners[0, 0], 1e-3), 0.0, 1.0)
    middle = corners[0, 1] + t * (corners[1, 1] - corners[0, 1])  # the line between the corners
    upper = np.clip((middle - ys) / (0.05 * width) + 0.5, 0.0, 1.0)
    return (1.0 - LID_SHADOW * upper * (1.0 - _smoothstep(depth)))[..., None].astype(np.float32)


#: Each opening: its landmarks, the layers shown in it (back to front), its outline in a frame and the
#: shade on its synthesised parts (``shadow(mask, outline in the mask's box)``).
_OPENINGS = ((RIGHT_EYE, ("right_eye",), eye_outline, _lid_shadow),
             (LEFT_EYE, ("left_eye",), eye_outline, _lid_shadow),
             (INNER_LIPS, ("mouth", "jaw", "teeth"), smooth_outline, _cavity_shadow))


def _outline_box(outline: np.ndarray, within) -> tuple[int, int, int, int] | None:
    x0, y0 = np.floor(outline.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(outline.max(axis=0)).astype(int) + 3
    box = (max(int(x0), within[0]), max(int(y0), within[1]), min(int(x1), within[2]), min(int(y1), within[3]))
    return box if box[0] < box[2] and box[1] < box[3] else None


def _sample(layer: Layer, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(colour premultiplied by alpha ``[h, w, 3]``, alpha ``[h, w, 1]``, shaded share ``[h, w, 1]`` or None)
    of a layer at photo points.

    Alpha is 0 outside the layer's box; premultiplied, so the box's edge brings no dark fringe.
    """
    x0, y0 = layer.box[:2]
    mx, my = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
    image = layer.image
    if image.shape[2] == 3:
        image = np.concatenate([image, np.ones(image.shape[:2] + (1,), np.float32)], axis=2)
    else:
        image = np.concatenate([image[..., :3] * image[..., 3:], image[..., 3:]], axis=2)
    if layer.shaded is not None:
        image = np.concatenate([image, layer.shaded[..., None]], axis=2)
    sampled = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return sampled[..., :3], sampled[..., 3:4], (sampled[..., 4:5] if layer.shaded is not None else None)
