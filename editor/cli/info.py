"""``facelatent info``: versions, device, compiled ops and available models."""

from __future__ import annotations

import platform

import typer

from editor.cli.common import handle_user_errors


def register(app: typer.Typer) -> None:
    app.command("info")(info)


@handle_user_errors
def info() -> None:
    """Print versions, the device that would run, and which models are available."""
    import numpy
    import torch

    typer.echo(f"python      {platform.python_version()}")
    typer.echo(f"torch       {torch.__version__}")
    typer.echo(f"numpy       {numpy.__version__}")
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"
    typer.echo(f"cuda        {cuda}")
