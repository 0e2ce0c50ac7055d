"""``facelatent animate`` end to end (issue 6 acceptance) on 2008_001322.jpg: 3 faces, 2 s, seed 1.

Runs use the 64 px fixture generator (random weights) with a direction file fitted here, and few
projector steps; runs are cached per argument list so the module does each one once. The test with
the embedded default models skips until they are shipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from directions.random_rule import save_random_rule_directions
from editor.cli.app import app
from editor.video import VideoWriter, probe_video, read_video
from inversion.checkpoints import load_generator
from inversion.common.images import read_photo

PHOTO = ("data", "photos", "2008_001322.jpg")
FIXTURE = ("fixtures", "stylegan2-ada_64_random.pkl")
runner = CliRunner()
_RUNS: dict = {}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("animate")


def fixture_directions(generator_path: Path, out: Path) -> Path:
    """Directions for the fixture generator: mean differences of mapped latents in 7 random groups."""
    if out.is_file():
        return out
    return save_random_rule_directions(load_generator(generator_path, "cpu"), out)


def animate(shared, workdir: Path, name: str, *args, photo=None):
    """Run ``facelatent animate`` once per argument list (cached); returns (result, summary, video path)."""
    photo = photo or shared(*PHOTO)
    generator = shared(*FIXTURE)
    directions = fixture_directions(generator, workdir / "fixture_directions.pt")
    key = (str(photo), name, args)
    if key not in _RUNS:
        out = workdir / f"{name}.mp4"
        result = runner.invoke(app, ["animate", str(photo), "-g", str(generator), "-d", str(directions), "-o", str(out),
                                     "--steps", "3", "--json", *map(str, args)])
        summary = json.loads(result.stdout) if result.exit_code == 0 else None
        _RUNS[key] = (result, summary, out)
    return _RUNS[key]


def acceptance_run(shared, workdir, seed: int = 1, name: str = "seed1"):
    result, summary, out = animate(shared, workdir, name, "--emotion", "joy", "--duration", 2, "--seed", seed)
    assert result.exit_code == 0, result.output
    return summary, out


def far_mask(shape, boxes, widths: float = 1.5) -> np.ndarray:
    """bool [H, W]: pixels farther than ``widths`` box widths from every box."""
    h, w = shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    far = np.ones((h, w), bool)
    for x0, y0, x1, y1 in boxes:
        dx = np.maximum(np.maximum(x0 - xs, xs - x1), 0)
        dy = np.maximum(np.maximum(y0 - ys, ys - y1), 0)
        far &= np.hypot(dx, dy) > widths * (x1 - x0)
    return far


def region_curves(frames: np.ndarray, boxes) -> list[np.ndarray]:
    """Per face: mean absolute change of its box region from frame 0, per frame."""
    curves = []
    for x0, y0, x1, y1 in boxes:
        r = frames[:, int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))].astype(np.int16)
        curves.append(np.abs(r - r[:1]).mean(axis=(1, 2, 3)))
    return curves


def test_video_has_120_h264_frames_at_60_fps_and_the_photo_size(shared, workdir):
    summary, out = acceptance_run(shared, workdir)
    info = probe_video(out)
    assert (info.num_frames, info.fps, info.codec, info.pix_fmt) == (120, 60.0, "h264", "yuv420p")
    assert (info.width, info.height) == (500, 376)  # 500x375 padded to even
    assert summary["frames"] == 120 and summary["animated"] == [0, 1, 2] and summary["still"] == []
    assert not list(workdir.glob(".*.part"))


def test_pixels_far_from_faces_are_the_photos_in_every_frame(shared, workdir):
    summary, out = acceptance_run(shared, workdir)
    photo = read_photo(shared(*PHOTO))
    frames = read_video(out)[:, :375]
    still = workdir / "still.mp4"  # the codec's own noise: the still photo through the same encoder
    if not still.is_file():
        with VideoWriter(still, 60, crf=18) as writer:
            for _ in range(120):
                writer.write(photo)
    still_frames = read_video(still)[:, :375]
    far = far_mask(photo.shape, summary["boxes"])
    assert far.mean() > 0.1
    moved = np.abs(frames.astype(np.int16) - still_frames).max(axis=-1)
    codec = np.abs(still_frames.astype(np.int16) - photo).max(axis=-1)
    for i in range(120):
        assert moved[i][far].mean() < 1.0, i
        assert np.abs(frames[i].astype(np.int16) - photo).max(axis=-1)[far].mean() < codec[i][far].mean() + 1.0
    assert moved[-1][~far].mean() > 3 * moved[-1][far].mean()  # the faces did change


def test_each_face_changes_and_the_faces_are_not_in_step(shared, workdir):
    summary, out = acceptance_run(shared, workdir)
    planned = summary["half_strength_s"]
    assert min(abs(a - b) for i, a in enumerate(planned) for b in planned[i + 1:]) >= 0.05
    curves = region_curves(read_video(out)[:, :375], summary["boxes"])
    measured = []
    for curve in curves:
        assert curve.max() > 3.0  # grey levels, averaged over the face's box
        measured.append(int(np.argmax(curve >= 0.5 * curve.max())) / 60)
    assert len({round(m * 60) for m in measured}) == 3, measured
    # The measured order follows the plan: the face planned first reaches half its change first.
    assert np.argsort(measured)[0] == np.argsort(planned)[0], (measured, planned)


def test_same_seed_same_frames_other_seed_other_frames(shared, workdir):
    _, first = acceptance_run(shared, workdir)
    result, _, again = animate(shared, workdir, "seed1-again", "--emotion", "joy", "--duration", 2, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert np.array_equal(read_video(first), read_video(again))
    _, other = acceptance_run(shared, workdir, seed=2, name="seed2")
    a, b = read_video(first), read_video(other)
    assert a.shape == b.shape and np.abs(a[60:].astype(np.int16) - b[60:]).mean() > 0.2


def test_edge_faces_odd_size_chosen_faces_and_preview(shared, workdir):
    photo = read_photo(shared(*PHOTO))[120:330, 95:300]  # face 0 at the left edge; 205x210 (odd width)
    path = workdir / "edge.png"
    Image.fromarray(photo).save(path)
    sheet = workdir / "edge_sheet.png"
    result, summary, out = animate(shared, workdir, "edge", "--emotion", "surprise:0.5,fear:0.5", "--duration", 2,
                                   "--fps", 24, "--seed", 3, "--faces", "0", "--preview", sheet, photo=path)
    assert result.exit_code == 0, result.output
    assert summary["animated"] == [0] and summary["boxes"][0][0] < 20
    info = probe_video(out)
    assert (info.width, info.height, info.num_frames) == (206, 210, 48)
    frames = read_video(out)[:, :, :205]
    (curve,) = region_curves(frames, summary["boxes"])
    assert curve.max() > 3.0
    assert np.asarray(Image.open(sheet)).shape[2] == 3


def test_faces_too_small_stay_still_and_the_run_says_so(shared, workdir):
    import cv2  # noqa: PLC0415
    photo = cv2.resize(read_photo(shared(*PHOTO)), None, fx=0.33, fy=0.33, interpolation=cv2.INTER_AREA)
    path = workdir / "small.png"
    Image.fromarray(photo).save(path)  # faces of about 31, 26 and 34 px: the middle one is below 28
    result, summary, out = animate(shared, workdir, "small", "--emotion", "sadness", "--duration", 2, "--fps", 10,
                                   "--seed", 2, photo=path)
    assert result.exit_code == 0, result.output
    assert summary["animated"] == [0, 2] and summary["still"] == [1]
    assert "face(s) 1 too small to animate: left still" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"wrote {out} (20 frames, 10 fps)"
    frames = read_video(out)[:, :photo.shape[0], :photo.shape[1]]
    curves = region_curves(frames, summary["boxes"])
    assert all(curve.max() > 1.0 for curve in curves)

def test_latents_file_from_invert_is_reused(shared, workdir):
    photo = read_photo(shared(*PHOTO))[120:330, 200:480]
    path = workdir / "two.png"
    Image.fromarray(photo).save(path)
    latents = workdir / "two.latents.pt"
    inverted = runner.invoke(app, ["invert", str(path), "-g", str(shared(*FIXTURE)), "-o", str(latents), "--steps", 2,
                                   "--lpips", "alex"])
    assert inverted.exit_code == 0, inverted.output
    raw = torch.load(latents, weights_only=True)
    result, summary, out = animate(shared, workdir, "from-latents", "--emotion", "anger", "--duration", 2, "--fps", 12,
                                   "--seed", 5, "--latents", latents, photo=path)
    assert result.exit_code == 0, result.output
    assert summary["animated"] == [f["index"] for f in raw["faces"]] and len(summary["animated"]) >= 1
    assert "detect" not in summary["seconds"] and probe_video(out).num_frames == 24
    absent, _, _ = animate(shared, workdir, "absent-face", "--emotion", "anger", "--duration", 2, "--latents", latents,
                           "--faces", 7, photo=path)
    assert absent.exit_code == 1 and "--faces 7: the latents file has faces" in absent.stderr


def test_user_errors_are_one_line_and_leave_no_file(shared, workdir, tmp_path, monkeypatch):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((90, 120, 3), 128, np.uint8)).save(blank)
    result, _, out = animate(shared, workdir, "blank", "--emotion", "joy", "--duration", 2, photo=blank)
    assert result.exit_code == 1 and result.stderr.startswith("error: no face") and "Traceback" not in result.output
    assert not out.exists() and not list(workdir.glob(".blank*"))
    bad = runner.invoke(app, ["animate", str(blank), "--emotion", "glee", "-g", str(shared(*FIXTURE)), "-d", "x.pt"])
    assert bad.exit_code == 1 and "unknown emotion 'glee'" in bad.stderr
    nowhere = runner.invoke(app, ["animate", str(blank), "--emotion", "joy", "-o", str(tmp_path / "no" / "x.mp4")])
    assert nowhere.exit_code == 1 and "output folder does not exist" in nowhere.stderr
    short = runner.invoke(app, ["animate", str(blank), "--emotion", "joy", "--duration", "1"])
    assert short.exit_code == 1 and "--duration" in short.stderr
    no_d = runner.invoke(app, ["animate", str(blank), "--emotion", "joy", "-g", str(shared(*FIXTURE))])
    assert no_d.exit_code == 1 and "-d/--directions" in no_d.stderr
    import directions.default_directions  # noqa: PLC0415
    monkeypatch.setattr(directions.default_directions, "DEFAULT_DIR", tmp_path / "absent")
    defaults = runner.invoke(app, ["animate", str(blank), "--emotion", "joy", "--motion", "flow"])
    assert defaults.exit_code == 1 and "-g/--generator" in defaults.stderr and "-d/--directions" in defaults.stderr


def test_embedded_default_models_move_the_classifier_towards_the_emotion(shared, tmp_path):
    from directions.default_directions import default_path  # noqa: PLC0415
    from inversion.checkpoints.loader import DEFAULT_GENERATOR_DIR  # noqa: PLC0415
    if not (DEFAULT_GENERATOR_DIR / "config.json").is_file() or default_path() is None:
        pytest.skip("the embedded default generator and directions are not shipped yet")
    from directions.classifier import EmotionClassifier  # noqa: PLC0415
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from inversion.faces.alignment import align_face  # noqa: PLC0415
    from inversion.faces.detection import detect_faces  # noqa: PLC0415
    out = tmp_path / "default.mp4"
    result = runner.invoke(app, ["animate", str(shared(*PHOTO)), "--emotion", "joy", "--duration", 2, "--seed", 1,
                                 "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    frames = read_video(out)[:, :375]
    clf = EmotionClassifier.load()
    target = EMOTIONS.index("joy")
    probs = []
    for frame in (frames[0], frames[-1]):  # faces found in each frame, as `facelatent classify` does
        faces = detect_faces(frame)
        assert len(faces) == 3
        probs.append(clf.predict([align_face(frame, f.landmarks68, 48, "tight").image for f in faces])[:, target])
    first, last = probs
    assert int((last > first).sum()) >= 2, (first, last)


def test_threads_option_is_scoped():
    from editor.cli.animate import torch_threads  # noqa: PLC0415
    before = torch.get_num_threads()
    other = 2 if before != 2 else 1
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with torch_threads(0):
        assert torch.get_num_threads() == before


def test_without_lpips_weights_the_encoder_alone_inverts(shared, tmp_path, monkeypatch):
    from directions.default_directions import default_path  # noqa: PLC0415
    from inversion.checkpoints.loader import DEFAULT_GENERATOR_DIR  # noqa: PLC0415
    from inversion.projection.encoder import DEFAULT_ENCODER_PATH  # noqa: PLC0415
    if not (DEFAULT_GENERATOR_DIR / "config.json").is_file() or default_path() is None \
            or not DEFAULT_ENCODER_PATH.is_file():
        pytest.skip("the embedded default generator, encoder and directions are not shipped yet")
    import inversion.projection.lpips  # noqa: PLC0415 (animate imports LPIPS when it runs)
    from inversion.common.errors import AssetMissingError  # noqa: PLC0415

    def offline(*args, **kwargs):
        raise AssetMissingError("lpips-alex is not in the cache and downloads are off")
    monkeypatch.setattr(inversion.projection.lpips, "LPIPS", offline)
    out = tmp_path / "offline.mp4"
    result = runner.invoke(app, ["animate", str(shared("data", "photos", "astronaut.png")), "--emotion", "joy",
                                 "--duration", 2, "--fps", 10, "--seed", 1, "-o", str(out), "--motion", "flow"])
    assert result.exit_code == 0, result.output
    assert "note: no projector steps" in result.stderr and probe_video(out).num_frames == 20
    directions = fixture_directions(shared(*FIXTURE), tmp_path / "fixture.pt")  # no encoder: LPIPS is needed
    blocked = runner.invoke(app, ["animate", str(shared("data", "photos", "astronaut.png")), "--emotion", "joy",
                                  "-g", str(shared(*FIXTURE)), "-d", str(directions), "-o", str(tmp_path / "b.mp4"),
                                  "--motion", "flow"])
    assert blocked.exit_code == 1 and "lpips-alex is not in the cache" in blocked.stderr


def test_motion_model_is_chosen_by_flag_and_reported(shared, workdir):
    summary, _ = acceptance_run(shared, workdir)
    assert summary["motion"] == "warp"  # auto, for a grey 64 px generator
    assert 0.5 <= summary["warp"]["jacobian_min"] <= summary["warp"]["jacobian_max"] <= 2.0
    result, flow, out = animate(shared, workdir, "flow", "--emotion", "joy", "--duration", 2, "--fps", 10,
                                "--motion", "flow")
    assert result.exit_code == 0, result.output
    assert flow["motion"] == "flow" and "warp" not in flow and probe_video(out).num_frames == 20
    bad, _, _ = animate(shared, workdir, "bad-motion", "--emotion", "joy", "--duration", 2, "--motion", "morph")
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "--motion" in bad.stderr


def test_the_warp_runs_without_torch(tmp_path):
    """The default motion model never imports torch (3 s of start-up) or SciPy (0.7 s): the main job's speed
    depends on it."""
    out = tmp_path / "warp.mp4"
    code = ("import sys\nfrom editor.cli.app import main\ntry:\n"
            f"    main(['animate', 'docs/examples/astronaut.jpg', '--emotion', 'joy', '--duration', '2', '--fps', '10',"
            f" '--seed', '1', '-o', {str(out)!r}])\nexcept SystemExit as stop:\n    assert stop.code == 0, stop.code\n"
            "print('torch' in sys.modules, 'scipy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["False", "False"] and probe_video(out).num_frames == 20
