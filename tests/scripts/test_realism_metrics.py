"""scripts/realism_metrics.py: the skin-paint measure's floor, and that it sees paint."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import realism_metrics as rm
from inversion.common.images import read_photo
from inversion.faces.detection import read_imglab_xml

PHOTO = "2008_001322.jpg"


def _photo_and_face(shared):
    photo = read_photo(shared("data", "photos", PHOTO))
    face = read_imglab_xml(shared("data", "photos", "training_with_face_landmarks.xml"))[PHOTO][0]
    return photo, face.box, face.landmarks.astype(np.float64)


def _shifted(photo: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The photo moved by an exact sub-pixel translation (Fourier shift): motion, and no paint."""
    h, w = photo.shape[:2]
    fy, fx = np.fft.fftfreq(h)[:, None, None], np.fft.fftfreq(w)[None, :, None]
    spectrum = np.fft.fft2(photo.astype(np.float64), axes=(0, 1)) * np.exp(-2j * np.pi * (fx * dx + fy * dy))
    return np.clip(np.rint(np.real(np.fft.ifft2(spectrum, axes=(0, 1)))), 0, 255).astype(np.uint8)


def test_a_pure_translation_scores_well_below_the_bilinear_reading(shared):
    """An exact half-pixel move of a 76 px face: no paint, yet the flow's own error leaves a floor
    (2.9 grey levels on this small JPEG face); reading the flow bilinearly adds half as much again."""
    photo, box, landmarks = _photo_and_face(shared)
    assert rm.skin_paint(photo, photo, box, landmarks) == 0.0
    moved = _shifted(photo, 0.5, 0.3)
    for flow in ("dis", "farneback"):
        lanczos = rm.skin_paint(photo, moved, box, landmarks + (0.5, 0.3), flow=flow)
        bilinear = rm.skin_paint(photo, moved, box, landmarks + (0.5, 0.3), cv2.INTER_LINEAR, flow=flow)
        assert lanczos < 0.75 * bilinear, (flow, lanczos, bilinear)


def _pulled(photo: np.ndarray, landmarks: np.ndarray, amount: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo with the mouth region pulled down smoothly by ``amount`` face widths (a jaw drop's kind of
    motion, no paint), and the landmarks moved with it. Backward map: a frame pixel reads the photo at
    (x, y - d(x, y)) with d a Gaussian bump under the mouth."""
    h, w = photo.shape[:2]
    width = float(np.linalg.norm(landmarks[16] - landmarks[0]))
    centre = landmarks[48:68].mean(axis=0) + (0.0, 0.15 * width)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    bump = amount * width * np.exp(-((gx - centre[0]) ** 2 + (gy - centre[1]) ** 2) / (0.25 * width) ** 2)
    moved = cv2.remap(photo, gx.astype(np.float32), (gy - bump).astype(np.float32), cv2.INTER_LANCZOS4,
                      borderMode=cv2.BORDER_REFLECT)
    points = landmarks.copy()
    for _ in range(10):  # forward motion of the points: solve y' = y + d(x, y')
        points[:, 1] = landmarks[:, 1] + amount * width * np.exp(
            -((points[:, 0] - centre[0]) ** 2 + (points[:, 1] - centre[1]) ** 2) / (0.25 * width) ** 2)
    return moved, points


def test_dis_reads_less_paint_than_farneback_where_there_is_none_and_the_same_where_there_is(shared):
    photo, box, landmarks = _photo_and_face(shared)
    moved, points = _pulled(photo, landmarks, 0.12)
    both = (("dis", cv2.INTER_LANCZOS4), ("farneback", cv2.INTER_LANCZOS4))
    dis, farneback = rm.skin_paint_readings(photo, moved, box, points, both)
    assert dis < 0.8 * farneback, (dis, farneback)
    painted = moved.copy()
    cheek = tuple(int(v) for v in (0.5 * (points[31] + points[2])))
    cv2.circle(painted, cheek, max(int(0.08 * (box[2] - box[0])), 2), (40, 40, 40), -1)
    extra = [p - q for p, q in zip(rm.skin_paint_readings(photo, painted, box, points, both), (dis, farneback))]
    assert extra[0] > 2.0 and abs(extra[0] - extra[1]) < 0.3 * extra[1], extra


def test_a_blotch_on_the_cheek_is_paint(shared):
    photo, box, landmarks = _photo_and_face(shared)
    painted = photo.copy()
    cheek = tuple(int(v) for v in (0.5 * (landmarks[31] + landmarks[2])))  # between nose wing and jaw
    radius = max(int(0.08 * (box[2] - box[0])), 2)
    cv2.circle(painted, cheek, radius, (40, 40, 40), -1)
    mask = rm.skin_mask(landmarks, photo.shape)
    assert mask[cheek[1], cheek[0]]
    assert rm.skin_paint(photo, painted, box, landmarks) > 3.0


def test_readings_from_one_flow_are_the_single_readings(shared):
    photo, box, landmarks = _photo_and_face(shared)
    moved = _shifted(photo, 0.5, 0.3)
    both = rm.skin_paint_readings(photo, moved, box, landmarks + (0.5, 0.3),
                                  (("dis", cv2.INTER_LANCZOS4), ("farneback", cv2.INTER_LINEAR)))
    assert both == [rm.skin_paint(photo, moved, box, landmarks + (0.5, 0.3)),
                    rm.skin_paint(photo, moved, box, landmarks + (0.5, 0.3), cv2.INTER_LINEAR, flow="farneback")]


def test_misread_counts_what_the_judges_read_on_the_faces_they_did_not_see_as_the_target():
    rows = [{"judges": False, "read": "surprise"}, {"judges": True, "read": "fear"},
            {"judges": False, "read": "joy"}, {"judges": False, "read": "surprise"},
            {"judges": False, "read": "anger"}, {"judges": False}]  # the last: no face found at the end
    assert rm.misread(rows) == "surprise 2, anger 1, joy 1"
    assert rm.misread([{"judges": True, "read": "fear"}]) == "-"


def test_the_wilson_interval_holds_the_share_and_narrows_with_more_faces():
    low, high = rm.wilson_interval(16, 24)  # fear on the benchmark's 24 faces
    assert 0.466 < low < 0.468 and 0.819 < high < 0.822  # the textbook values 0.467, 0.820
    wide, narrow = rm.wilson_interval(20, 24), rm.wilson_interval(200, 240)
    assert wide[0] < narrow[0] < 20 / 24 < narrow[1] < wide[1]
    assert rm.wilson_interval(24, 24)[1] == 1.0 and rm.wilson_interval(0, 24)[0] == 0.0
    assert rm.wilson_interval(0, 0) == (0.0, 1.0)


def test_the_paired_p_value_is_mcnemars_exact_test():
    assert rm.paired_p(0, 6) == pytest.approx(2 / 64)  # six faces, all one way: 2 x 0.5^6
    assert rm.paired_p(6, 0) == rm.paired_p(0, 6)
    assert rm.paired_p(1, 5) == pytest.approx(2 * 7 / 64)  # (C(6,0) + C(6,1)) / 2^6, both tails
    assert rm.paired_p(3, 3) == 1.0 and rm.paired_p(0, 0) == 1.0
    assert rm.paired_p(2, 10) < 0.05 < rm.paired_p(3, 8)  # 12 faces 2:10 is rare by chance; 11 faces 3:8 is not
