"""What every command shares: option aliases, user-error handling and console output.

Commands raise :class:`inversion.common.errors.FaceLatentError` (or let ``OSError`` escape) for bad input;
``@handle_user_errors`` turns those into one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import Annotated, Callable, Iterator, Optional, TypeVar

import typer

from inversion.common.errors import FaceLatentError
from inversion.common.output_files import Stopped, stop_on_signals

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
#: Every command's seeds lie in [0, SEED_MAX] (numpy's and the official generate.py's range); a value
#: outside is refused by the option parser, before any work (exit code 2).
SEED_MAX = 2 ** 32 - 1


def check_seed(value: Optional[int]) -> Optional[int]:
    """The ``--seed`` callback: refuse a seed outside [0, SEED_MAX] while the options are parsed."""
    if value is not None and not 0 <= value <= SEED_MAX:
        raise typer.BadParameter(f"seeds run from 0 to {SEED_MAX}, got {value}")
    return value


SeedOption = Annotated[
    Optional[int], typer.Option("--seed", callback=check_seed, help=f"Seed for every random choice, 0 to "
                                f"{SEED_MAX}; the same seed gives the same result.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def one_line(text: str) -> str:
    """``text`` on one line (line breaks and runs of spaces become single spaces)."""
    return " ".join(str(text).split())


def _describe_os_error(err: OSError) -> str:
    if err.filename is not None:
        return f"{err.strerror or err.__class__.__name__}: {err.filename}"
    return str(err)


def handle_user_errors(command: F) -> F:
    """Decorate a command so that user errors become one line on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with stop_on_signals():  # SIGTERM/SIGHUP unwind like Ctrl-C; temporary files are removed
                return command(*args, **kwargs)
        except FaceLatentError as err:
            fail(one_line(str(err)))
        except OSError as err:
            fail(one_line(_describe_os_error(err)))
        except Stopped as stop:
            typer.echo(f"stopped by {stop.name}; no output was left half-written", err=True)
            raise typer.Exit(code=128 + stop.signum)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130)
        except Exception as err:
            if not _ops_unavailable(err):
                raise
            fail(one_line(str(err)))

    return wrapper  # type: ignore[return-value]


def _ops_unavailable(err: Exception) -> bool:
    """Is ``err`` cuda_ops' OpsUnavailableError? Looked up only if cuda_ops was imported (importing it
    loads torch, 3 s that the warp motion model does without); if it was not, the error cannot be one."""
    ops = sys.modules.get("cuda_ops")
    return ops is not None and isinstance(err, ops.OpsUnavailableError)


class ProgressBar:
    """A rich progress bar's task, fed by totals (:meth:`update`) or one step at a time (:meth:`advance`)."""

    def __init__(self, bar, task):
        self._bar, self._task = bar, task

    def update(self, done: int, total: Optional[int]) -> None:
        """Show ``done`` of ``total`` (the total may change between calls)."""
        self._bar.update(self._task, completed=done, total=total)

    def advance(self, description: Optional[str] = None) -> None:
        """One more step done; ``description``, when given, replaces the bar's label."""
        self._bar.update(self._task, advance=1, **({"description": description} if description else {}))


@contextlib.contextmanager
def progress_bar(description: str, total: Optional[int] = None, transient: bool = True) -> Iterator[ProgressBar]:
    """A rich progress bar on stderr labelled ``description``; ``transient`` bars vanish when done."""
    from rich.console import Console  # noqa: PLC0415 (rich loads only for commands that show progress)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=transient) as bar:
        yield ProgressBar(bar, bar.add_task(description, total=total))


def load_classifier(folder: Optional[Path], device: str, views: str = "fast"):
    """The emotion classifier of ``folder`` (None: the shipped one) on the ``--device`` asked for, with its
    ``views`` set; torch loads here, not when a command module is imported (its ``--help`` needs none)."""
    from directions.classifier import EmotionClassifier  # noqa: PLC0415
    from inversion.common.devices import pick_device  # noqa: PLC0415

    return EmotionClassifier.load(folder, pick_device(device), views)


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
