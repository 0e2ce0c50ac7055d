"""Faces in a photo: MTCNN (or dlib HOG) boxes, five keypoints and dlib's 68 landmarks.

``detect_faces(photo)`` returns :class:`Face` objects ordered left to right (by box centre x).
All coordinates are in the *original* photo's pixels, x right, y down, pixel centres at integers.
Large photos are detected on a reduced copy (longest side <= ``max_side``, area interpolation)
and the coordinates mapped back (``x_photo = (x_small + 0.5) / s - 0.5``); the 68 landmarks are
always predicted on the full-resolution photo. Faces whose box is smaller than ``min_face`` pixels
(the longer side, in the original photo) are not returned but listed as skipped by
:func:`find_faces`.

Small faces in large photos (MTCNN): the reduced copy only finds faces of at least
``MTCNN_MIN_FACE / s`` photo pixels (20 px in the copy: 188 px for a 12000 px photo). When
``min_face`` is smaller, the photo is searched again in overlapping tiles at the scale that makes a
``min_face`` face 20 px (:func:`search_plan`); tiles overlap by 1.5x the smallest face the whole
copy finds, so every face the tiles must find lies whole inside one tile. Tile faces that touch an
inner tile edge, and duplicates of the whole-copy faces (IoU > 0.3), are dropped. The tiles'
detection pixels are bounded by ``search_budget`` (default :data:`DEFAULT_SEARCH_BUDGET`, about
15-25 s of MTCNN on one CPU core); a photo too large to search down to ``min_face`` within it is
searched down to :attr:`FaceDetection.smallest_searched` instead, and ``complete`` is False.

Boxes: ``Face.box`` is the detector's box ``(x0, y0, x1, y1)``: for MTCNN exactly what the cascade
regresses (facenet-pytorch's convention), for HOG the rectangle's pixel edges. ``Face.landmark_box``
is the (HOG-style) box the 68-point model was run on; see :mod:`inversion.faces.landmarks`. MTCNN faces
whose eyes are tilted more than ``UPRIGHT_ABOVE_DEGREES`` (25) get their landmarks in a window of
the detection image rotated upright (:func:`inversion.faces.landmarks.upright_landmarks`, up to the
~60 degrees MTCNN still finds); their ``landmark_box`` is None.

Usage::

    >>> from inversion.common.images import read_photo
    >>> faces = detect_faces(read_photo("docs/examples/astronaut.jpg"))
    >>> len(faces), faces[0].landmarks68.shape
    (1, (68, 2))
    >>> [round(float(v)) for v in faces[0].box]  # x0, y0, x1, y1 in the photo's pixels
    [180, 60, 269, 173]
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from inversion.faces import landmarks as lm
from inversion.common.errors import FaceLatentError
from inversion.faces.mtcnn import DEFAULT_FACTOR, DEFAULT_THRESHOLDS, detect_mtcnn, load_mtcnn

DETECTORS = ("mtcnn", "hog")
DEFAULT_MIN_FACE = 20
DEFAULT_MAX_SIDE = 1280
#: MTCNN's smallest face, in detection-image pixels (its ``minsize``).
MTCNN_MIN_FACE = 20
#: Detection-image pixels the tiles of one photo may cover (the whole reduced copy not counted).
DEFAULT_SEARCH_BUDGET = 10_000_000
#: Tile faces overlapping a whole-copy face by more than this IoU are the same face.
DUPLICATE_IOU = 0.3


@dataclass
class Face:
    """One face; coordinates in original-photo pixels (x right, y down).

    ``box`` (x0, y0, x1, y1) float, ``score`` (MTCNN probability or HOG margin), ``keypoints5``
    [5,2] (left eye, right eye, nose, left mouth corner, right mouth corner, image left/right),
    ``landmarks68`` [68,2] (iBUG 300-W order), ``landmark_box`` (edges the 68-point model used).
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints5: np.ndarray
    landmarks68: np.ndarray
    detector: str = "mtcnn"
    landmark_box: tuple[float, float, float, float] | None = None

    @property
    def size(self) -> float:
        """The longer side of the box, in pixels."""
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    def to_json(self) -> dict:
        """Plain JSON-serialisable form (floats rounded to 0.01 px)."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 6),
            "keypoints5": np.round(self.keypoints5, 2).tolist(),
            "landmarks68": np.round(self.landmarks68, 2).tolist(),
        }


@dataclass
class FaceDetection:
    """What :func:`find_faces` saw: faces kept (left to right) and faces skipped as too small."""

    width: int
    height: int
    faces: list[Face] = field(default_factory=list)
    skipped: list[Face] = field(default_factory=list)
    scale: float = 1.0  # detection image size / photo size (the whole reduced copy)
    smallest_searched: float = 0.0  # photo pixels: every face at least this large was searched for
    complete: bool = True  # False: min_face was below what the search budget allowed (see the module docstring)
    tiles: int = 0  # tiles searched at a finer scale than the whole copy


def _check_photo(photo: np.ndarray) -> None:
    if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise FaceLatentError("a photo must be a uint8 RGB array [H, W, 3] (use inversion.common.images.read_photo)")


def _reduced(photo: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = photo.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return photo, 1.0
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    return small, small.shape[1] / w


def _to_photo(points: np.ndarray, scale: float, offset=(0.0, 0.0)) -> np.ndarray:
    """Pixel coordinates in the reduced copy (or a tile starting at photo pixel ``offset``) -> original
    photo (pixel-centre convention)."""
    return (np.asarray(points, dtype=np.float64) + 0.5) / scale - 0.5 + np.asarray(offset, dtype=np.float64)


def _edges_to_photo(edges, scale: float, offset=(0.0, 0.0)) -> np.ndarray:
    """Box edges in the reduced copy (or a tile) -> original photo (edges scale without the half-pixel shift)."""
    return np.asarray(edges, dtype=np.float64) / scale + np.tile(np.asarray(offset, dtype=np.float64), 2)


def _faces_in(photo, image, found, scale, offset=(0.0, 0.0)) -> list[Face]:
    """Faces (photo pixels, 68 landmarks) from one MTCNN result on ``image`` (the copy or a tile)."""
    faces = []
    for box, score, points in zip(found.boxes, found.scores, found.keypoints):
        if abs(lm.eye_angle(points)) > lm.UPRIGHT_ABOVE_DEGREES:
            # tilted: landmarks found in an upright window of the detection image
            marks = _to_photo(lm.upright_landmarks(image, box, points), scale, offset)
            edges = None
        else:
            edges = _edges_to_photo(lm.landmark_box(image, box), scale, offset)
            marks = lm.predict_landmarks(photo, edges)
        faces.append(Face(tuple(_edges_to_photo(box, scale, offset)), float(score), _to_photo(points, scale, offset),
                          marks, "mtcnn", None if edges is None else tuple(edges)))
    return faces


def _mtcnn_faces(photo, small, scale) -> list[Face]:
    loading = lm.preload_models()  # dlib's models load while the cascade runs
    found = detect_mtcnn(load_mtcnn(), small, MTCNN_MIN_FACE, DEFAULT_THRESHOLDS, DEFAULT_FACTOR)[0]
    loading.join()
    return _faces_in(photo, small, found, scale)


@dataclass(frozen=True)
class SearchPlan:
    """How a photo is searched: ``scale`` of the whole copy, ``tile_scale`` of the tiles (0: no tiles),
    tile ``side`` and ``overlap`` in photo pixels, tile origins ``xs``/``ys``, ``smallest`` face searched
    (photo pixels) and whether that reaches the ``min_face`` asked for (``complete``)."""

    scale: float
    tile_scale: float
    side: int
    overlap: int
    xs: tuple
    ys: tuple
    smallest: float
    complete: bool

    @property
    def tiles(self) -> int:
        return len(self.xs) * len(self.ys)


def _origins(length: int, side: int, overlap: int) -> tuple:
    """Tile origins covering ``[0, length)`` with tiles of ``side`` overlapping by at least ``overlap``."""
    if length <= side:
        return (0,)
    count = int(np.ceil((length - overlap) / (side - overlap)))
    return tuple(int(round(v)) for v in np.linspace(0, length - side, count))


def search_plan(width: int, height: int, min_face: float = DEFAULT_MIN_FACE, max_side: int = DEFAULT_MAX_SIDE,
                budget: float = DEFAULT_SEARCH_BUDGET) -> SearchPlan:
    """The MTCNN search of a ``width`` x ``height`` photo for faces of ``min_face`` photo pixels and up.

    The whole photo is searched at ``scale = min(1, max_side / long side)``; when that misses faces
    of ``min_face`` (smaller than ``20 / scale``), tiles of ``max_side`` detection pixels at the
    scale ``20 / min_face`` (at most 1) search again, their detection pixels bounded by ``budget``.
    """
    scale = min(1.0, max_side / max(width, height))
    whole_min = MTCNN_MIN_FACE / scale
    wanted = max(float(min_face), MTCNN_MIN_FACE)
    if wanted >= whole_min:
        return SearchPlan(scale, 0.0, 0, 0, (), (), whole_min if scale < 1 else MTCNN_MIN_FACE, True)
    tile_scale = min(1.0, MTCNN_MIN_FACE / wanted)
    # tile pixels grow a little over width x height x tile_scale^2 with the overlaps; 1.3 covers them
    affordable = float(np.sqrt(budget / (1.3 * width * height)))
    complete = tile_scale <= affordable
    tile_scale = min(tile_scale, affordable)
    if tile_scale <= scale * 1.25:  # no finer than the whole copy: nothing to gain
        return SearchPlan(scale, 0.0, 0, 0, (), (), whole_min, False)
    side = int(np.ceil(max_side / tile_scale))
    overlap = int(np.ceil(1.5 * whole_min))
    if overlap >= side // 2:
        overlap = side // 2
    xs, ys = _origins(width, side, overlap), _origins(height, side, overlap)
    return SearchPlan(scale, tile_scale, side, overlap, xs, ys, MTCNN_MIN_FACE / tile_scale, complete)


def _touches_inner_edge(box, x0: int, y0: int, side: int, width: int, height: int, margin: float) -> bool:
    bx0, by0, bx1, by1 = box
    return ((x0 > 0 and bx0 < x0 + margin) or (y0 > 0 and by0 < y0 + margin)
            or (x0 + side < width and bx1 > x0 + side - margin) or (y0 + side < height and by1 > y0 + side - margin))


def _tile_faces(photo, plan: SearchPlan, whole: list[Face]) -> list[Face]:
    """MTCNN on every tile of ``plan``: faces (photo pixels) that no inner tile edge cuts and that are not
    ``whole`` faces again (IoU > :data:`DUPLICATE_IOU`; among tiles the higher score wins). Landmarks
    are found only for the faces kept."""
    h, w = photo.shape[:2]
    nets, candidates = load_mtcnn(), []
    for y0 in plan.ys:
        for x0 in plan.xs:
            crop = photo[y0:y0 + plan.side, x0:x0 + plan.side]
            size = (max(1, int(round(crop.shape[1] * plan.tile_scale))),
                    max(1, int(round(crop.shape[0] * plan.tile_scale))))
            tile = cv2.resize(crop, size, interpolation=cv2.INTER_AREA) if size != crop.shape[1::-1] else crop
            scale = tile.shape[1] / crop.shape[1]
            found = detect_mtcnn(nets, tile, MTCNN_MIN_FACE, DEFAULT_THRESHOLDS, DEFAULT_FACTOR)[0]
            for i, box in enumerate(found.boxes):
                edges = _edges_to_photo(box[:4], scale, (x0, y0))
                if not _touches_inner_edge(edges, x0, y0, plan.side, w, h, margin=2.0 / scale):
                    candidates.append((float(found.scores[i]), edges, tile, scale, (x0, y0), found, i))
    kept_boxes, faces = [f.box for f in whole], []
    for score, edges, tile, scale, offset, found, i in sorted(candidates, key=lambda c: -c[0]):
        if all(lm.box_iou(edges, other) <= DUPLICATE_IOU for other in kept_boxes):
            kept_boxes.append(edges)
            one = type(found)(found.boxes[i:i + 1], found.scores[i:i + 1], found.keypoints[i:i + 1])
            faces.extend(_faces_in(photo, tile, one, scale, offset))
    return faces


def _hog_upsample(min_face: float, scale: float, small_shape) -> int:
    """dlib's HOG finds faces of about 80 detection pixels, halved by each upsampling."""
    smallest = min_face * scale
    return 0 if smallest >= 80 else (1 if smallest >= 40 or max(small_shape) > 800 else 2)


def _hog_faces(photo, small, scale, min_face) -> list[Face]:
    upsample = _hog_upsample(min_face, scale, small.shape)
    faces = []
    for edges, score in lm.detect_hog(small, upsample):
        box = _edges_to_photo(edges, scale)
        marks = lm.predict_landmarks(photo, box)
        faces.append(Face(tuple(box), score, lm.keypoints_from_landmarks(marks), marks, "hog", tuple(box)))
    return faces


def find_faces(photo: np.ndarray, detector: str = "mtcnn", min_face: float = DEFAULT_MIN_FACE,
               max_side: int = DEFAULT_MAX_SIDE,
               search_budget: float = DEFAULT_SEARCH_BUDGET) -> FaceDetection:
    """Detect faces and their landmarks; see the module docstring for every convention."""
    _check_photo(photo)
    if detector not in DETECTORS:
        raise FaceLatentError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    if not min_face >= 0:
        raise FaceLatentError(f"--min-face must be >= 0 pixels, not {min_face}")
    h, w = photo.shape[:2]
    small, scale = _reduced(photo, max_side)
    plan = search_plan(w, h, min_face, max_side, search_budget)
    if detector == "mtcnn":
        faces = _mtcnn_faces(photo, small, scale)
        if plan.tiles:
            faces = faces + _tile_faces(photo, plan, faces)
        smallest, complete = plan.smallest, plan.complete
    else:
        faces = _hog_faces(photo, small, scale, min_face)
        smallest = 80 / 2 ** _hog_upsample(min_face, scale, small.shape) / scale
        complete = smallest <= max(min_face, 1)
    faces.sort(key=lambda f: (f.box[0] + f.box[2]) / 2)
    kept = [f for f in faces if f.size >= min_face]
    skipped = [f for f in faces if f.size < min_face]
    return FaceDetection(w, h, kept, skipped, scale, smallest, complete, plan.tiles if detector == "mtcnn" else 0)


def chosen_indices(wanted: Optional[Sequence[int]], count: int) -> list[int]:
    """The face indices to use among ``count`` detections (``None``: all); an index out of range is refused."""
    indices = list(range(count)) if wanted is None else list(wanted)
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise FaceLatentError(f"--faces {bad[0]} is out of range: the photo has {count} face(s), "
                              f"indices 0 to {count - 1}")
    return indices


def search_notice(width: int, height: int, smallest: float, min_face: float) -> str:
    """The line that says a photo was too large to search for faces down to ``min_face`` pixels."""
    return (f"note: the photo ({width}x{height}) is too large to search fully within the detection budget: "
            f"faces under {smallest:.0f} px (down to the {min_face:g} px asked for) may be missed")


def detect_faces(photo: np.ndarray, detector: str = "mtcnn", min_face: float = DEFAULT_MIN_FACE,
                 max_side: int = DEFAULT_MAX_SIDE) -> list[Face]:
    """Faces of at least ``min_face`` pixels, left to right (:func:`find_faces` also lists skipped ones)."""
    return find_faces(photo, detector, min_face, max_side).faces


# --- evaluation against labelled landmarks (dlib's imglab XML) -----------------------------------


@dataclass
class LabelledFace:
    """A labelled face: ``box`` edges (x0, y0, x1, y1) and its 68 ``landmarks``."""

    box: np.ndarray
    landmarks: np.ndarray


def read_imglab_xml(path: str | Path) -> dict[str, list[LabelledFace]]:
    """dlib imglab XML (``<image file><box top left width height><part name x y/>``) -> faces per file."""
    root = ET.parse(path).getroot()
    out: dict[str, list[LabelledFace]] = {}
    for image in root.iter("image"):
        faces = []
        for box in image.iter("box"):
            t, l, w, h = (float(box.get(k)) for k in ("top", "left", "width", "height"))
            parts = sorted(box.iter("part"), key=lambda p: int(p.get("name")))
            points = np.array([[float(p.get("x")), float(p.get("y"))] for p in parts])
            faces.append(LabelledFace(np.array([l, t, l + w, t + h]), points))
        out[image.get("file")] = faces
    return out


def match_to_labels(faces: list[Face], labels: list[LabelledFace]) -> tuple[list[tuple[int, int]], int]:
    """Greedy one-to-one matching by box centre (within half the labelled box side).

    Returns the ``(face index, label index)`` pairs and the number of faces matching no label
    (false detections).
    """
    pairs, used = [], set()
    for i, face in enumerate(faces):
        centre = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
        best, best_d = None, None
        for j, label in enumerate(labels):
            if j in used:
                continue
            lc = (label.box[:2] + label.box[2:]) / 2
            d = float(np.linalg.norm(centre - lc))
            if d < (label.box[2] - label.box[0]) / 2 and (best_d is None or d < best_d):
                best, best_d = j, d
        if best is not None:
            used.add(best)
            pairs.append((i, best))
    return pairs, len(faces) - len(pairs)


def landmark_error(predicted: np.ndarray, labelled: np.ndarray) -> float:
    """Mean point distance as a share of the outer-eye-corner distance (points 36 and 45)."""
    inter_ocular = float(np.linalg.norm(labelled[36] - labelled[45]))
    return float(np.linalg.norm(predicted - labelled, axis=1).mean() / inter_ocular)
