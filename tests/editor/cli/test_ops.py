"""``facelatent ops check|bench`` through typer's CliRunner (small tensors)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cuda_ops.builder import why_not_buildable
from editor.cli.app import app

needs_cpp = pytest.mark.skipif(why_not_buildable("cpp") is not None, reason=f"no C++ toolchain: {why_not_buildable('cpp')}")


@needs_cpp
def test_ops_check_reports_kernels_and_errors():
    result = CliRunner().invoke(app, ["ops", "check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["kernels"]["cpp"]["available"] is True
    rows = [r for r in report["ops"] if r["device"] == "cpu"]
    assert len(rows) == 5 and all(r["auto"] == "cpp" for r in rows)
    assert all(r["max_abs_error"] < 1e-4 for r in rows)
    text = CliRunner().invoke(app, ["ops", "check"])
    assert text.exit_code == 0 and "cpp   kernels: available" in text.stdout


@needs_cpp
def test_ops_bench_times_each_implementation():
    result = CliRunner().invoke(app, ["ops", "bench", "--batch", "1", "--channels", "4", "--res", "8",
                                      "--repeats", "1", "--backward", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["impl"] for r in rows if r["device"] == "cpu"} == {"ref", "cpp"}
    assert all(r["ms"] > 0 and r["speedup"] > 0 for r in rows)
    assert all(r["speedup"] == 1.0 for r in rows if r["impl"] == "ref")
    assert len(rows) == 2 * 5 * 2 and sum(r["op"].endswith("fwd+bwd") for r in rows) == 10
