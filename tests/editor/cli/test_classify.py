"""``facelatent classify`` on aligned crops, a FER2013 CSV, photos, a video; --fast; --attack; bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from directions.classifier import EmotionClassifier
from directions.emotions import EMOTIONS, FER2013_LABELS
from directions.fer2013 import read_fer2013
from editor.cli.app import app

runner = CliRunner()


@pytest.fixture
def private(shared):
    return read_fer2013(shared("data", "fer2013", "fer2013.csv.gz")).split("PrivateTest")


@pytest.fixture(scope="module")
def clf():
    """What classify uses by default: the accurate view set."""
    return EmotionClassifier.load(views="accurate")


@pytest.fixture(scope="module")
def fast_clf():
    """What classify --fast (and --attack) uses."""
    return EmotionClassifier.load(views="fast")


def _run(*args):
    return runner.invoke(app, ["classify", *map(str, args)])


def test_aligned_folder_json_matches_api(tmp_path, private, clf):
    for i in range(5):
        Image.fromarray(private.images[i]).save(tmp_path / f"face{i}.png")
    rgb = np.stack([private.images[5]] * 3, -1)
    Image.fromarray(rgb).resize((96, 96), Image.BICUBIC).save(tmp_path / "face5.png")
    (tmp_path / "notes.txt").write_text("not an image")
    result = _run(tmp_path, "--aligned", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)["results"]
    assert json.loads(result.stdout)["views"] == clf.views
    assert [item["path"].rsplit("/", 1)[1] for item in items] == [f"face{i}.png" for i in range(6)]
    assert items[5]["faces"][0]["box"] == [0, 0, 96, 96]
    with torch.no_grad():
        expected = clf.predict([np.asarray(Image.open(tmp_path / f"face{i}.png").convert("RGB")) for i in range(6)])
    for item, probs in zip(items, expected):
        (face,) = item["faces"]
        assert face["emotion"] == EMOTIONS[int(probs.argmax())]
        assert list(face["probs"]) == list(EMOTIONS)
        np.testing.assert_allclose(list(face["probs"].values()), probs.numpy(), atol=1e-4)
    text = _run(tmp_path / "face0.png", "--aligned")
    assert text.exit_code == 0 and text.stdout.startswith(str(tmp_path / "face0.png") + "  face 0  ")


def _write_fer_csv(path, images, labels, usage):
    rows = ["emotion,pixels,Usage"]
    for img, label, split in zip(images, labels, usage):
        fer_label = FER2013_LABELS.index(EMOTIONS[label])
        rows.append(f"{fer_label},{' '.join(map(str, img.ravel()))},{split}")
    path.write_text("\n".join(rows) + "\n")


def test_csv_accuracy_and_confusion(tmp_path, private, clf):
    n = 120
    usage = ["PrivateTest"] * 100 + ["PublicTest"] * 20
    _write_fer_csv(tmp_path / "faces.csv", private.images[:n], private.labels[:n], usage)
    result = _run(tmp_path / "faces.csv", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    with torch.no_grad():
        pred = clf.predict(torch.from_numpy(private.images[:100]).float().unsqueeze(1) / 127.5 - 1).argmax(1).numpy()
    assert report["split"] == "PrivateTest" and report["n"] == 100 and report["views"] == clf.views
    assert report["accuracy"] == pytest.approx(float((pred == private.labels[:100]).mean()), abs=1e-4)
    conf = np.array(report["confusion"])
    assert conf.sum() == 100 and np.trace(conf) == round(report["accuracy"] * 100)
    np.testing.assert_array_equal(conf.sum(1), np.bincount(private.labels[:100], minlength=7))
    assert report["accuracy"] > 0.4  # chance is about 0.25 (majority class)
    public = json.loads(_run(tmp_path / "faces.csv", "--json", "--split", "PublicTest").stdout)
    assert public["n"] == 20
    text = _run(tmp_path / "faces.csv")
    assert "PrivateTest: 100 faces, accuracy" in text.stdout and "confusion" in text.stdout


def test_attack_small_linf(tmp_path, private, fast_clf):
    clf = fast_clf  # the attack always runs on the fast view set
    face = private.images[1]
    Image.fromarray(face).save(tmp_path / "face.png")
    with torch.no_grad():
        probs = clf.predict(face)[0]
    target = EMOTIONS[int(probs.argsort(descending=True)[1])]  # the runner-up
    result = _run(tmp_path / "face.png", "--aligned", "--attack", target, "-o", tmp_path / "out.png", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["views"] == "fast" and report["num_views"] == 2
    adv = np.asarray(Image.open(tmp_path / "out.png"))
    linf = int(np.abs(adv.astype(int) - face.astype(int)).max())
    assert report["linf"] == linf and 0 < linf <= 8
    mse = np.mean((adv.astype(float) - face.astype(float)) ** 2)
    assert report["psnr"] == pytest.approx(10 * np.log10(255 ** 2 / mse), abs=1e-6) and report["psnr"] > 30
    with torch.no_grad():
        assert EMOTIONS[int(clf.predict(adv).argmax(1)[0])] == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png", "out.png"]  # no temporary left


def test_fast_switch_changes_the_view_set(tmp_path, private, clf, fast_clf):
    """--fast: the 2-view set, probabilities as the fast API; default: the accurate set."""
    for i in range(4):
        Image.fromarray(private.images[i]).save(tmp_path / f"face{i}.png")
    default = json.loads(_run(tmp_path, "--aligned", "--json").stdout)
    fast = json.loads(_run(tmp_path, "--aligned", "--json", "--fast").stdout)
    assert (fast["views"], fast["num_views"], fast["num_networks"]) == ("fast", 2, 1)
    assert (default["views"], default["num_views"]) == (clf.views, 2 * len(clf.tta_offsets))
    assert default["num_networks"] == len(clf.networks)
    assert default["num_views"] * default["num_networks"] > 2  # the shipped config has an accurate set
    for out, model in ((fast, fast_clf), (default, clf)):
        with torch.no_grad():
            expected = model.predict(list(private.images[:4])).numpy()
        got = np.array([list(item["faces"][0]["probs"].values()) for item in out["results"]])
        np.testing.assert_allclose(got, expected, atol=1e-4)
    assert not np.allclose([list(i["faces"][0]["probs"].values()) for i in fast["results"]],
                           [list(i["faces"][0]["probs"].values()) for i in default["results"]], atol=1e-3)
    text = _run(tmp_path / "face0.png", "--aligned", "--fast")
    assert text.exit_code == 0 and text.stdout.startswith(str(tmp_path / "face0.png") + "  face 0  ")


def test_help_states_each_view_set():
    text = runner.invoke(app, ["classify", "--help"], terminal_width=200).stdout
    flat = " ".join(text.replace("│", " ").split())
    assert "--fast" in flat and "fast: 2 views" in flat and "accurate:" in flat and "ms/face" in flat


def test_photo_and_video_faces(tmp_path, shared):
    cv2 = pytest.importorskip("cv2")
    photo = shared("data", "photos", "astronaut.png")
    result = _run(photo, "--json")
    if result.exit_code != 0 and "mtcnn" in result.output.lower():
        pytest.skip(f"face detector weights unavailable: {result.output.strip()}")
    assert result.exit_code == 0, result.output
    (face,) = json.loads(result.stdout)["results"][0]["faces"]
    x0, y0, x1, y1 = face["box"]
    assert 100 < x0 < x1 < 400 and 0 < y0 < y1 < 300
    frame = cv2.resize(cv2.imread(str(photo)), (256, 256), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    for i in range(25):
        writer.write(cv2.warpAffine(frame, np.float32([[1, 0, i], [0, 1, 0]]), (256, 256), borderMode=cv2.BORDER_REFLECT))
    writer.release()
    video = _run(tmp_path / "clip.avi", "--every", "1")
    assert video.exit_code == 0, video.output
    lines = video.stdout.strip().splitlines()
    assert [line[:18] for line in lines] == ["00:00:00  face 0  ", "00:00:01  face 0  ", "00:00:02  face 0  "]
    records = _run(tmp_path / "clip.avi", "--every", "1", "--json")
    assert records.exit_code == 0, records.output
    samples = [json.loads(line) for line in records.stdout.strip().splitlines()]  # JSON Lines: one per sample
    assert [s["time"] for s in samples] == [0.0, 1.0, 2.0]
    assert all(s["source"] == str(tmp_path / "clip.avi") and s["views"] == "accurate" for s in samples)
    for sample, line in zip(samples, lines):
        (face,) = sample["faces"]
        assert face["id"] == 0 and line.endswith(f"{face['emotion']} {face['probs'][face['emotion']] * 100:.0f}%")
    boxes = np.array([s["faces"][0]["box"] for s in samples])
    assert np.all(np.diff(boxes[:, 0]) > 5)  # the face moves right 10 px per second


@pytest.mark.parametrize("args, message", [
    (["{tmp}/absent.png", "--aligned"], "no such file"),
    (["webcam:57"], "cannot open camera 57"),
    (["webcam", "--aligned"], "webcam input takes no"),
    (["{tmp}/face.png", "--attack", "joy", "-o", "{tmp}/o.png"], "--attack works on one face crop"),
    (["{tmp}/face.png", "--aligned", "--attack", "bliss", "-o", "{tmp}/o.png"], "unknown emotion 'bliss'"),
    (["{tmp}/face.png", "--aligned", "--attack", "joy", "-o", "{tmp}/o.jpg"], "writes a .png"),
    (["{tmp}/face.png", "--aligned", "--attack", "joy"], "needs -o"),
    (["{tmp}/faces.csv", "--split", "Validation"], "unknown split 'Validation'"),
    (["{tmp}/bad.csv"], "not a FER2013-style CSV"),
    (["{tmp}/empty", "--aligned"], "no images"),
    (["{tmp}/broken.png", "--aligned"], "broken.png"),
    (["{tmp}/face.png", "--aligned", "--classifier", "{tmp}/empty"], "classifier file missing"),
])
def test_bad_input_one_line_exit_1(tmp_path, args, message):
    Image.fromarray(np.full((48, 48), 128, np.uint8)).save(tmp_path / "face.png")
    _write_fer_csv(tmp_path / "faces.csv", np.zeros((2, 48, 48), np.uint8), [0, 1], ["PrivateTest"] * 2)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = _run(*[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.jpg").exists()
