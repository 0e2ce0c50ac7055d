"""Detection and landmark benchmark: accuracy on the labelled photos, and time on a 1000-px photo.

    python scripts/bench_detect.py [--shared ../shared] [--repeats 5] [--threads 1]

Accuracy: the four PASCAL VOC group photos in ``../shared/data/photos`` with the 18 faces and
68 landmarks of ``training_with_face_landmarks.xml`` (dlib's model in dlib's HOG boxes). A face is
found when a detection's box centre lies within half the labelled box side of the label's centre;
a detection matching no label is a false detection. Landmark error: mean point distance over the
outer-eye-corner distance (points 36 and 45), averaged over the found faces.

It also measures which box to give dlib's 68-point model for an MTCNN face (the ablation quoted
in ``inversion/faces/landmarks.py``) and times ``find_faces`` on 2008_001322.jpg resized to 1000x750.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from inversion.faces import landmarks as lm
from inversion.faces.detection import find_faces, landmark_error, match_to_labels, read_imglab_xml
from inversion.common.images import read_photo
from inversion.faces.mtcnn import detect_mtcnn, load_mtcnn

PHOTOS = ("2007_007763.jpg", "2008_001009.jpg", "2008_001322.jpg", "2008_002079.jpg")


def accuracy(photos: dict, labels: dict, detector: str) -> dict:
    found = false = total = 0
    errors = []
    for name in PHOTOS:
        result = find_faces(photos[name], detector=detector)
        pairs, extra = match_to_labels(result.faces + result.skipped, labels[name])
        found, false, total = found + len(pairs), false + extra, total + len(labels[name])
        errors += [landmark_error(result.faces[i].landmarks68, labels[name][j].landmarks) for i, j in pairs]
    return {"found": found, "total": total, "false": false, "error": float(np.mean(errors)),
            "worst": float(np.max(errors))}


def box_ablation(photos: dict, labels: dict) -> dict:
    """Mean landmark error for each way of turning an MTCNN box into the 68-point model's box."""
    nets = load_mtcnn()
    ways = {
        "MTCNN box as is": lambda img, box: box,
        "linear map (faces128 fit)": lambda img, box: lm.mtcnn_to_hog_box(box),
        "linear map + one refit": lambda img, box: lm.box_from_landmarks(
            lm.predict_landmarks(img, lm.mtcnn_to_hog_box(box))),
        "HOG re-detection (used), fallback map + refit": lm.landmark_box,
    }
    errors = {name: [] for name in ways}
    for photo_name in PHOTOS:
        image = photos[photo_name]
        found = detect_mtcnn(nets, image)[0]
        centres = (found.boxes[:, :2] + found.boxes[:, 2:]) / 2
        for label in labels[photo_name]:
            distance = np.linalg.norm(centres - (label.box[:2] + label.box[2:]) / 2, axis=1)
            if len(distance) == 0 or distance.min() > (label.box[2] - label.box[0]) / 2:
                continue
            box = found.boxes[distance.argmin()]
            for name, way in ways.items():
                points = lm.predict_landmarks(image, way(image, box))
                errors[name].append(landmark_error(points, label.landmarks))
    return {name: (float(np.mean(v)), len(v)) for name, v in errors.items()}


def timing(photo: np.ndarray, repeats: int) -> dict:
    big = cv2.resize(photo, (1000, 750), interpolation=cv2.INTER_CUBIC)
    out = {}
    for detector in ("mtcnn", "hog"):
        find_faces(big, detector=detector)  # warm-up: weights loaded, caches filled
        walls, cpus = [], []
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            result = find_faces(big, detector=detector)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        out[detector] = (statistics.median(walls), statistics.median(cpus), len(result.faces))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = args.shared / "data" / "photos"
    labels = read_imglab_xml(folder / "training_with_face_landmarks.xml")
    photos = {name: read_photo(folder / name) for name in PHOTOS}
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}")
    for detector in ("mtcnn", "hog"):
        r = accuracy(photos, labels, detector)
        print(f"{detector:5s}: found {r['found']}/{r['total']}, false {r['false']}, "
              f"landmark error mean {100 * r['error']:.2f} % (worst face {100 * r['worst']:.1f} %)")
    print("box given to dlib's 68-point model for MTCNN faces (mean error, faces):")
    for name, (error, count) in box_ablation(photos, labels).items():
        print(f"  {name:48s} {100 * error:6.2f} %  ({count})")
    # CPU time is what the process itself used: on a machine shared with other jobs the wall
    # time also counts waiting for a core; with one thread, CPU time ~ wall time on an idle machine.
    for detector, (wall, cpu, faces) in timing(photos["2008_001322.jpg"], args.repeats).items():
        print(f"time, 1000x750 photo, {detector}: median wall {wall:.3f} s, median CPU {cpu:.3f} s "
              f"({faces} faces, detection + 68 landmarks)")


if __name__ == "__main__":
    main()
