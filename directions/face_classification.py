"""The emotion of every face: in a photo (detect → align tightly → classify), in face crops, on a FER2013 CSV.

Conventions: photos and crops uint8 ``H x W x 3`` RGB (crops may be grey ``H x W``); boxes
``[x0, y0, x1, y1]`` photo pixels (x right, y down), the detector's for a photo and ``[0, 0, W, H]``
for a crop; probabilities float ``[7]`` in :data:`directions.emotions.EMOTIONS` order. Photo faces
are aligned with the "tight" (FER2013-like) variant at :data:`CROP_SIZE` pixels, left to right.

Example (the shipped classifier on the example photo's faces)::

    >>> from directions.classifier import EmotionClassifier
    >>> from inversion.common.images import read_photo
    >>> clf = EmotionClassifier.load(None, "cpu", "fast")
    >>> faces = classify_photo(clf, read_photo("docs/examples/astronaut.jpg"))
    >>> len(faces), faces[0].emotion in EMOTIONS, round(float(faces[0].probs.sum()), 3)
    (1, True, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from directions.classifier import targeted_attack
from directions.emotions import EMOTIONS
from directions.fer2013 import read_fer2013
from inversion.common.errors import FaceLatentError
from inversion.faces.detection import detect_faces

#: The side of the tight crops the classifier sees (FER2013's 48 px).
CROP_SIZE = 48
#: A FER2013 CSV's splits (its Usage column).
SPLIT_NAMES = ("Training", "PublicTest", "PrivateTest")


@dataclass
class FaceEmotion:
    """One classified face: its box and its probabilities (see the module docstring)."""

    box: list
    probs: np.ndarray

    @property
    def emotion(self) -> str:
        """The most likely emotion."""
        return EMOTIONS[int(self.probs.argmax())]


def _emotions(boxes, probs: torch.Tensor) -> list[FaceEmotion]:
    values = probs.detach().cpu().numpy().astype(float)
    return [FaceEmotion(box=list(box), probs=p) for box, p in zip(boxes, values)]


def classify_crops(clf, images: Sequence[np.ndarray]) -> list[FaceEmotion]:
    """Each image is one face crop (box ``[0, 0, W, H]``)."""
    with torch.no_grad():
        probs = clf.predict(list(images))
    return _emotions([[0, 0, image.shape[1], image.shape[0]] for image in images], probs)


def classify_photo(clf, photo: np.ndarray) -> list[FaceEmotion]:
    """Detect, align tightly (:data:`CROP_SIZE` px) and classify every face of an RGB photo, left to right."""
    from inversion.faces.alignment import align_face  # noqa: PLC0415 (scipy: ~1 s of `facelatent --help`)

    faces = detect_faces(photo)
    if not faces:
        return []
    crops = [align_face(photo, f.landmarks68, size=CROP_SIZE, variant="tight").image for f in faces]
    with torch.no_grad():
        probs = clf.predict(crops)
    return _emotions([f.box for f in faces], probs)


def evaluate_fer2013(clf, path: Path, split: str, progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Accuracy, per-class accuracy and confusion (rows true, columns predicted) on ``split`` of a FER2013 CSV.

    A CSV without a Usage column is evaluated whole (split ``"all"``). ``progress(done, total)`` is
    called now and then on large sets. Returns ``{"split", "n", "accuracy", "per_class", "confusion"}``.
    """
    if split not in SPLIT_NAMES:
        raise FaceLatentError(f"unknown split '{split}': choose one of {', '.join(SPLIT_NAMES)}")
    data = read_fer2013(path)
    if set(data.usage.tolist()) != {"all"}:
        data = data.split(split)
    else:
        split = "all"
    preds = []
    for i in range(0, len(data), 64):  # small batches: large ones are slower on the CPU
        x = torch.from_numpy(data.images[i:i + 64]).float().unsqueeze(1) / 127.5 - 1.0
        with torch.no_grad():
            preds.append(clf.predict(x).argmax(1).cpu().numpy())
        if progress is not None and len(data) > 2048 and i % 2048 == 0:
            progress(min(i + 64, len(data)), len(data))
    pred = np.concatenate(preds)
    conf = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
    np.add.at(conf, (data.labels, pred), 1)
    per_class = {e: (round(float(conf[k, k] / conf[k].sum()), 4) if conf[k].sum() else None)
                 for k, e in enumerate(EMOTIONS)}
    return {"split": split, "n": len(data), "accuracy": round(float((pred == data.labels).mean()), 4),
            "per_class": per_class, "confusion": conf.tolist()}


def attack_crop(clf, image: np.ndarray, target: str) -> tuple[np.ndarray, dict]:
    """A minimally changed copy of a face crop that ``clf`` labels ``target`` (:func:`targeted_attack`).

    A grey picture (equal channels) stays grey: it is attacked as one channel.
    """
    if target not in EMOTIONS:
        raise FaceLatentError(f"unknown emotion '{target}': choose one of {', '.join(EMOTIONS)}")
    if image.ndim == 3 and (image[..., :1] == image).all():
        image = np.ascontiguousarray(image[..., 0])
    return targeted_attack(clf, image, target)
