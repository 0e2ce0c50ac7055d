"""The ``facelatent`` command line: one module per command group, each with ``register(app)``."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="facelatent",
    help="Turn a still photo of people into a short video in which every face performs a chosen emotion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)



@app.callback()
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
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Console-script entry point."""
    app()
