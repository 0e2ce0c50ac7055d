"""Packages whose names load on first use: what they resolve to, and what importing them does not load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import inversion.common
import inversion.faces
from inversion.common.images import read_photo
from inversion.faces.alignment import align_face


def test_a_name_is_its_home_modules_object_and_an_unknown_name_is_an_attribute_error():
    assert inversion.common.read_photo is read_photo
    assert inversion.faces.align_face is align_face
    assert "find_faces" in dir(inversion.faces) and "find_faces" in inversion.faces.__all__
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        inversion.faces.nothing  # noqa: B018


def test_detecting_faces_loads_neither_torch_nor_alignments_scipy():
    code = ("import sys; import inversion.common, inversion.faces.detection; "
            "print('torch' in sys.modules, 'scipy.ndimage' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3])
    assert out.stdout.split() == ["False", "False"]
