"""The usage examples in the docstrings of the public entry points run as doctests (from the repo root)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Modules whose docstrings carry usage examples (each runs in a few seconds on the CPU with the embedded models).
MODULES = (
    "inversion.faces.detection",     # detect faces and their landmarks
    "inversion.faces.alignment",     # align a face
    "inversion.photo_inversion",     # invert a photo
    "inversion.networks.synthesis",  # images for seeds, as the official generate.py makes them
    "directions.fitting",            # fit emotion directions
    "directions.default_directions",  # the shipped directions
    "directions.face_classification",  # classify the faces of a photo
    "directions.face_tracking",      # follow faces across samples
    "editor.warp_pipeline",          # animate a photo (the default motion model)
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples name files relative to the repository (docs/examples/...)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
