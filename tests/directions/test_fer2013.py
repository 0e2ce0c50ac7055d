"""FER2013 CSV reading: label mapping, layout, splits, caching, bad files, the real file's counts."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from directions.emotions import EMOTIONS
from directions.fer2013 import SPLITS, read_fer2013
from inversion.common.errors import FaceLatentError, ImageReadError


def _write_csv(path, rows, usage=True, gz=False):
    header = "emotion,pixels,Usage" if usage else "emotion,pixels"
    lines = [header]
    for label, pixels, split in rows:
        text = " ".join(str(int(v)) for v in pixels.ravel())
        lines.append(f"{label},{text},{split}" if usage else f"{label},{text}")
    data = ("\n".join(lines) + "\n").encode()
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _rows(n=7):
    rng = np.random.default_rng(0)
    return [(k % 7, rng.integers(0, 256, (48, 48)), SPLITS[k % 3]) for k in range(n)]


@pytest.mark.parametrize("gz", [False, True])
def test_labels_mapped_and_pixels_row_major(tmp_path, gz):
    rows = _rows()
    path = _write_csv(tmp_path / ("f.csv.gz" if gz else "f.csv"), rows, gz=gz)
    data = read_fer2013(path, cache=False)
    fer_names = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
    assert [EMOTIONS[i] for i in data.labels] == [fer_names[r[0]] for r in rows]
    assert data.images.dtype == np.uint8 and data.images.shape == (7, 48, 48)
    for img, (_, pixels, _) in zip(data.images, rows):
        np.testing.assert_array_equal(img, pixels)
    assert data.usage.tolist() == [r[2] for r in rows]
    pub = data.split("PublicTest")
    assert len(pub) == 2 and set(pub.usage.tolist()) == {"PublicTest"}


def test_no_usage_column_is_split_all(tmp_path):
    data = read_fer2013(_write_csv(tmp_path / "f.csv", _rows(3), usage=False), cache=False)
    assert data.usage.tolist() == ["all"] * 3
    with pytest.raises(FaceLatentError, match="no rows in split 'PrivateTest'"):
        data.split("PrivateTest")


def test_cache_round_trip(tmp_path):
    path = _write_csv(tmp_path / "f.csv", _rows(5))
    first = read_fer2013(path, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    second = read_fer2013(path, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.usage.tolist() == second.usage.tolist()


@pytest.mark.parametrize("content, message", [
    ("a,b\n1,2\n", "not a FER2013-style CSV"),
    ("emotion,pixels\n9," + " ".join(["0"] * 2304) + "\n", "emotion 9"),
    ("emotion,pixels\n1,1 2 3\n", "3 pixel values"),
    ("emotion,pixels\nx," + " ".join(["0"] * 2304) + "\n", "no integer emotion"),
    ("emotion,pixels\n", "no rows"),
])
def test_bad_files_raise_one_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ImageReadError, match=message) as info:
        read_fer2013(path, cache=False)
    assert "\n" not in str(info.value)


def test_missing_and_corrupt_gz(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_fer2013(tmp_path / "absent.csv")
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ImageReadError, match="cannot read"):
        read_fer2013(bad, cache=False)


def test_real_file_counts(shared):
    data = read_fer2013(shared("data", "fer2013", "fer2013.csv.gz"))
    counts = {s: int((data.usage == s).sum()) for s in SPLITS}
    assert counts == {"Training": 28708, "PublicTest": 3589, "PrivateTest": 3589}
    assert data.images.shape == (35886, 48, 48)
    per_class = np.bincount(data.labels, minlength=7)
    assert per_class[EMOTIONS.index("joy")] == per_class.max()  # happy is FER2013's largest class
    assert per_class[EMOTIONS.index("disgust")] == per_class.min()
    assert data.images.std() > 30  # real faces, not blank rows
