"""Align the training faces for the default generator: faces128 + FER2013 → one uint8 array.

Every face is re-aligned with the project's own tight aligner (``inversion.faces.alignment.align_face``,
``variant="tight"``), so the generator is trained on exactly the crop the editor produces:

* the 68 dlib landmarks are predicted with the whole crop as the box (faces128 crops are tight face
  crops; FER2013's 48 px faces are first upscaled x2 with bicubic interpolation);
* when the landmarks look absurd (eye distance outside 15–70 % of the crop side, points far outside
  the crop, eyes below the mouth) the crop itself, resized, is used instead, and counted.

Output (``--out``, default ``/work/runs/facedata/faces64.npz``, written atomically):

* ``images`` uint8 [N, S, S] grey (S = ``--size``, default 64), rows as in the sources;
* ``source`` int8 [N]: 0 = faces128, 1 = FER2013; ``row`` int64 [N]: the row in its source;
* ``labels`` int64 [N]: :data:`directions.emotions.EMOTIONS` index, -1 where unknown (contempt,
  unlabelled);
* ``split`` int8 [N]: 0 = training, 1 = held out (the last 50 faces128 rows of labels.csv, which
  the projector benchmark uses, and FER2013 PublicTest/PrivateTest): never train on split 1;
* ``fallback`` bool [N]: the landmarks failed and the crop was resized instead.

Run: ``python scripts/prepare_face_data.py`` (about 5 ms per face on one core).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from directions.datasets import emotion_index
from directions.fer2013 import read_fer2013
from inversion.faces.alignment import align_face
from inversion.faces.landmarks import predict_landmarks

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FACES128 = SHARED / "data" / "faces128" / "faces128.tar"
FER2013 = SHARED / "data" / "fer2013" / "fer2013.csv.gz"
HELD_OUT_FACES128 = 50


def plausible(points: np.ndarray, side: int) -> bool:
    """Whether 68 landmarks found in a ``side``-pixel crop look like a face filling it."""
    eye_l, eye_r = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    mouth = points[48:68].mean(axis=0)
    eye_dist = float(np.hypot(*(eye_r - eye_l)))
    inside = np.all((points > -0.25 * side) & (points < 1.25 * side))
    upright = mouth[1] > max(eye_l[1], eye_r[1])
    return bool(inside and upright and 0.15 * side < eye_dist < 0.7 * side)


def align_grey(grey: np.ndarray, size: int, upscale: int = 1) -> tuple[np.ndarray, bool]:
    """Tight-align one grey crop ``uint8 [H, W]`` → (``uint8 [size, size]``, used the fallback)."""
    if upscale > 1:
        grey = cv2.resize(grey, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    rgb = np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    h, w = grey.shape
    points = predict_landmarks(rgb, (0, 0, w, h))
    if plausible(points, min(h, w)):
        try:
            return align_face(rgb, points, size, variant="tight").image[:, :, 0], False
        except Exception:  # degenerate landmarks: fall back below
            pass
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA), True


def read_faces128(path: Path):
    """Yield ``(row, grey uint8 [H, W], emotion index or -1)`` in labels.csv order."""
    with tarfile.open(path) as tar:
        members = {m.name.split("/")[-1]: m for m in tar.getmembers() if m.isfile()}
        text = tar.extractfile(members["labels.csv"]).read().decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        for i, row in enumerate(rows):
            data = tar.extractfile(members[row["image"]]).read()
            grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
            label = emotion_index(row["emotion"]) if row["emotion"] else None
            yield i, len(rows), grey, (-1 if label is None else label)


def atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/work/runs/facedata/faces64.npz"))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--fer-limit", type=int, default=None, help="use only the first N FER2013 rows")
    args = parser.parse_args(argv)
    images, source, rows, labels, split, fallback = [], [], [], [], [], []
    start = time.perf_counter()
    for i, total, grey, label in read_faces128(FACES128):
        img, fb = align_grey(grey, args.size)
        images.append(img), source.append(0), rows.append(i), labels.append(label)
        split.append(1 if i >= total - HELD_OUT_FACES128 else 0), fallback.append(fb)
    n128 = len(images)
    print(f"faces128: {n128} faces, {sum(fallback)} fallbacks, {time.perf_counter() - start:.0f} s", flush=True)
    fer = read_fer2013(FER2013)
    count = len(fer) if args.fer_limit is None else min(len(fer), args.fer_limit)
    for i in range(count):
        img, fb = align_grey(fer.images[i], args.size, upscale=2)
        images.append(img), source.append(1), rows.append(i), labels.append(int(fer.labels[i]))
        split.append(0 if fer.usage[i] == "Training" else 1), fallback.append(fb)
        if i % 5000 == 0:
            print(f"fer2013: {i}/{count} ({time.perf_counter() - start:.0f} s)", flush=True)
    fb_fer = sum(fallback[n128:])
    print(f"fer2013: {count} faces, {fb_fer} fallbacks; total {time.perf_counter() - start:.0f} s", flush=True)
    atomic_savez(args.out, images=np.stack(images), source=np.array(source, np.int8), row=np.array(rows, np.int64),
                 labels=np.array(labels, np.int64), split=np.array(split, np.int8),
                 fallback=np.array(fallback, bool))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
