"""Fixtures for comparing the compiled kernels with the reference: the kernel kinds, their device,
tolerances per dtype, and one comparison of forward, first and second derivatives."""

from __future__ import annotations

import pytest
import torch

from cuda_ops.builder import why_not_buildable


def _kernel_device(kind: str) -> torch.device:
    """The device a kernel kind runs on; skips the test where it cannot run here."""
    if kind == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: the CUDA kernels are compared with the reference on a GPU machine only")
    if why_not_buildable(kind):
        pytest.skip(f"the {kind} kernels cannot be built here: {why_not_buildable(kind)}")
    return torch.device(kind if kind == "cuda" else "cpu")


@pytest.fixture
def kernel_device():
    """``kernel_device(kind)``: the device a kernel kind runs on; skips the test where it cannot run here."""
    return _kernel_device


@pytest.fixture(params=["cpp", "cuda"])
def kind(request) -> str:
    """Each compiled implementation in turn (the CUDA one skips without a GPU)."""
    _kernel_device(request.param)
    return request.param


TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-11)}


def _derivatives(fn, inputs, gen):
    """``y = fn(*inputs)``; ``dx = dL/dinputs`` for a random ``dy``; second-order ``d(dx·v)/d(inputs, dy)``."""
    y = fn(*inputs)
    dy = torch.randn(y.shape, generator=gen, dtype=y.dtype).to(y.device).requires_grad_(True)
    first = torch.autograd.grad(y, inputs, dy, create_graph=True)
    vs = [torch.randn(g.shape, generator=gen, dtype=g.dtype).to(g.device) for g in first]
    wrt = list(inputs) + [dy]
    live = [(g, v) for g, v in zip(first, vs) if g.requires_grad]
    if live:
        second = torch.autograd.grad([g for g, _ in live], wrt, [v for _, v in live], allow_unused=True)
    else:
        second = [None] * len(wrt)
    second = [torch.zeros_like(w) if s is None else s for s, w in zip(second, wrt)]
    return [y.detach()] + [g.detach() for g in first] + [s.detach() for s in second]


def _compare(make_inputs, fn_kernel, fn_ref, dtype, seed):
    results = []
    for fn in (fn_kernel, fn_ref):
        gen = torch.Generator().manual_seed(seed)
        inputs = make_inputs(gen)
        results.append(_derivatives(fn, inputs, gen))
    names = ["forward"] + [f"grad{i}" for i in range(len(results[0]) - 1)]
    for name, got, want in zip(names, *results):
        assert got.shape == want.shape, name
        torch.testing.assert_close(got.cpu(), want.cpu(), **TOL[dtype], msg=lambda m: f"{name}: {m}")


@pytest.fixture
def tolerance() -> dict:
    """``assert_close`` tolerances per dtype for a kernel against the reference."""
    return TOL


@pytest.fixture
def compare_with_reference():
    """``compare(make_inputs, fn_kernel, fn_ref, dtype, seed)``: forward, gradients and second-order
    gradients of both functions on identical inputs, equal within :data:`TOL`."""
    return _compare
