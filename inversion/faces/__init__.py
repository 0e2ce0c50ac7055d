"""Faces in a photo: detection (MTCNN, dlib HOG), 68 landmarks, and FFHQ alignment with its inverse.

:mod:`~inversion.faces.detection` (``detect_faces``, ``find_faces``), :mod:`~inversion.faces.mtcnn`
(the cascade), :mod:`~inversion.faces.landmarks` (dlib's predictor, box conversions) and
:mod:`~inversion.faces.alignment` (``align_face``, ``paste_face``).

The names below are imported on first use (PEP 562): detecting faces must not load alignment's scipy
(about 0.5 s of a job's start-up) when nothing is aligned, as in the warp motion model.
"""

from inversion.common.lazy_names import lazy_names

_HOME = {
    "AlignedFace": "alignment", "align_face": "alignment", "apply_transform": "alignment", "face_quad": "alignment",
    "paste_face": "alignment", "unalign": "alignment",
    "Face": "detection", "FaceDetection": "detection", "detect_faces": "detection", "find_faces": "detection",
    "load_shape_predictor": "landmarks", "predict_landmarks": "landmarks",
    "detect_mtcnn": "mtcnn", "load_mtcnn": "mtcnn",
}

__getattr__, __dir__, __all__ = lazy_names(__name__, _HOME)
