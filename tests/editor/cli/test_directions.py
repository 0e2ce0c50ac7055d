"""``facelatent directions train|show|eval|export`` with CliRunner on the fixture generator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from directions.emotions import EMOTIONS
from editor.cli.app import app

JOY, NEUTRAL = EMOTIONS.index("joy"), EMOTIONS.index("neutral")
runner = CliRunner()
_CACHE: dict = {}


def fixture_path(shared):
    return str(shared("fixtures", "stylegan2-ada_64_random.pkl"))


def crafted_classifier(folder, G):
    """A classifier folder (weights.pt + config.json) for the project's network: a random body and a
    head built so that renders of ``G`` split into joy and neutral along the body's main feature axis
    (the shipped classifier may not exist yet; this tests the plumbing with a real network)."""
    from directions.classifier import DEFAULT_ARCH, EmotionClassifier, build_model
    from directions.labelled_latents import to_classifier_input

    torch.manual_seed(0)
    model = build_model(DEFAULT_ARCH).eval()
    with torch.no_grad():
        ws = G.mapping(torch.randn(32, G.z_dim, generator=torch.Generator().manual_seed(9)), None, truncation_psi=0.7)
        x = to_classifier_input(G.synthesis(ws, noise_mode="const"))
        feats = (model.body(model.stem(x)).mean(dim=(2, 3)) + model.body(model.stem(x.flip(-1))).mean(dim=(2, 3))) / 2
        mean = feats.mean(0)
        axis = torch.linalg.svd(feats - mean, full_matrices=False)[2][0]
        scale = 10.0 / float(((feats - mean) @ axis).std())
        model.head.weight.zero_()
        model.head.bias.fill_(-30.0)
        model.head.weight[JOY], model.head.bias[JOY] = scale * axis, -scale * float(axis @ mean)
        model.head.weight[NEUTRAL], model.head.bias[NEUTRAL] = -scale * axis, scale * float(axis @ mean)
    folder.mkdir()
    torch.save(model.state_dict(), folder / "weights.pt")
    (folder / "config.json").write_text(json.dumps({"arch": DEFAULT_ARCH, "input_size": 48, "eval_crop": 48,
                                                    "emotions": list(EMOTIONS)}))
    EmotionClassifier.load(folder)  # loads through the real API
    return folder


@pytest.fixture
def setup(shared, tmp_path, tmp_path_factory):
    """The fixture generator, its identity and a crafted classifier folder, made once per session."""
    from inversion.checkpoints import generator_identity, load_generator

    path = fixture_path(shared)
    if "G" not in _CACHE:
        G = load_generator(path, "cpu")
        _CACHE.update(G=G, identity=generator_identity(G),
                      clf=str(crafted_classifier(tmp_path_factory.mktemp("classifier") / "clf", G)))
    return {"G": _CACHE["G"], "gen": path, "identity": _CACHE["identity"], "clf": _CACHE["clf"], "tmp": tmp_path}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_show_export_eval(setup):
    out = setup["tmp"] / "dirs.pt"
    result = run("directions", "train", "--samples", 24, "-g", setup["gen"], "-o", out, "--emotions", "joy",
                 "--classifier", setup["clf"], "--seed", 3, "--method", "svm", "--space", "w+", "--layers", "0-3",
                 "--device", "cpu", "--top-ratio", 1.0)
    assert result.exit_code == 0, result.output
    from directions.direction_file import load_directions

    d = load_directions(out, generator_identity=setup["identity"])
    joy = d.get("joy")
    assert d.space == "w+" and joy.method == "svm" and joy.layers == (0, 1, 2, 3)
    assert torch.count_nonzero(joy.vector[4:]) == 0 and abs(float(joy.vector.norm()) - 1) < 1e-5
    assert 0.0 <= joy.accuracy <= 1.0 and d.settings["seed"] == 3
    assert "24 generator samples" in d.data

    shown = run("directions", "show", out)
    assert shown.exit_code == 0 and "joy" in shown.output and "svm" in shown.output and "0-3" in shown.output
    as_json = json.loads(run("directions", "show", out, "--json").output)
    assert as_json["directions"]["joy"]["shape"] == [setup["G"].num_ws, setup["G"].w_dim]
    assert as_json["generator"] == setup["identity"]

    exported = run("directions", "export", out, setup["tmp"] / "npy")
    assert exported.exit_code == 0
    boundary = np.load(setup["tmp"] / "npy" / "joy_wp_boundary.npy")
    assert boundary.shape == (1, setup["G"].num_ws * setup["G"].w_dim) and boundary.dtype == np.float32

    evaluated = run("directions", "eval", out, "-g", setup["gen"], "--samples", 3, "--strengths", "0,2",
                    "--classifier", setup["clf"], "--no-identity", "--json", "--device", "cpu")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output)
    cells = report["emotions"]["joy"]["cells"]
    assert [c["k"] for c in cells] == [0.0, 2.0] and cells[0]["target_rise"] == pytest.approx(0, abs=1e-6)
    assert report["faces"] == 3


def test_train_from_saved_latents_and_mean(setup):
    out, saved = setup["tmp"] / "a.pt", setup["tmp"] / "lat.pt"
    first = run("directions", "train", "--samples", 16, "-g", setup["gen"], "-o", out, "--emotions", "joy",
                "--classifier", setup["clf"], "--save-latents", saved, "--device", "cpu")
    assert first.exit_code == 0, first.output
    again = run("directions", "train", "--latents", saved, "-g", setup["gen"], "-o", setup["tmp"] / "b.pt",
                "--emotions", "joy", "--device", "cpu")
    assert again.exit_code == 0, again.output
    from directions.direction_file import load_directions

    a, b = load_directions(out), load_directions(setup["tmp"] / "b.pt")
    assert torch.allclose(a.get("joy").vector, b.get("joy").vector)
    assert a.get("joy").method == "mean" and a.get("joy").strength > 0


def test_eval_on_given_latents(setup):
    from directions.direction_file import load_directions
    from directions.labelled_latents import LabelledLatents, save_labelled_latents

    out, saved = setup["tmp"] / "a.pt", setup["tmp"] / "faces.pt"
    assert run("directions", "train", "--samples", 16, "-g", setup["gen"], "-o", out, "--emotions", "joy",
               "--classifier", setup["clf"], "--device", "cpu").exit_code == 0
    G = setup["G"]
    ws = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(4)), None)
    save_labelled_latents(LabelledLatents(ws[:, 0], torch.tensor([6, 6]), torch.ones(2), generator=setup["identity"]),
                          saved)
    result = run("directions", "eval", out, "-g", setup["gen"], "--latents", saved, "--strengths", "1",
                 "--classifier", setup["clf"], "--no-identity", "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["faces"] == 2 and report["source"] == "2 given latents"
    assert report["emotions"]["joy"]["cells"][0]["offset"] == pytest.approx(load_directions(out).get("joy").strength)


def test_dataset_route_projects_faces(setup):
    root = setup["tmp"] / "faces"
    rng = np.random.default_rng(0)
    for emotion in ("happy", "neutral"):
        (root / emotion).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / emotion / f"{i}.png")
    out = setup["tmp"] / "d.pt"
    result = run("directions", "train", "--dataset", root, "-g", setup["gen"], "-o", out, "--emotions", "joy",
                 "--steps", 2, "--lpips", "alex", "--device", "cpu")
    if result.exit_code != 0 and "assets fetch" in result.output:
        pytest.skip("LPIPS weights unavailable offline")
    assert result.exit_code == 0, result.output
    from directions.direction_file import load_directions

    d = load_directions(out)
    assert d.get("joy").counts == {"positive": 2, "negative": 2} and "folder faces" in d.data


def test_user_errors_are_one_line(setup):
    both = run("directions", "train", "--samples", 4, "--latents", "x.pt", "-g", setup["gen"], "-o", "o.pt")
    assert both.exit_code == 1 and "exactly one of" in both.output
    bad = run("directions", "train", "--samples", 4, "-g", setup["gen"], "-o", "o.pt", "--emotions", "glee")
    assert bad.exit_code == 1 and "unknown glee" in bad.output
    layers = run("directions", "train", "--samples", 4, "-g", setup["gen"], "-o", "o.pt", "--layers", "0-99")
    assert layers.exit_code == 1 and "--layers" in layers.output
    missing = run("directions", "show", setup["tmp"] / "absent.pt")
    assert missing.exit_code == 1 and missing.output.count("\n") == 1 and "Traceback" not in missing.output


def test_eval_refuses_directions_of_another_generator(setup):
    from directions.direction_file import DirectionSet, EmotionDirection, save_directions

    G = setup["G"]
    v = torch.zeros(G.w_dim)
    v[0] = 1.0
    other = DirectionSet(generator="f" * 64, space="w", num_ws=G.num_ws, w_dim=G.w_dim,
                         directions={"joy": EmotionDirection("joy", v, "mean", tuple(range(G.num_ws)))})
    path = save_directions(other, setup["tmp"] / "other.pt")
    result = run("directions", "eval", path, "-g", setup["gen"], "--samples", 2, "--classifier", setup["clf"],
                 "--device", "cpu")
    assert result.exit_code == 1 and "was made for generator ffffffffffff" in result.output
    assert not (setup["tmp"] / "o.pt").exists()
