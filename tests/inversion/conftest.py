"""Fixtures shared by the inversion tests: the fixture generator as ``G`` and the AlexNet LPIPS."""

from __future__ import annotations

import pytest

from inversion.projection.lpips import LPIPS


@pytest.fixture
def G(fixture_generator):
    """The 64 px official-code fixture generator (shared; never change it)."""
    return fixture_generator


@pytest.fixture(scope="module")
def alex():
    """LPIPS with the AlexNet backbone, the projector's default distance."""
    return LPIPS("alex")
