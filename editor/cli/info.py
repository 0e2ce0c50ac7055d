"""``facelatent info``: versions, device, compiled ops, and which models and weights are available."""

from __future__ import annotations

import platform

import cv2
import numpy
import typer

from editor.cli.common import handle_user_errors
from inversion.assets.resolver import ASSETS, find_asset


def register(app: typer.Typer) -> None:
    app.command("info")(info)


def _versions() -> list[tuple[str, str]]:
    import torch  # noqa: PLC0415 (here and below: `info --help` need not wait for torch)

    return [("python", platform.python_version()), ("torch", torch.__version__),
            ("numpy", numpy.__version__), ("opencv", cv2.__version__)]


def _device_line() -> str:
    import torch  # noqa: PLC0415

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu (no CUDA GPU found)"


def _ops_lines(build: bool) -> list[tuple[str, str]]:
    """Per kernel kind, whether it is built; ``build=True`` builds missing kernels now (takes minutes)."""

    if not build:
        return [("ops", "not checked (add --ops to build and check the compiled kernels)")]
    from cuda_ops.diagnostics import kernel_status  # noqa: PLC0415

    return [(f"ops {kind}", ("built" if row["available"] else "unavailable") + f" ({row['detail']})")
            for kind, row in kernel_status().items()]


def _model_lines() -> list[tuple[str, str]]:
    from directions.classifier_config import DEFAULT_MODEL_DIR as CLASSIFIER_DIR  # noqa: PLC0415
    from directions.default_directions import DEFAULT_DIR as DIRECTIONS_DIR  # noqa: PLC0415
    from inversion.checkpoints.loader import DEFAULT_GENERATOR_DIR  # noqa: PLC0415

    rows = []
    for label, folder in (("default generator", DEFAULT_GENERATOR_DIR),
                          ("default directions", DIRECTIONS_DIR),
                          ("emotion classifier", CLASSIFIER_DIR)):
        present = folder.is_dir() and any(p.suffix == ".pt" for p in folder.iterdir())
        rows.append((label, str(folder) if present else "not shipped in this version"))
    return rows


def _asset_lines() -> list[tuple[str, str]]:
    missing = [name for name in ASSETS if find_asset(name)[0] is None]
    if not missing:
        return [("assets", f"all {len(ASSETS)} third-party weight files present")]
    return [("assets", f"missing {', '.join(missing)} (run `facelatent assets fetch`)")]


@handle_user_errors
def info(
    ops: bool = typer.Option(False, "--ops", help="Also build (first time: a minute or two) and report the compiled ops."),
) -> None:
    """Print versions, the device that would run, compiled ops, and which models are available."""
    rows = _versions() + [("device", _device_line())] + _ops_lines(ops) + _model_lines() + _asset_lines()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        typer.echo(f"{name.ljust(width)}  {value}")
