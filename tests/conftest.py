"""Shared test fixtures: where ../shared is, and skipping with a reason where it is absent."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACELATENT_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared; skips the calling test with a reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data sits beside the checkout in CI)")
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty FACELATENT_HOME; downloads allowed, pip's own configuration untouched."""
    monkeypatch.setenv("FACELATENT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACELATENT_OFFLINE", raising=False)
    monkeypatch.delenv("FACELATENT_PIP_INDEX_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture
def shared():
    """The ``shared_path`` function, as a fixture."""
    return shared_path


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Run the whole suite on one torch thread, restoring the setting afterwards.

    The tests run many small ops; on a shared 2-core machine two OpenMP threads spin against other
    jobs and made MTCNN ~10x, LPIPS ~5x and inversion ~50x slower than one thread.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.lru_cache(maxsize=None)
def _load_generator(path: str):
    from inversion.checkpoints import load_generator

    return load_generator(path, "cpu")


@pytest.fixture
def fixture_generator(shared):
    """The official StyleGAN2-ADA fixture generator (random weights, 64 px RGB), loaded once per run.

    Tests share one object: a test must never change it (PTI's tests check exactly that).
    """
    return _load_generator(str(shared("fixtures", "stylegan2-ada_64_random.pkl")))
