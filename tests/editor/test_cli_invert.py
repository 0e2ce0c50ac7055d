"""``facelatent invert`` with CliRunner on the 64 px fixture generator (few steps)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from editor.cli.app import app
from editor.cli.invert import aligned_input, export_path, parse_face_indices
from inversion.common.errors import FaceLatentError

FIXTURE = ("fixtures", "stylegan2-ada_64_random.pkl")
runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["invert", *map(str, args)])


def test_aligned_crop_json_latents_reconstruction_and_export(shared, tmp_path):
    photo = shared("fixtures", "lpips", "ex_ref.png")
    out = tmp_path / "ex.latents.pt"
    recon = tmp_path / "recon"
    result = _run(photo, "--aligned", "-g", shared(*FIXTURE), "-o", out, "--steps", 6, "--pti-steps", 2,
                  "--space", "w", "--json", "--save-reconstruction", recon, "--export", "--seed", 3, "--device", "cpu")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["latents"] == str(out) and len(summary["faces"]) == 1
    face = summary["faces"][0]
    assert face["index"] == 0 and face["box"] == [0.0, 0.0, 64.0, 64.0]
    assert 0 < face["lpips"] < 2 and 0 < face["psnr"] < 60 and face["seconds"] > 0
    raw = torch.load(out, weights_only=True)
    assert raw["space"] == "w" and raw["faces"][0]["latent"].shape == (128,)
    assert raw["faces"][0]["pti_delta"] and raw["faces"][0]["alignment"] == "none"
    assert raw["faces"][0]["metrics"]["lpips"] == pytest.approx(face["lpips"], abs=1e-4)
    side_by_side = np.asarray(Image.open(recon / "face00.png"))
    assert side_by_side.shape == (64, 128, 3)
    assert np.abs(side_by_side[:, :64].astype(int) - np.asarray(Image.open(photo).convert("RGB"))).max() <= 1
    w = np.load(export_path(out))["w"]
    assert w.shape == (1, 10, 128) and np.allclose(w[0, 0], raw["faces"][0]["latent"].numpy())


def test_same_seed_same_latents(shared, tmp_path):
    photo = shared("fixtures", "lpips", "ex_p1.png")
    latents = []
    for name in ("a.pt", "b.pt"):
        result = _run(photo, "--aligned", "-g", shared(*FIXTURE), "-o", tmp_path / name, "--steps", 3, "--seed", 5,
                      "--lpips", "alex")
        assert result.exit_code == 0, result.output
        latents.append(torch.load(tmp_path / name, weights_only=True)["faces"][0]["latent"])
    assert torch.equal(*latents)


def test_detected_faces_of_a_photo(shared, tmp_path):
    photo = shared("data", "photos", "astronaut.png")
    out = tmp_path / "astronaut.latents.pt"
    result = _run(photo, "-g", shared(*FIXTURE), "-o", out, "--steps", 2, "--json", "--faces", "0",
                  "--lpips", "alex")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (face,) = summary["faces"]
    x0, y0, x1, y1 = face["box"]
    assert 100 < (x0 + x1) / 2 < 300 and 50 < (y0 + y1) / 2 < 250  # the astronaut's face, upper middle
    raw = torch.load(out, weights_only=True)["faces"][0]
    assert raw["landmarks"].shape == (68, 2) and raw["alignment"] in ("ffhq", "tight")
    corner = raw["forward"].numpy() @ np.array([x0, y0, 1.0])
    assert np.all(np.isfinite(corner))
    assert "progress" not in result.stdout.lower()


def test_user_errors_are_one_line(shared, tmp_path):
    missing = _run(tmp_path / "nope.jpg", "-g", shared(*FIXTURE))
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ") and "Traceback" not in missing.output
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(blank)
    none = _run(blank, "-g", shared(*FIXTURE), "-o", tmp_path / "x.pt")
    assert none.exit_code == 1 and "no face found" in none.stderr and "--aligned" in none.stderr
    assert not (tmp_path / "x.pt").exists()
    bad_faces = _run(shared("data", "photos", "astronaut.png"), "-g", shared(*FIXTURE), "--faces", "4", "--steps", 1)
    assert bad_faces.exit_code == 1 and "out of range" in bad_faces.stderr


def test_face_index_parsing():
    assert parse_face_indices(None, 3) == [0, 1, 2]
    assert parse_face_indices("2, 0,2", 3) == [0, 2]
    for text in ("a", ",", "3", "-1"):
        with pytest.raises(FaceLatentError):
            parse_face_indices(text, 3)


def test_aligned_input_forward_maps_photo_pixels_to_crop_pixels():
    photo = np.zeros((200, 100, 3), np.uint8)
    face = aligned_input(photo, 64)
    assert face["image"].shape == (64, 64, 3)
    corners = face["forward"] @ np.array([[-0.5, -0.5, 1.0], [99.5, 199.5, 1.0]]).T
    assert np.allclose(corners[:2].T, [[-0.5, -0.5], [63.5, 63.5]])


def test_default_generator_starts_from_its_encoder(shared, tmp_path):
    """With the embedded generator the projection starts at the encoder's latents, far closer to the
    face than w_avg after the same single step; --no-encoder starts at w_avg."""
    photo = shared("data", "photos", "astronaut.png")
    scores = {}
    for flag, start in (("--encoder", "encoder"), ("--no-encoder", "w_avg")):
        out = tmp_path / f"{start}.pt"
        result = _run(photo, flag, "-o", out, "--steps", 1, "--json", "--device", "cpu")
        assert result.exit_code == 0, result.output
        raw = torch.load(out, weights_only=True)
        if start == "encoder" and raw["settings"]["start"] != "encoder":
            pytest.skip("the embedded encoder does not match the embedded generator (a re-export in progress)")
        assert raw["settings"]["start"] == start and raw["faces"][0]["alignment"] == "tight"
        scores[start] = json.loads(result.stdout)["faces"][0]
    assert scores["encoder"]["lpips"] < 0.9 * scores["w_avg"]["lpips"]
    assert scores["encoder"]["psnr"] > scores["w_avg"]["psnr"] + 3
