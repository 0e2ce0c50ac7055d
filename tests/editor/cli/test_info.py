"""``facelatent info`` reports versions, device and what is available."""

import torch
from typer.testing import CliRunner

from editor.cli.app import app


def test_info_lists_versions_device_and_models():
    result = CliRunner().invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines() if line.startswith(("torch", "device")))
    assert lines["torch"].strip() == torch.__version__
    assert ("cuda" if torch.cuda.is_available() else "cpu") in lines["device"]
    assert "emotion classifier" in result.output and "default generator" in result.output


def test_info_ops_reports_each_kernel_kind():
    result = CliRunner().invoke(app, ["info", "--ops"])
    assert result.exit_code == 0, result.output
    assert "ops cpp" in result.output and "ops cuda" in result.output
