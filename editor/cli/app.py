"""The ``facelatent`` command line: one module per command group, each with ``register(app)``."""

from __future__ import annotations

import importlib
import sys
from typing import Optional

import click
import typer
import typer.exceptions

#: What the option parser raises for a bad or missing value (typer >= 0.2x vendors its own click).
USAGE_ERRORS = tuple({click.exceptions.ClickException, typer.exceptions.TyperException})
ABORTS = tuple({click.exceptions.Abort, typer.Abort})

def _root() -> None:
    """Turn a still photo of people into a short video in which every face performs a chosen emotion.

    Start with `facelatent animate photo.jpg --emotion joy`; every command has its own --help.
    """


#: The application's one-line help: the first line of :func:`_root`'s docstring.
_ROOT_HELP = _root.__doc__.split("\n", 1)[0]


def _typer() -> typer.Typer:
    app = typer.Typer(name="facelatent", help=_ROOT_HELP, no_args_is_help=True, pretty_exceptions_enable=False,
                      add_completion=False)
    app.callback()(_root)
    return app


_app = _typer()

#: Every command: the module that registers it and its help's first line, in the order --help lists them.
#: ``facelatent --help`` (and a bare or unknown word) lists these without importing the modules: six of
#: them import torch, and the listing took 6-7 s. tests/editor/cli/test_app.py holds each line to the
#: command's own.
COMMANDS = {
    "animate": ("editor.cli.animate", "Animate every face of PHOTO performing an emotion; writes an H.264 video."),
    "info": ("editor.cli.info",
             "Print versions, the device that would run, compiled ops, and which models are available."),
    "detect": ("editor.cli.detect",
               "Find the faces in PHOTO: boxes, five keypoints and dlib's 68 landmarks, left to right."),
    "generate": ("editor.cli.generate", "Generate images for seeds, z vectors or w latents (seeds match the official "
                 "StyleGAN2-ADA generate.py)."),
    "invert": ("editor.cli.invert",
               "Invert every face of PHOTO into the generator's latent space and save a latents file."),
    "classify": ("editor.cli.classify",
                 "Classify the emotion of faces: crops, photos, videos, or a FER2013 CSV (accuracy)."),
    "serve": ("editor.cli.serve",
              "Run the web app: upload a photo, pick faces and an emotion, watch progress, play or download."),
    "worker": ("editor.cli.serve", "Run jobs of `facelatent serve --broker` from the Redis queue; start as many as "
               "you like, anywhere."),
    "ops": ("editor.cli.ops", "The compiled ops (bias_act, upfirdn2d): which kernels built, error, speed."),
    "assets": ("editor.cli.assets", "Third-party weights (MTCNN, dlib, LPIPS, ImageNet backbones, benchmark "
               "emotion judges): list and fetch."),
    "directions": ("editor.cli.directions", "Learn, inspect, evaluate and export emotion directions."),
}

#: The command modules, each defining ``register(app)``, in :data:`COMMANDS`' order (typer lists plain commands
#: first, then groups: the same order).
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))

_REGISTERED: set[str] = set()


def command_named(argv) -> Optional[str]:
    """The command ``argv``'s first word names (a key of :data:`COMMANDS`), or None (no word, or an unknown one)."""
    words = [a for a in argv if not a.startswith("-")]
    return words[0] if words and words[0] in COMMANDS else None


def register_commands(argv) -> None:
    """Register the module of the command ``argv`` names, or every command's module when it names none.

    A command module imports what its command needs (``animate`` with the warp: no torch), so running
    one command loads only its own module: start-up stays at what that command costs.
    """
    named = command_named(argv)
    wanted = {COMMANDS[named][0]} if named else set(COMMAND_MODULES)
    for name in COMMAND_MODULES:  # in registration order
        if name in wanted and name not in _REGISTERED:
            importlib.import_module(name).register(_app)
            _REGISTERED.add(name)


def _listing() -> typer.Typer:
    """The application as ``facelatent --help`` shows it: every command of :data:`COMMANDS` by its name and help
    line, none imported. A listed command hands its arguments to the real one (:func:`main`)."""
    app = _typer()
    for name, (_, help_line) in COMMANDS.items():
        def listed(ctx: typer.Context, _name: str = name) -> None:
            main([_name, *ctx.args])

        app.command(name, help=help_line, add_help_option=False,
                    context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(listed)
    return app


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
    if command_named(argv):
        register_commands(argv)
        app = _app
    else:  # the listing, a bare --help or an unknown word: no command module is imported
        app = _listing()
    try:
        code = app(args=argv, prog_name="facelatent", standalone_mode=False)
    except USAGE_ERRORS as err:
        message = " ".join(err.format_message().split())
        if message:  # a bare `facelatent` has printed the listing already: nothing to add
            print(f"error: {message} (see `{_help_command(err)}`)", file=sys.stderr)
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
