"""The shipped emotion directions of the embedded default generator: where they are, how to load them.

They live in ``directions/models/default_directions/`` (``directions.pt``, its MODEL_CARD.md and
an edits grid), fitted by ``scripts/fit_default_directions.py``; a user's own generator needs its
own direction file (``facelatent directions train``).

Example::

    >>> from inversion.checkpoints import generator_identity, load_generator
    >>> directions = load_default(generator_identity(load_generator(None, "cpu")))
    >>> sorted(directions.emotions)
    ['anger', 'disgust', 'fear', 'joy', 'sadness', 'surprise']
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from directions.direction_file import DirectionSet, load_directions
from inversion.common.errors import FaceLatentError

#: The folder of the shipped direction file.
DEFAULT_DIR = Path(__file__).resolve().parent / "models" / "default_directions"


def default_path() -> Optional[Path]:
    """The shipped direction file (``directions.pt`` preferred, else the folder's only ``.pt``), or None."""
    if not DEFAULT_DIR.is_dir():
        return None
    preferred = DEFAULT_DIR / "directions.pt"
    if preferred.is_file():
        return preferred
    files = sorted(DEFAULT_DIR.glob("*.pt"))
    return files[0] if len(files) == 1 else None


def resolve_directions(generator: Optional[Path], directions: Optional[Path]) -> Path:
    """The direction file to use: ``directions`` (``-d``), else the shipped one, which only the embedded
    generator (``generator`` None) may use; one clear error otherwise."""
    if directions is not None:
        return directions
    if generator is not None:
        raise FaceLatentError("-g/--generator needs directions for that generator: pass -d/--directions "
                              "(make them with `facelatent directions train`)")
    found = default_path()
    if found is None:
        raise FaceLatentError("the embedded default directions are not available in this version; pass "
                              "-g/--generator and -d/--directions (from `facelatent directions train`)")
    return found


def load_default(generator_identity: Optional[str] = None) -> DirectionSet:
    """The shipped directions, refused (``IncompatibleModelError``) for a generator of another identity."""
    return load_directions(resolve_directions(None, None), generator_identity)
