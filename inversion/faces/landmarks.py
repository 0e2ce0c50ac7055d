"""dlib's 68-point landmarks and HOG face detector, and the box each face gets for them.

Coordinates: photo pixels, x right, y down, pixel centres at integers. A box given as floats
``(x0, y0, x1, y1)`` means pixel *edges* (``x1 - x0`` is the width); a ``dlib.rectangle`` is
inclusive integer pixels ``(left, top, right, bottom)``, i.e. edges ``(left, top, right+1, bottom+1)``.

Why a box adjustment: dlib's 68-point model was trained on boxes from dlib's own HOG detector (square,
from brow to chin, a little wider than the face), and it is sensitive to that framing. MTCNN boxes
are framed differently (narrower, from forehead to below the chin). Measured on the 17 labelled faces
MTCNN finds in ``../shared/data/photos`` (mean landmark error / outer-eye-corner distance; the
labels are dlib's own landmarks in dlib's HOG boxes):

==========================================================  =========
box given to the 68-point model                              error
==========================================================  =========
the MTCNN box as is                                          14.1 %
``mtcnn_to_hog_box``: linear map fitted on faces128           11.1 %
the map, then one refit from the first landmarks              6.4 %
``refine_with_hog``: HOG re-detection near the MTCNN box      2.8 %
==========================================================  =========

(``python scripts/bench_detect.py``; docs/BENCHMARKS.md.)

So :func:`landmark_box` re-detects each MTCNN face with the HOG detector on a small window around
it (upsampled for small faces) and uses that box; where HOG does not find it (profile, occlusion),
it falls back to the linear map followed by one refit from the landmarks. Faces tilted by more than
``UPRIGHT_ABOVE_DEGREES`` (MTCNN's eye keypoints) are first rotated upright
(:func:`upright_landmarks`): both dlib models fail beyond about 40 degrees of roll. Both maps were fitted on
1,131 faces of ``faces128`` (not on the evaluation photos): MTCNN box vs HOG box, and landmarks
(predicted in the HOG box) vs HOG box.
"""

from __future__ import annotations

import functools
import threading

import cv2
import dlib
import numpy as np

from inversion.assets import resolve_asset
from inversion.common.errors import CheckpointError

#: HOG box edges relative to the MTCNN box centre, in units of the MTCNN box height (l, t, r, b).
MTCNN_TO_HOG = np.array([-0.4135, -0.3675, 0.4189, 0.4649])
#: HOG box edges relative to the landmarks' mean, in units of their RMS spread (l, t, r, b).
LANDMARKS_TO_HOG = np.array([-1.3870, -1.5302, 1.3639, 1.2206])
#: Faces whose eyes are tilted more than this (degrees) are rotated upright for the landmarks.
UPRIGHT_ABOVE_DEGREES = 25.0
#: Faces smaller than this (box side, in pixels) are re-detected with the image upsampled 2x.
HOG_UPSAMPLE_BELOW = 100.0


@functools.lru_cache(maxsize=1)
def load_shape_predictor() -> "dlib.shape_predictor":
    """dlib's 68-point shape predictor (asset ``dlib-landmarks-68``), loaded once."""
    path = resolve_asset("dlib-landmarks-68")
    try:
        return dlib.shape_predictor(str(path))
    except RuntimeError as err:
        raise CheckpointError(f"cannot load dlib landmarks model {path}: {str(err).splitlines()[0]}") from None


@functools.lru_cache(maxsize=1)
def hog_detector() -> "dlib.fhog_object_detector":
    """dlib's frontal-face HOG detector (built into dlib, no weights to fetch)."""
    return dlib.get_frontal_face_detector()


def preload_models() -> threading.Thread:
    """Start loading the landmark predictor and the HOG detector on a thread; join it before using them.

    Loading takes about 1.8 s of dlib's own code (the predictor 1.1 s, the HOG detector 0.7 s), most of
    it holding the GIL, so the MTCNN cascade (0.4 s on a 512 px photo) gains little beside it: a cold
    ``find_faces`` of the astronaut took 1.95-2.05 s this way, 2.10-2.12 s loading first. A failure is left
    for the first real use to raise in the caller's thread (the loaders are cached only when they succeed).
    """
    thread = threading.Thread(target=_load_quietly, name="dlib-models", daemon=True)
    thread.start()
    return thread


def _load_quietly() -> None:
    try:
        load_shape_predictor()
        hog_detector()
    except Exception:  # noqa: BLE001 - raised again, with its own message, where the models are used
        pass


def rect_from_edges(edges) -> "dlib.rectangle":
    """Float edges ``(x0, y0, x1, y1)`` -> the nearest inclusive ``dlib.rectangle``."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in edges)
    return dlib.rectangle(x0, y0, max(x1 - 1, x0), max(y1 - 1, y0))


def edges_from_rect(rect: "dlib.rectangle") -> np.ndarray:
    """Inclusive ``dlib.rectangle`` -> float edges ``[x0, y0, x1, y1]``."""
    return np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], dtype=np.float64)


def predict_landmarks(image: np.ndarray, edges) -> np.ndarray:
    """The 68 landmarks ``[68, 2]`` (float64, photo pixels) dlib's model places in box ``edges``."""
    shape = load_shape_predictor()(image, rect_from_edges(edges))
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def mtcnn_to_hog_box(box) -> np.ndarray:
    """Map an MTCNN box to the HOG-style box the 68-point model expects (edges, float)."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2] * 2)
    return centre + MTCNN_TO_HOG * (y1 - y0)


def box_from_landmarks(points: np.ndarray) -> np.ndarray:
    """The HOG-style box (edges) that 68 landmarks would have been predicted in."""
    mean = points.mean(axis=0)
    spread = float(np.sqrt(((points - mean) ** 2).sum(axis=1).mean()))
    return np.concatenate([mean, mean]) + LANDMARKS_TO_HOG * spread


def box_iou(a, b) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def refine_with_hog(image: np.ndarray, box, margin: float = 1.5, min_iou: float = 0.3):
    """Re-detect the face in ``box`` with the HOG detector on a window ``2 * margin`` sides wide.

    Returns the HOG box (edges, float64) that overlaps ``box`` most (IoU > ``min_iou``), or None.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = image.shape[:2]
    wx0, wy0 = max(0, int(cx - margin * side)), max(0, int(cy - margin * side))
    wx1, wy1 = min(w, int(cx + margin * side)), min(h, int(cy + margin * side))
    if wx1 - wx0 < 8 or wy1 - wy0 < 8:
        return None
    window = np.ascontiguousarray(image[wy0:wy1, wx0:wx1])
    upsample = 1 if side < HOG_UPSAMPLE_BELOW else 0
    best, best_iou = None, min_iou
    for rect in hog_detector()(window, upsample):
        edges = edges_from_rect(rect) + np.array([wx0, wy0, wx0, wy0], dtype=np.float64)
        overlap = box_iou(edges, (x0, y0, x1, y1))
        if overlap > best_iou:
            best, best_iou = edges, overlap
    return best


def landmark_box(image: np.ndarray, mtcnn_box) -> np.ndarray:
    """The box (edges) to give dlib's 68-point model for an MTCNN face (see the module docstring)."""
    refined = refine_with_hog(image, mtcnn_box)
    if refined is not None:
        return refined
    first = predict_landmarks(image, mtcnn_to_hog_box(mtcnn_box))
    return box_from_landmarks(first)


def eye_angle(keypoints5: np.ndarray) -> float:
    """Angle of the left-eye -> right-eye vector, in degrees (0 = level; positive = clockwise on screen)."""
    dx, dy = np.asarray(keypoints5[1], float) - np.asarray(keypoints5[0], float)
    return float(np.degrees(np.arctan2(dy, dx)))


def upright_landmarks(image: np.ndarray, mtcnn_box, keypoints5: np.ndarray) -> np.ndarray:
    """68 landmarks of a tilted face: rotate a window so the eyes are level, find them there, rotate back.

    dlib's HOG detector and 68-point model were trained on roughly upright faces; beyond about 40
    degrees of roll they fail. The window is ``3x`` the box side, centred on the box, sampled
    bilinearly (replicated border); the box keeps its size and centre. Returns ``[68, 2]`` in
    ``image`` pixels.
    """
    x0, y0, x1, y1 = (float(v) for v in mtcnn_box)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    size = int(np.ceil(3 * max(x1 - x0, y1 - y0))) + 1
    theta = np.radians(eye_angle(keypoints5))
    c, s = np.cos(theta), np.sin(theta)
    to_window = np.array([[c, s], [-s, c]])  # rotates by -theta: the eye vector becomes horizontal
    middle = np.full(2, (size - 1) / 2)
    matrix = np.hstack([to_window, (middle - to_window @ centre)[:, None]])
    window = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    half = np.array([x1 - x0, y1 - y0]) / 2
    box = np.concatenate([middle - half, middle + half])
    points = predict_landmarks(window, landmark_box(window, box))
    return (points - middle) @ to_window + centre  # inverse rotation: R^-1 = R^T


def detect_hog(image: np.ndarray, upsample: int) -> list[tuple[np.ndarray, float]]:
    """dlib's HOG detector on the whole image: ``[(edges, score), ...]``, any order."""
    rects, scores, _ = hog_detector().run(image, upsample, 0.0)
    return [(edges_from_rect(r), float(s)) for r, s in zip(rects, scores)]


def keypoints_from_landmarks(points: np.ndarray) -> np.ndarray:
    """MTCNN-style five keypoints ``[5, 2]`` from the 68: eye centres, nose tip, mouth corners."""
    return np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30], points[48], points[54]])
