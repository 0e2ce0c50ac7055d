"""editor.cli.app: the listing names every command with its own help line, without importing the commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

from editor.cli import app as cli_app

REPO = Path(__file__).resolve().parents[3]


def _run(*args: str) -> subprocess.CompletedProcess:
    """``facelatent ARGS`` in a fresh interpreter; its last stdout line says whether torch / SciPy were imported."""
    code = ("import sys\nfrom editor.cli.app import main\ntry:\n"
            f"    main({list(args)!r})\nexcept SystemExit as stop:\n    code = stop.code\n"
            "print('\\nimported', 'torch' in sys.modules, 'scipy' in sys.modules, code)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"})


def test_the_listing_is_every_command_with_its_own_help_line():
    group = typer.main.get_command(cli_app.app)  # every module registered
    ctx = click.Context(group)
    real = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    assert list(real) == list(cli_app.COMMANDS)  # the same names in the same order
    for name, (module, line) in cli_app.COMMANDS.items():
        assert real[name].get_short_help_str(limit=1000) == line, name
        assert module in cli_app.COMMAND_MODULES


def test_help_lists_every_command_without_importing_one():
    done = _run("--help")
    assert done.stdout.split()[-4:] == ["imported", "False", "False", "0"], done.stderr
    for name, (_, line) in cli_app.COMMANDS.items():
        assert f" {name} " in done.stdout and line in done.stdout, name
    assert done.stderr == ""


# A command's help needs its options, not torch (classify's reads the shipped classifier's config); running
# a command that needs a network loads it.
@pytest.mark.parametrize("args, loads_torch", [((name, "--help"), False) for name in (
    "animate", "info", "generate", "invert", "directions", "ops", "classify")] + [(("info",), True)])
def test_a_named_command_gets_its_own_module_and_help(args, loads_torch):
    done = _run(*args)
    words = done.stdout.split()
    assert words[-4:-2] == ["imported", str(loads_torch)] and words[-1] == "0", done.stderr
    if args[-1] == "--help":
        assert f"Usage: facelatent {args[0]} " in done.stdout and "Show this message and exit." in done.stdout
    else:
        assert "torch" in done.stdout


def test_an_unknown_command_is_one_line_and_a_bare_call_shows_the_listing():
    bogus = _run("bogus", "--x")
    assert bogus.stderr == "error: No such command 'bogus'. (see `facelatent --help`)\n"
    assert bogus.stdout.split()[-4:] == ["imported", "False", "False", "2"]
    bare = _run()
    assert "animate" in bare.stdout and bare.stderr == ""
    assert bare.stdout.split()[-4:] == ["imported", "False", "False", "2"]
