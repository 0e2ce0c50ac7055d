"""Choosing the implementation: impl=, FACELATENT_OPS, auto per device and dtype, refusals."""

from __future__ import annotations

import pytest
import torch

from cuda_ops import OpsUnavailableError, bias_act, upfirdn2d
from cuda_ops.builder import why_not_buildable
from cuda_ops.dispatch import resolve_impl

needs_cpp = pytest.mark.skipif(why_not_buildable("cpp") is not None, reason=f"no C++ toolchain: {why_not_buildable('cpp')}")


@needs_cpp
def test_facelatent_ops_forces_the_implementation(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setenv("FACELATENT_OPS", "ref")
    assert resolve_impl(None, cpu, torch.float32) == "ref"
    monkeypatch.setenv("FACELATENT_OPS", "cpp")
    assert resolve_impl(None, cpu, torch.float32) == "cpp"
    with pytest.raises(OpsUnavailableError, match="float16"):
        resolve_impl(None, cpu, torch.float16)
    monkeypatch.setenv("FACELATENT_OPS", "cuda")
    with pytest.raises(OpsUnavailableError, match="cpu tensor"):
        bias_act(torch.zeros(2, 3), act="relu")
    monkeypatch.setenv("FACELATENT_OPS", "fast")
    with pytest.raises(ValueError, match="FACELATENT_OPS='fast'"):
        upfirdn2d(torch.zeros(1, 1, 4, 4), None)
    monkeypatch.delenv("FACELATENT_OPS")
    assert resolve_impl(None, cpu, torch.float32) == "cpp"  # auto: the C++ kernel on the CPU
    assert resolve_impl(None, cpu, torch.bfloat16) == "ref"  # no CPU kernel for bfloat16
    assert resolve_impl("ref", cpu, torch.float32) == "ref"  # impl= wins over the variable
