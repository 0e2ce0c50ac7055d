"""``facelatent generate`` on the official fixture pickle, through CliRunner."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from editor.cli.app import app
from editor.cli.generate import parse_seeds

torch.set_num_threads(1)
runner = CliRunner()
PKL = ("fixtures", "stylegan2-ada_64_random.pkl")


def run(*args):
    return runner.invoke(app, ["generate", *map(str, args)])


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5, 1,7-8") == [5, 1, 7, 8]
    from inversion.common.errors import FaceLatentError
    for bad in ("3-1", "a", "-2", "", "1-", str(2 ** 32)):
        with pytest.raises(FaceLatentError):
            parse_seeds(bad)


def test_npy_output_matches_the_fixture_reference(shared, tmp_path):
    ref = np.load(shared("fixtures", "stylegan2-ada_64_random_ref.npz"))
    np.save(tmp_path / "w.npy", ref["ws"])
    np.save(tmp_path / "z.npy", ref["z"])
    result = run("-g", shared(*PKL), "--w", tmp_path / "w.npy", "-o", tmp_path / "from_w.npy", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert np.abs(np.load(tmp_path / "from_w.npy") - ref["img"]).max() < 1e-3
    result = run("-g", shared(*PKL), "--z", tmp_path / "z.npy", "--truncation", float(ref["psi"]),
                 "-o", tmp_path / "from_z.npy")
    assert result.exit_code == 0, result.output
    assert np.abs(np.load(tmp_path / "from_z.npy") - ref["img"]).max() < 1e-3
    # A single w per image [N, w_dim] is broadcast to all layers.
    np.save(tmp_path / "w1.npy", ref["ws"][:, 0])
    assert run("-g", shared(*PKL), "--w", tmp_path / "w1.npy", "-o", tmp_path / "w1out.npy").exit_code == 0
    assert np.load(tmp_path / "w1out.npy").shape == (4, 3, 64, 64)


def test_grid_folder_and_seed_consistency(shared, tmp_path):
    assert run("-g", shared(*PKL), "--seeds", "0-4", "-o", tmp_path / "grid.png").exit_code == 0
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (2 * 64, 3 * 64, 3)  # 5 images in a 3-column grid
    result = run("-g", shared(*PKL), "--seeds", "3,4", "-o", tmp_path / "imgs")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "imgs").iterdir()) == ["seed0003.png", "seed0004.png"]
    tile = np.asarray(Image.open(tmp_path / "imgs" / "seed0004.png"))
    # Seed 4 is the 5th tile (row 1, column 1); batches of other sizes may round 1 level differently.
    assert np.abs(tile.astype(int) - grid[64:128, 64:128]).max() <= 1
    assert not list(tmp_path.glob(".*.part"))


def test_noise_modes_and_seed(shared, tmp_path):
    outs = {}
    for name, extra in {"const": [], "r1": ["--noise-mode", "random", "--seed", "1"],
                        "r1b": ["--noise-mode", "random", "--seed", "1"],
                        "r2": ["--noise-mode", "random", "--seed", "2"]}.items():
        result = run("-g", shared(*PKL), "--seeds", "0-1", *extra, "-o", tmp_path / f"{name}.npy")
        assert result.exit_code == 0, result.output
        outs[name] = np.load(tmp_path / f"{name}.npy")
    assert np.array_equal(outs["r1"], outs["r1b"])
    assert not np.allclose(outs["r1"], outs["r2"])


@pytest.mark.parametrize("args,message", [
    (["--seeds", "9-2"], "bad seed range"),
    (["--seeds", "0-1", "--z", "z.npy"], "exactly one"),
    (["--z", "missing.npy"], "no such z file"),
    (["--w", "bad_w.npy"], "this generator needs"),
    (["--w", "w_ok.npy", "--truncation", "0.5"], "not to --w"),
    (["--seeds", "1", "--noise-mode", "loud"], "--noise-mode"),
    (["--seeds", "1", "-g", "nope.pkl"], "no such checkpoint"),
    (["--seeds", "1", "-g", "text.pkl"], "text.pkl"),
])
def test_user_errors_are_one_line(shared, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    np.save("bad_w.npy", np.zeros([2, 5], np.float32))
    np.save("w_ok.npy", np.zeros([2, 128], np.float32))
    (tmp_path / "text.pkl").write_text("not a pickle")
    if "-g" not in args:
        args = ["-g", str(shared(*PKL)), *args]
    result = run(*args, "-o", "out.png")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "out.png").exists()


def test_without_generator_suggests_g(tmp_path, monkeypatch):
    import inversion.checkpoints.loader as loader

    monkeypatch.setattr(loader, "DEFAULT_GENERATOR_DIR", tmp_path / "no_default_generator")
    result = run("--seeds", "0", "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "-g" in result.output and not (tmp_path / "x.png").exists()


def test_conditional_generator_needs_class(tmp_path):
    from inversion.checkpoints import save_generator
    from inversion.networks.stylegan2 import Generator

    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=3, w_dim=8, img_resolution=8, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    save_generator(G, tmp_path / "cond.pt")
    outs = []
    for cls in (0, 2):
        result = run("-g", tmp_path / "cond.pt", "--seeds", "0-1", "--class", cls, "-o", tmp_path / f"c{cls}.npy")
        assert result.exit_code == 0, result.output
        outs.append(np.load(tmp_path / f"c{cls}.npy"))
    assert outs[0].shape == (2, 3, 8, 8) and not np.allclose(outs[0], outs[1])
    result = run("-g", tmp_path / "cond.pt", "--seeds", "0", "-o", tmp_path / "none.npy")
    assert result.exit_code == 1 and "--class" in result.output
