"""The ``facelatent`` command line: one module per command group, each with ``register(app)``."""

from __future__ import annotations

import importlib
import sys

import click
import typer
import typer.exceptions

#: What the option parser raises for a bad or missing value (typer >= 0.2x vendors its own click).
USAGE_ERRORS = tuple({click.exceptions.ClickException, typer.exceptions.TyperException})
ABORTS = tuple({click.exceptions.Abort, typer.Abort})

_app = typer.Typer(
    name="facelatent",
    help="Turn a still photo of people into a short video in which every face performs a chosen emotion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)



@_app.callback()
def _root() -> None:
    """Turn a still photo of people into a short video in which every face performs a chosen emotion.

    Start with `facelatent animate photo.jpg --emotion joy`; every command has its own --help.
    """


# Each module below defines ``register(app)``; the order is the order of --help.
COMMAND_MODULES = (
    "editor.cli.animate",
    "editor.cli.info",
    "editor.cli.detect",
    "editor.cli.ops",
    "editor.cli.assets",
    "editor.cli.generate",
    "editor.cli.invert",
    "editor.cli.directions",
    "editor.cli.classify",
    "editor.cli.serve",
)

_REGISTERED: set[str] = set()


def register_commands(argv) -> None:
    """Register the command ``argv`` names (its module alone), or every command when it names none.

    A command module imports what its command needs (``animate`` with the warp: no torch), so running
    one command loads only its own module: start-up stays at what that command costs. ``--help`` and
    unknown words register all, so the listing and typer's suggestions are complete.
    """
    words = [a for a in argv if not a.startswith("-")]
    wanted = [m for m in COMMAND_MODULES if words and m.rsplit(".", 1)[1] == words[0]] or list(COMMAND_MODULES)
    for name in COMMAND_MODULES:  # in --help order
        if name in wanted and name not in _REGISTERED:
            importlib.import_module(name).register(_app)
            _REGISTERED.add(name)


def _help_command(err) -> str:
    ctx, names = getattr(err, "ctx", None), []
    while ctx is not None:
        names.append(ctx.info_name or "facelatent")
        ctx = ctx.parent
    return " ".join(["facelatent", *reversed(names[:-1]), "--help"]) if names else "facelatent --help"


def main(argv=None) -> None:
    """Console-script entry point: usage errors (a bad or missing option value) are one line on
    stderr, ``error: ...``, with exit code 2; the commands' own errors exit 1 (editor.cli.common)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    register_commands(argv)
    try:
        code = _app(args=argv, prog_name="facelatent", standalone_mode=False)
    except USAGE_ERRORS as err:
        print(f"error: {' '.join(err.format_message().split())} (see `{_help_command(err)}`)", file=sys.stderr)
        sys.exit(getattr(err, "exit_code", 2))
    except ABORTS:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def __getattr__(name: str):
    """``app``: the typer application with every command registered (for tests and embedding; PEP 562)."""
    if name == "app":
        register_commands([])
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
