"""`facelatent detect` through typer's CliRunner: JSON, table, --annotate, --min-face, bad files."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from editor.cli.app import app


runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["detect", *map(str, args)])


def test_json_matches_the_contract(shared, tmp_path):
    photo = shared("data", "photos", "2008_001322.jpg")
    result = _run(photo, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["image"] == str(photo) and (doc["width"], doc["height"]) == (500, 375)
    assert len(doc["faces"]) == 3 and doc["skipped"] == []
    xs = [(f["box"][0] + f["box"][2]) / 2 for f in doc["faces"]]
    assert xs == sorted(xs)
    for face in doc["faces"]:
        assert len(face["box"]) == 4 and 0.9 < face["score"] <= 1
        assert np.asarray(face["keypoints5"]).shape == (5, 2)
        marks = np.asarray(face["landmarks68"])
        assert marks.shape == (68, 2)
        x0, y0, x1, y1 = face["box"]
        assert x0 - 10 <= marks[:, 0].mean() <= x1 + 10 and y0 - 10 <= marks[:, 1].mean() <= y1 + 10


def test_min_face_lists_skipped_faces_and_table_output(shared):
    photo = shared("data", "photos", "2008_001322.jpg")  # faces of 84, 97 and 107 px (longer side)
    doc = json.loads(_run(photo, "--json", "--min-face", 100).stdout)
    assert len(doc["faces"]) == 1 and len(doc["skipped"]) == 2
    assert all(s["reason"] == "too small" for s in doc["skipped"])
    table = _run(photo, "--min-face", 100)
    assert table.exit_code == 0
    assert "1 face(s), 2 skipped" in table.stdout and table.stdout.count("skipped") == 3


def test_hog_detector_and_annotate(shared, tmp_path):
    photo = shared("data", "photos", "astronaut.png")
    out = tmp_path / "annotated.png"
    result = _run(photo, "--detector", "hog", "--annotate", out, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["faces"]) == 1 and doc["detector"] == "hog"
    drawn = np.asarray(Image.open(out).convert("RGB"))
    original = np.asarray(Image.open(photo).convert("RGB"))
    assert drawn.shape == original.shape
    changed = np.any(drawn != original, axis=2)
    face = doc["faces"][0]
    points = np.vstack([np.reshape(face["box"], (2, 2)), face["landmarks68"]])
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 100  # drawing stays on the face: its box and landmarks, +- the dot size
    assert xs.min() >= points[:, 0].min() - 4 and xs.max() <= points[:, 0].max() + 4
    assert ys.min() >= points[:, 1].min() - 12 and ys.max() <= points[:, 1].max() + 4  # number above
    assert [p.name for p in tmp_path.iterdir()] == ["annotated.png"]  # no temporary file left


def test_bad_files_give_one_line_and_exit_1(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for path in (broken, tmp_path / "missing.png"):
        result = _run(path)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.output
    good = tmp_path / "flat.png"
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(good)
    result = _run(good, "--annotate", tmp_path / "out.gif2")
    assert result.exit_code == 1 and "--annotate" in result.stderr
    assert not (tmp_path / "out.gif2").exists()
    result = _run(good)
    assert result.exit_code == 0 and "0 face(s)" in result.stdout
    assert runner.invoke(app, ["detect", str(good), "--detector", "cnn"]).exit_code == 2
