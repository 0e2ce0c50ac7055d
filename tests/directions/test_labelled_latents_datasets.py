"""Labelled image datasets: FER2013 CSV, image,emotion CSV, folder per emotion, tar with labels.csv."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from directions.datasets import balanced_subset, emotion_index, read_labelled_images
from directions.emotions import EMOTIONS
from inversion.common.errors import FaceLatentError, ImageReadError


def png_bytes(value: int, size: int = 12) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_aliases():
    assert EMOTIONS[emotion_index("Happiness")] == "joy"
    assert EMOTIONS[emotion_index(" sad ")] == "sadness"
    assert emotion_index("contempt") is None


def test_fer2013_csv(tmp_path):
    rows = ["emotion,pixels,Usage"]
    for label, usage in [(3, "Training"), (6, "Training"), (0, "PublicTest")]:
        rows.append(f"{label}," + " ".join(str(label * 10) for _ in range(48 * 48)) + f",{usage}")
    path = tmp_path / "fer.csv"
    path.write_text("\n".join(rows) + "\n")
    data = read_labelled_images(path)
    assert [EMOTIONS[i] for i in data.labels] == ["joy", "neutral", "anger"]
    assert data[0].shape == (48, 48, 3) and data[0].dtype == np.uint8 and int(data[0][0, 0, 1]) == 30
    train = read_labelled_images(path, split="Training")
    assert len(train) == 2
    with pytest.raises(FaceLatentError):
        read_labelled_images(path, split="Nope")


def test_image_csv_and_folder(tmp_path):
    (tmp_path / "images").mkdir()
    for name, value in [("a.png", 10), ("b.png", 200), ("c.png", 50)]:
        (tmp_path / "images" / name).write_bytes(png_bytes(value))
    (tmp_path / "labels.csv").write_text("image,emotion\na.png,happiness\nb.png,neutral\nc.png,contempt\n")
    data = read_labelled_images(tmp_path / "labels.csv")
    assert len(data) == 2 and data.skipped == 1
    assert [EMOTIONS[i] for i in data.labels] == ["joy", "neutral"]
    assert data[1].shape == (12, 12, 3) and int(data[1][0, 0, 0]) == 200

    root = tmp_path / "folders"
    for emotion, values in [("happy", [1, 2]), ("Neutral", [3]), ("other", [4])]:
        (root / emotion).mkdir(parents=True)
        for v in values:
            (root / emotion / f"{v}.png").write_bytes(png_bytes(v))
    folder = read_labelled_images(root)
    assert sorted(EMOTIONS[i] for i in folder.labels) == ["joy", "joy", "neutral"] and folder.skipped == 1
    assert {int(folder[i][0, 0, 0]) for i in range(3)} == {1, 2, 3}


def test_tar_with_labels(tmp_path):
    path = tmp_path / "faces.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in [("labels.csv", b"image,emotion\nx.png,surprise\ny.png,neutral\n"),
                           ("images/x.png", png_bytes(7)), ("images/y.png", png_bytes(9))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = read_labelled_images(path)
    assert [EMOTIONS[i] for i in data.labels] == ["surprise", "neutral"]
    assert int(data[0][0, 0, 0]) == 7 and int(data[1][5, 5, 2]) == 9


def test_balanced_subset_is_seeded():
    labels = np.array([0] * 10 + [6] * 3 + [1] * 5)
    from directions.datasets import LabelledImages

    data = LabelledImages(labels, lambda i: np.full((2, 2, 3), i, np.uint8), "toy")
    sub = balanced_subset(data, ["joy", "neutral"], per_class=4, seed=1)
    assert sorted(EMOTIONS[i] for i in sub.labels) == ["joy"] * 4 + ["neutral"] * 3
    again = balanced_subset(data, ["joy", "neutral"], per_class=4, seed=1)
    assert [int(sub[i][0, 0, 0]) for i in range(len(sub))] == [int(again[i][0, 0, 0]) for i in range(len(again))]
    # The images follow the subset: image i of the subset is the source image at the chosen index.
    assert all(int(labels[int(sub[i][0, 0, 0])]) == int(sub.labels[i]) for i in range(len(sub)))


def test_bad_inputs_are_one_line(tmp_path):
    with pytest.raises(ImageReadError, match="no such dataset"):
        read_labelled_images(tmp_path / "absent.csv")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(FaceLatentError, match="unknown dataset form"):
        read_labelled_images(tmp_path / "x.txt")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FaceLatentError, match="image,emotion"):
        read_labelled_images(tmp_path / "bad.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaceLatentError, match="no images"):
        read_labelled_images(tmp_path / "empty")


def test_shared_faces128_archive(shared):
    data = read_labelled_images(shared("data", "faces128", "faces128.tar"))
    counts = data.class_counts()
    assert counts["neutral"] == 6753 and counts["joy"] == 5404 and counts["fear"] == 15
    assert len(data) == 13000 and data.skipped == 9 + 36  # contempt and unlabelled rows
    image = data[0]
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
