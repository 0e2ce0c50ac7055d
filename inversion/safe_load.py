"""Reading the project's ``.pt`` files safely, with every refusal one line in the project's words.

:func:`load_tensors` is ``torch.load(weights_only=True)`` on the CPU (plain tensors, numbers,
strings, lists and dicts; nothing in the file can run code). Whatever goes wrong (not a torch file,
truncated, a pickle that names Python objects) becomes one ``error`` line naming the file and what
is wrong with it. torch's own text never reaches the user: its warnings are silenced and its
messages are not repeated, because they end with advice to retry with ``weights_only=False``,
the unsafe path this project never takes.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Type

from inversion.common.errors import FaceLatentError

_GLOBAL = re.compile(r"(?:GLOBAL|global)\s*:?\s*([A-Za-z_][\w.]*)")


def _named_object(text: str) -> str:
    """The Python object a refused pickle names (``posix.system``), or '' when torch does not say."""
    match = _GLOBAL.search(text)
    return match.group(1) if match else ""


def load_tensors(path: str | os.PathLike, what: str, error: Type[FaceLatentError] = FaceLatentError):
    """``torch.load(path, map_location="cpu", weights_only=True)``; failures raise ``error`` (one line).

    ``what`` names the kind of file expected, e.g. ``"direction file"``, in the message.
    """
    import torch  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise error(f"no such {what}: {path}" if not path.is_dir() else f"{path} is a folder, not a {what}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        raise error(f"cannot read {what} {path}: {(err.strerror or type(err).__name__).lower()}") from None
    except MemoryError:
        raise error(f"{path} is not a {what} (it does not fit in memory)") from None
    except Exception as err:  # noqa: BLE001 - torch fails in many ways (UnpicklingError, KeyError, RuntimeError...)
        text = str(err)
        if "weights only" in text.lower() or "weights_only" in text or "Unsupported global" in text:
            named = _named_object(text)
            raise error(f"refusing to load {path}: it is not a plain {what}; it holds Python objects"
                        f"{' (' + named + ')' if named else ''} that could run code when loaded, and facelatent "
                        "reads tensors only") from None
        raise error(f"{path} is not a {what} (not a torch file of tensors, or a damaged one)") from None
