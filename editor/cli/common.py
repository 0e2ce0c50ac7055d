"""What every command shares: option aliases, user-error handling and console output.

Commands raise :class:`inversion.errors.FaceLatentError` (or let ``OSError`` escape) for bad input;
``@handle_user_errors`` turns those into one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional, TypeVar

import typer

from cuda_ops import OpsUnavailableError
from inversion.errors import FaceLatentError

F = TypeVar("F", bound=Callable)

GeneratorOption = Annotated[
    Optional[Path],
    typer.Option(
        "--generator", "-g",
        help="Generator checkpoint: an official StyleGAN2-ADA/StyleGAN3 .pkl, a rosinality .pt, or the "
        "project's own format. Default: the embedded default generator.",
    ),
]
DeviceOption = Annotated[
    str, typer.Option("--device", help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")
]
SeedOption = Annotated[
    Optional[int], typer.Option("--seed", help="Seed for every random choice; the same seed gives the same result.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _describe_os_error(err: OSError) -> str:
    if err.filename is not None:
        return f"{err.strerror or err.__class__.__name__}: {err.filename}"
    return str(err)


def handle_user_errors(command: F) -> F:
    """Decorate a command so that user errors become one line on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (FaceLatentError, OpsUnavailableError) as err:
            fail(str(err))
        except OSError as err:
            fail(_describe_os_error(err))
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130)

    return wrapper  # type: ignore[return-value]


def info(message: str) -> None:
    """Print a progress or status line on stderr (stdout stays clean for --json)."""
    print(message, file=sys.stderr, flush=True)


def parse_faces(text: Optional[str]) -> Optional[list[int]]:
    """``"0,2"`` -> ``[0, 2]`` (sorted, unique); None -> None (all faces)."""
    if text is None:
        return None
    try:
        chosen = sorted({int(p) for p in text.replace(" ", "").split(",") if p != ""})
    except ValueError:
        raise FaceLatentError(f"bad --faces '{text}': use face indices like 0,2 (see `facelatent detect`)") from None
    if not chosen:
        raise FaceLatentError("--faces names no face")
    return chosen
