"""Compositing on the shared real photos, with dlib's 68 landmarks from the shared XML.

The alignment here is a simple FFHQ-style similarity built in the test (eyes and mouth give the
centre, the orientation and the size of the crop); the project's aligner can replace it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from editor.composite import compose_frame, prepare_face_layer, touched_region
from editor.trajectory import face_seeds, head_transforms, plan_face_motion
from editor.video import VideoWriter, probe_video, read_video
from inversion.common.images import read_photo

SIZE = 256


def photo_landmarks(xml_path, name: str) -> list[np.ndarray]:
    root = ET.parse(xml_path).getroot()
    for image in root.iter("image"):
        if image.get("file") == name:
            faces = []
            for box in image.iter("box"):
                parts = sorted(box.iter("part"), key=lambda p: int(p.get("name")))
                faces.append(np.array([[float(p.get("x")), float(p.get("y"))] for p in parts]))
            return sorted(faces, key=lambda f: f[:, 0].mean())
    raise KeyError(name)


def ffhq_like_forward(landmarks: np.ndarray, size: int) -> np.ndarray:
    """3x3 photo -> crop: eyes level, face centred, crop side about four eye distances."""
    eye_l, eye_r = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    mouth = (landmarks[48] + landmarks[54]) / 2
    eyes = (eye_l + eye_r) / 2
    to_mouth = mouth - eyes
    x = (eye_r - eye_l) - np.array([-to_mouth[1], to_mouth[0]])
    x /= np.hypot(*x)
    half = max(np.hypot(*(eye_r - eye_l)) * 2.0, np.hypot(*to_mouth) * 1.8)
    centre = eyes + 0.1 * to_mouth
    scale = (size / 2) / half
    cos, sin = x * scale
    rot = np.array([[cos, sin], [-sin, cos]])
    forward = np.eye(3)
    forward[:2, :2] = rot
    forward[:2, 2] = (size / 2 - 0.5) - rot @ centre
    return forward


@pytest.fixture
def group(shared):
    name = "2008_001322.jpg"
    photo = read_photo(shared("data", "photos", name))
    landmarks = photo_landmarks(shared("data", "photos", "training_with_face_landmarks.xml"), name)
    forwards = [ffhq_like_forward(lm, SIZE) for lm in landmarks]
    crops = [cv2.warpAffine(photo, f[:2], (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
             for f in forwards]
    layers = [prepare_face_layer(photo, f, lm, SIZE, reconstruction=c) for f, lm, c in zip(forwards, landmarks, crops)]
    return photo, landmarks, layers, crops


def far_from_faces(shape, landmarks, widths: float) -> np.ndarray:
    """Pixels farther than ``widths`` face widths from every face's landmark box."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    far = np.ones(shape[:2], bool)
    for lm in landmarks:
        (x0, y0), (x1, y1) = lm.min(0), lm.max(0)
        dx = np.maximum(np.maximum(x0 - xx, xx - x1), 0)
        dy = np.maximum(np.maximum(y0 - yy, yy - y1), 0)
        far &= np.hypot(dx, dy) > widths * np.linalg.norm(lm[16] - lm[0])
    return far


def test_paste_back_of_unedited_faces_on_real_photo(group):
    photo, landmarks, layers, crops = group
    assert len(layers) == 3
    frame = compose_frame(photo, layers, crops)
    err = np.abs(frame.astype(int) - photo.astype(int))
    touched = touched_region(photo.shape, layers)
    assert err[touched].mean() < 2.0 and np.percentile(err[touched], 99) <= 16
    np.testing.assert_array_equal(frame[~touched], photo[~touched])
    # The mask holds the inner face: every eye, nose and mouth landmark is pasted.
    for layer, lm in zip(layers, landmarks):
        from editor.masks import transform_points
        inner = np.round(transform_points(layer.forward, lm[27:68])).astype(int)
        assert layer.mask_crop[inner[:, 1], inner[:, 0]].min() > 0.9


def test_moving_faces_leave_far_pixels_exact_and_video_keeps_them(group, tmp_path):
    photo, landmarks, layers, crops = group
    plans = [plan_face_motion(s, 2.0, 60, 0.7, head_rotation_deg=4.0, head_translation=0.05)
             for s in face_seeds(1, 3)]
    motions = [head_transforms(p.head, layer.center, layer.width) for p, layer in zip(plans, layers)]
    far = far_from_faces(photo.shape, landmarks, 1.5)
    assert far.mean() > 0.15
    frames = []
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=60, preset="ultrafast", crf=16) as writer:
        for i in range(0, 120, 4):
            frame = compose_frame(photo, layers, crops, [m[i] for m in motions])
            np.testing.assert_array_equal(frame[far], photo[far])
            writer.write(frame)
            frames.append(frame)
    assert any(np.abs(f.astype(int) - photo.astype(int)).max() > 20 for f in frames[10:])
    info = probe_video(path)
    assert info.num_frames == 30 and info.fps == 60 and (info.width, info.height) == (500, 376)
    back = read_video(path)[:, :375]
    codec_err = np.abs(back.astype(int) - photo.astype(int)[None])[:, far]
    assert codec_err.mean() < 3.0  # yuv420p + CRF 16 on JPEG texture: measured about 2.2


def test_paste_back_with_the_project_aligner(shared):
    from inversion.faces.alignment import align_face
    from inversion.faces.alignment import paste_face as aligner_paste

    from editor.composite import paste_face

    name = "2008_002079.jpg"
    photo = read_photo(shared("data", "photos", name))
    landmarks = photo_landmarks(shared("data", "photos", "training_with_face_landmarks.xml"), name)
    layers, renders = [], []
    for lm in landmarks:
        aligned = align_face(photo, lm, size=SIZE, variant="ffhq")
        # A generator of lower resolution than the crop: its rendering is a 64 px view of the same crop.
        render = cv2.resize(aligned.image, (64, 64), interpolation=cv2.INTER_AREA)
        layers.append(prepare_face_layer(photo, aligned.forward, lm, SIZE, reconstruction=render))
        renders.append(render)
        # Same geometry as the aligner's own paste, with an equal mask (small faces: both nearly exact).
        ours = paste_face(photo, aligned.image, aligned.forward, layers[-1].mask_crop)
        theirs = aligner_paste(photo, aligned.image, aligned, layers[-1].mask_crop)
        assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 0.1
    frame = compose_frame(photo, layers, renders)
    touched = touched_region(photo.shape, layers)
    np.testing.assert_array_equal(frame[~touched], photo[~touched])
    err = np.abs(frame.astype(int) - photo.astype(int))[touched]
    assert err.mean() < 3.0
    # Each face's centre lands on itself: the eyes of the pasted 64 px render are where the photo's are.
    for layer, lm in zip(layers, landmarks):
        x, y = np.round(lm[36:48].mean(0)).astype(int)
        patch = (slice(y - 2, y + 3), slice(x - 2, x + 3))
        assert np.abs(frame[patch].astype(int) - photo[patch].astype(int)).mean() < 12
