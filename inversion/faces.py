"""Faces in a photo: MTCNN (or dlib HOG) boxes, five keypoints and dlib's 68 landmarks.

``detect_faces(photo)`` returns :class:`Face` objects ordered left to right (by box centre x).
All coordinates are in the *original* photo's pixels, x right, y down, pixel centres at integers.
Large photos are detected on a reduced copy (longest side <= ``max_side``, area interpolation)
and the coordinates mapped back (``x_photo = (x_small + 0.5) / s - 0.5``); the 68 landmarks are
always predicted on the full-resolution photo. Faces whose box is smaller than ``min_face`` pixels
(the longer side, in the original photo) are not returned but listed as skipped by
:func:`find_faces`.

Boxes: ``Face.box`` is the detector's box ``(x0, y0, x1, y1)``: for MTCNN exactly what the cascade
regresses (facenet-pytorch's convention), for HOG the rectangle's pixel edges. ``Face.landmark_box``
is the (HOG-style) box the 68-point model was run on; see :mod:`inversion.landmarks`. MTCNN faces
whose eyes are tilted more than ``UPRIGHT_ABOVE_DEGREES`` (25) get their landmarks in a window of
the detection image rotated upright (:func:`inversion.landmarks.upright_landmarks`, up to the
~60 degrees MTCNN still finds); their ``landmark_box`` is None.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from inversion import landmarks as lm
from inversion.errors import FaceLatentError
from inversion.mtcnn import DEFAULT_FACTOR, DEFAULT_THRESHOLDS, detect_mtcnn, load_mtcnn

DETECTORS = ("mtcnn", "hog")
DEFAULT_MIN_FACE = 20
DEFAULT_MAX_SIDE = 1280


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
    scale: float = 1.0  # detection image size / photo size


def _check_photo(photo: np.ndarray) -> None:
    if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise FaceLatentError("a photo must be a uint8 RGB array [H, W, 3] (use inversion.images.read_photo)")


def _reduced(photo: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = photo.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return photo, 1.0
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    return small, small.shape[1] / w


def _to_photo(points: np.ndarray, scale: float) -> np.ndarray:
    """Pixel coordinates in the reduced copy -> original photo (pixel-centre convention)."""
    return (np.asarray(points, dtype=np.float64) + 0.5) / scale - 0.5


def _edges_to_photo(edges, scale: float) -> np.ndarray:
    """Box edges in the reduced copy -> original photo (edges scale without the half-pixel shift)."""
    return np.asarray(edges, dtype=np.float64) / scale


def _mtcnn_faces(photo, small, scale, device) -> list[Face]:
    found = detect_mtcnn(load_mtcnn(device), small, 20, DEFAULT_THRESHOLDS, DEFAULT_FACTOR)[0]
    faces = []
    for box, score, points in zip(found.boxes, found.scores, found.keypoints):
        if abs(lm.eye_angle(points)) > lm.UPRIGHT_ABOVE_DEGREES:
            # tilted: landmarks found in an upright window of the detection image
            marks = _to_photo(lm.upright_landmarks(small, box, points), scale)
            edges = None
        else:
            edges = _edges_to_photo(lm.landmark_box(small, box), scale)
            marks = lm.predict_landmarks(photo, edges)
        faces.append(Face(tuple(_edges_to_photo(box, scale)), float(score), _to_photo(points, scale),
                          marks, "mtcnn", None if edges is None else tuple(edges)))
    return faces


def _hog_faces(photo, small, scale, min_face) -> list[Face]:
    smallest = min_face * scale
    upsample = 0 if smallest >= 80 else (1 if smallest >= 40 or max(small.shape) > 800 else 2)
    faces = []
    for edges, score in lm.detect_hog(small, upsample):
        box = _edges_to_photo(edges, scale)
        marks = lm.predict_landmarks(photo, box)
        faces.append(Face(tuple(box), score, lm.keypoints_from_landmarks(marks), marks, "hog", tuple(box)))
    return faces


def find_faces(photo: np.ndarray, detector: str = "mtcnn", min_face: float = DEFAULT_MIN_FACE,
               max_side: int = DEFAULT_MAX_SIDE, device: str = "cpu") -> FaceDetection:
    """Detect faces and their landmarks; see the module docstring for every convention."""
    _check_photo(photo)
    if detector not in DETECTORS:
        raise FaceLatentError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    if min_face < 0:
        raise FaceLatentError(f"--min-face must be >= 0 pixels, not {min_face}")
    small, scale = _reduced(photo, max_side)
    if detector == "mtcnn":
        faces = _mtcnn_faces(photo, small, scale, device)
    else:
        faces = _hog_faces(photo, small, scale, min_face)
    faces.sort(key=lambda f: (f.box[0] + f.box[2]) / 2)
    h, w = photo.shape[:2]
    kept = [f for f in faces if f.size >= min_face]
    skipped = [f for f in faces if f.size < min_face]
    return FaceDetection(w, h, kept, skipped, scale)


def detect_faces(photo: np.ndarray, detector: str = "mtcnn", min_face: float = DEFAULT_MIN_FACE,
                 max_side: int = DEFAULT_MAX_SIDE, device: str = "cpu") -> list[Face]:
    """Faces of at least ``min_face`` pixels, left to right (:func:`find_faces` also lists skipped ones)."""
    return find_faces(photo, detector, min_face, max_side, device).faces


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
