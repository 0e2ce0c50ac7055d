"""Faces in a photo: detection (MTCNN, dlib HOG), 68 landmarks, and FFHQ alignment with its inverse.

:mod:`~inversion.faces.detection` (``detect_faces``, ``find_faces``), :mod:`~inversion.faces.mtcnn`
(the cascade), :mod:`~inversion.faces.landmarks` (dlib's predictor, box conversions) and
:mod:`~inversion.faces.alignment` (``align_face``, ``paste_face``).
"""

from inversion.faces.alignment import AlignedFace, align_face, apply_transform, face_quad, paste_face, unalign
from inversion.faces.detection import Face, FaceDetection, detect_faces, find_faces
from inversion.faces.landmarks import load_shape_predictor, predict_landmarks
from inversion.faces.mtcnn import detect_mtcnn, load_mtcnn

__all__ = [
    "AlignedFace", "Face", "FaceDetection", "align_face", "apply_transform", "detect_faces", "detect_mtcnn",
    "face_quad", "find_faces", "load_mtcnn", "load_shape_predictor", "paste_face", "predict_landmarks",
    "unalign",
]
