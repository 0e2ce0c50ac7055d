"""``facelatent serve`` / ``worker`` options: the loopback default, the warning when binding elsewhere,
bad broker URLs as one line (uvicorn itself is replaced: these tests start no server)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("uvicorn")

from editor.cli.app import app  # noqa: E402


@pytest.fixture
def started(monkeypatch):
    import uvicorn
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: calls.append(kw))
    return calls


def test_serve_binds_to_loopback_by_default(started, tmp_path):
    result = CliRunner().invoke(app, ["serve", "--data", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert started == [dict(host="127.0.0.1", port=8000, log_level="warning", timeout_graceful_shutdown=5)]
    assert "warning" not in result.output and "http://127.0.0.1:8000/" in result.output
    assert (tmp_path / "data" / "uploads").is_dir() and (tmp_path / "data" / "jobs").is_dir()


def test_serve_warns_when_anyone_on_the_network_can_use_it(started, tmp_path):
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "9000", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert started[0]["host"] == "0.0.0.0" and started[0]["port"] == 9000
    assert "warning: listening on 0.0.0.0: anyone who can reach this machine on port 9000" in result.output


@pytest.mark.parametrize("command", [["serve"], ["worker"]])
def test_a_bad_broker_url_is_one_line(started, tmp_path, command):
    result = CliRunner().invoke(app, [*command, "--broker", "http://example", "--data", str(tmp_path)])
    assert result.exit_code == 1 and not started
    assert "give a Redis URL such as redis://127.0.0.1:6379/0" in result.output
