"""Names a package exports but imports only on first use (PEP 562), so importing the package stays light.

Usage, in a package's ``__init__.py``::

    __getattr__, __dir__, __all__ = lazy_names(__name__, {"read_photo": "images"})

``homes`` maps each exported name to the submodule (relative to the package) that defines it.
"""

from __future__ import annotations

import importlib
from typing import Callable


def lazy_names(package: str, homes: dict[str, str]) -> tuple[Callable, Callable, list[str]]:
    """(``__getattr__``, ``__dir__``, ``__all__``) for ``package``: each name imported from its home when first asked."""
    names = sorted(homes)

    def __getattr__(name: str):
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__, names
