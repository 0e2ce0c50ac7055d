"""``facelatent ops check|bench``: the compiled kernels, their error against the reference and speed."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from editor.cli.common import JsonOption, handle_user_errors, info

ops_app = typer.Typer(help="The compiled ops (bias_act, upfirdn2d): which kernels built, error, speed.",
                      no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(ops_app, name="ops")


def _fmt_error(value) -> str:
    return "-" if value is None else f"{value:.2e}"


@ops_app.command("check")
@handle_user_errors
def check(json_out: JsonOption = False) -> None:
    """Build (or load from the cache) the kernels; print which one runs and its max abs error vs the reference."""

    from cuda_ops.diagnostics import check_ops  # noqa: PLC0415 (torch: --help need not wait for it)

    info("loading the compiled ops (the first run builds them: a minute or two)...")
    report = check_ops()
    if json_out:
        typer.echo(json.dumps(report, indent=2))
        return
    for kind, st in report["kernels"].items():
        typer.echo(f"{kind:5} kernels: {'available' if st['available'] else 'unavailable'} - {st['detail']}")
    typer.echo("")
    typer.echo(f"{'op':34} {'device':6} {'auto':5} {'runs':5} {'max abs error vs ref':>22}")
    for row in report["ops"]:
        label = f"{_fmt_error(row['max_abs_error'])} ({row['kernel']})"
        typer.echo(f"{row['op']:34} {row['device']:6} {row['auto']:5} {row['runs']:5} {label:>22}")


@ops_app.command("bench")
@handle_user_errors
def bench(
    batch: Annotated[int, typer.Option(min=1, help="Batch size N.")] = 8,
    channels: Annotated[int, typer.Option(min=1, help="Channels C.")] = 512,
    res: Annotated[int, typer.Option(min=4, help="Height = width of the input.")] = 32,
    repeats: Annotated[int, typer.Option(min=1, help="Timed calls per implementation (median).")] = 5,
    backward: Annotated[bool, typer.Option("--backward", help="Also time forward + backward.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Time each implementation on [N, C, res, res] float32 tensors, relative to the reference."""

    from cuda_ops.diagnostics import benchmark_ops  # noqa: PLC0415 (torch: --help need not wait for it)

    info("loading the compiled ops (the first run builds them: a minute or two)...")
    rows = benchmark_ops(batch=batch, channels=channels, res=res, repeats=repeats, backward=backward)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'op':42} {'device':6} {'impl':5} {'ms':>10} {'x ref':>7}")
    for row in rows:
        typer.echo(f"{row['op']:42} {row['device']:6} {row['impl']:5} {row['ms']:10.2f} {row['speedup']:7.2f}")
