"""scripts/train_classifier.py on a tiny synthetic FER2013-style CSV: architecture flags, the checkpoint's
architecture, resuming into the same architecture only, and an interrupted run that resumes to the same
weights as an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import train_classifier

ARCH_FLAGS = ["--widths", "8,16", "--blocks", "1,1", "--dropout", "0.1"]


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory) -> Path:
    """48 Training and 16 PublicTest rows of random pixels with FER2013's columns."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("fer") / "tiny.csv"
    rows = ["emotion,pixels,Usage"]
    for usage, n in (("Training", 48), ("PublicTest", 16)):
        for _ in range(n):
            rows.append(f"{rng.integers(0, 7)},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _train(csv: Path, run: Path, *extra: str) -> None:
    train_classifier.main(["--data", str(csv), "--run-dir", str(run), "--batch", "8", "--max-batches", "2",
                           "--no-export", "--seed", "3", *ARCH_FLAGS, *extra])


def test_architecture_flags_reach_the_checkpoint(tiny_csv, tmp_path):
    _train(tiny_csv, tmp_path, "--epochs", "1")
    best = torch.load(tmp_path / "best.pt", map_location="cpu", weights_only=True)
    assert best["arch"] == {"widths": [8, 16], "blocks": [1, 1], "dropout": 0.1}
    assert best["model"]["head.weight"].shape == (7, 16)
    with pytest.raises(SystemExit, match="architecture"):  # resuming with other flags is refused
        train_classifier.main(["--data", str(tiny_csv), "--run-dir", str(tmp_path), "--epochs", "1", "--resume",
                               "--batch", "8", "--no-export"])
    with pytest.raises(SystemExit, match="one value per stage"):
        train_classifier.main(["--data", str(tiny_csv), "--run-dir", str(tmp_path), "--widths", "8,16,32",
                               "--blocks", "1,1", "--no-export"])


def test_resumed_run_equals_uninterrupted(tiny_csv, tmp_path, monkeypatch):
    """Two epochs in one go, and two epochs interrupted during the second then ``--resume``d: the same
    weights, bit for bit (seeded shuffles, CPU-drawn augmentation, RNG state in last.pt)."""
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    _train(tiny_csv, whole, "--epochs", "2")
    original, calls = train_classifier.train_epoch, []

    def stop_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(train_classifier, "train_epoch", stop_in_second_epoch)
        with pytest.raises(KeyboardInterrupt):
            _train(tiny_csv, interrupted, "--epochs", "2")
    assert torch.load(interrupted / "last.pt", weights_only=False)["state"]["epoch"] == 1
    _train(tiny_csv, interrupted, "--epochs", "2", "--resume")
    a = torch.load(whole / "last.pt", map_location="cpu", weights_only=False)
    b = torch.load(interrupted / "last.pt", map_location="cpu", weights_only=False)
    assert a["state"]["epoch"] == b["state"]["epoch"] == 2
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0, msg=key)
