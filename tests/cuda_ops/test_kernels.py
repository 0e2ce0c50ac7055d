"""The C++ and CUDA kernels against the reference: forward, first and second derivatives.

Every case runs the same op through ``impl=<kind>`` and ``impl="ref"`` on identical inputs and
compares the outputs, the gradients for a random upstream gradient, and the second-order
gradients (of the first gradient, contracted with a random tensor). The C++ module is built on
first use and cached; the CUDA cases skip without a GPU.
"""

from __future__ import annotations

import pytest
import torch

from cuda_ops import ACTIVATIONS, bias_act, setup_filter, upfirdn2d
from cuda_ops.builder import why_not_buildable
from cuda_ops.upfirdn2d_compiled import upfirdn2d_compiled


def kernel_device(kind: str) -> torch.device:
    """The device a kernel kind runs on; skips the test where it cannot run here."""
    if kind == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: the CUDA kernels are compared with the reference on a GPU machine only")
    if why_not_buildable(kind):
        pytest.skip(f"the {kind} kernels cannot be built here: {why_not_buildable(kind)}")
    return torch.device(kind if kind == "cuda" else "cpu")


@pytest.fixture(params=["cpp", "cuda"])
def kind(request) -> str:
    """Each compiled implementation in turn (the CUDA one skips without a GPU)."""
    kernel_device(request.param)
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


UPFIRDN_CASES = [
    # shape, up, down, padding, flip, gain, filter
    ((2, 3, 8, 8), 2, 1, (2, 1, 2, 1), False, 4.0, "sep4"),
    ((1, 2, 7, 9), 1, 2, (1, 1, 1, 1), True, 1.0, "2d4"),
    ((3, 1, 5, 6), 4, 1, (3, 2, 1, 0), False, 2.5, "2d3x5"),
    ((2, 2, 13, 11), 1, 4, (0, 3, -1, 2), False, 1.0, "sep4"),
    ((1, 4, 9, 7), 2, 2, (-2, 1, 0, -1), True, 0.5, "2d3x5"),
    ((2, 3, 6, 5), [2, 1], [1, 2], (1, 0, 0, 2), False, 1.0, "2d4"),
    ((1, 2, 6, 6), 1, 1, (1, 1, 1, 1), False, 1.0, "sep1"),
    ((1, 1, 11, 4), 3, 2, (0, 0, 4, 4), True, 1.0, "sep12"),
]


def _filter(name: str, gen: torch.Generator) -> torch.Tensor:
    if name == "sep4":
        return setup_filter([1, 3, 3, 1], separable=True)
    if name == "2d4":
        return setup_filter([1, 3, 3, 1])
    if name == "sep1":
        return torch.tensor([1.5])
    if name == "sep12":
        return setup_filter(torch.rand(12, generator=gen) + 0.1)
    return torch.randn(3, 5, generator=gen)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", UPFIRDN_CASES, ids=lambda c: f"{c[0]}-up{c[1]}-down{c[2]}-{c[6]}")
def test_upfirdn2d_matches_reference(kind, case, dtype):
    shape, up, down, pad, flip, gain, fname = case
    device = kernel_device(kind)

    def make_inputs(gen):
        f = _filter(fname, gen).to(device)
        make_inputs.f = f
        return [torch.randn(shape, generator=gen, dtype=dtype).to(device).requires_grad_(True)]

    def op(impl):
        return lambda x: upfirdn2d(x, make_inputs.f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, impl=impl)

    _compare(make_inputs, op(kind), op("ref"), dtype, seed=11)


@pytest.mark.parametrize("case", UPFIRDN_CASES[:6], ids=lambda c: f"{c[0]}-up{c[1]}-down{c[2]}-{c[6]}")
def test_upfirdn2d_cuda_pixel_code_on_cpu(case):
    """The per-pixel code the CUDA kernel runs, executed by the C++ module, against the reference."""
    kernel_device("cpp")
    shape, up, down, pad, flip, gain, fname = case
    gen = torch.Generator().manual_seed(5)
    f = _filter(fname, gen)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    got = upfirdn2d_compiled(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, kind="cpp", pixel_mode=True)
    want = upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, impl="ref")
    torch.testing.assert_close(got, want, **TOL[torch.float64])


BIAS_CASES = [
    # shape, dim, with bias, clamp
    ((2, 5, 3, 4), 1, True, None),
    ((2, 5, 3, 4), 1, True, 0.8),
    ((7, 6), 1, True, 1.2),
    ((3, 4, 5), 2, True, None),
    ((1, 3, 9, 1), 0, False, 0.5),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", BIAS_CASES, ids=lambda c: f"{c[0]}-dim{c[1]}-b{int(c[2])}-clamp{c[3]}")
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_bias_act_matches_reference(kind, act, case, dtype):
    shape, dim, with_bias, clamp = case
    device = kernel_device(kind)

    def make_inputs(gen):
        x = (torch.randn(shape, generator=gen, dtype=dtype) * 1.5).to(device).requires_grad_(True)
        if not with_bias:
            return [x]
        b = torch.randn(shape[dim], generator=gen, dtype=dtype).to(device).requires_grad_(True)
        return [x, b]

    def op(impl):
        return lambda x, b=None: bias_act(x, b, dim=dim, act=act, clamp=clamp, impl=impl)

    _compare(make_inputs, op(kind), op("ref"), dtype, seed=7)


@pytest.mark.parametrize("act", ["lrelu", "tanh", "swish"])
def test_bias_act_alpha_gain_float16_cuda(act):
    """Half precision runs on the CUDA kernel (the CPU falls back to the reference for it)."""
    device = kernel_device("cuda")
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, 8, 5, 5, generator=gen).to(device)
    b = torch.randn(8, generator=gen).to(device)
    got = bias_act(x.half(), b.half(), act=act, alpha=0.1, gain=1.7, clamp=2.0, impl="cuda").float()
    want = bias_act(x, b, act=act, alpha=0.1, gain=1.7, clamp=2.0, impl="ref")
    torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2)


def test_cpp_kernels_pass_gradcheck():
    """The compiled autograd Functions' own derivatives are consistent with finite differences."""
    kernel_device("cpp")
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(1, 2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    f = torch.randn(3, 4, generator=gen)
    up = lambda x: upfirdn2d(x, f, up=2, down=1, padding=(1, 2, 0, 1), gain=2.0, impl="cpp")  # noqa: E731
    assert torch.autograd.gradcheck(up, (x,)) and torch.autograd.gradgradcheck(up, (x,))
    for act in ("swish", "elu", "lrelu"):
        fn = lambda x, b: bias_act(x, b, act=act, clamp=1.0, impl="cpp")  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, b)) and torch.autograd.gradgradcheck(fn, (x, b))


def test_mixed_precision_bias_promotes_like_the_reference():
    kernel_device("cpp")
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 4, generator=gen)
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    got = bias_act(x, b, act="tanh", impl="cpp")
    want = bias_act(x, b, act="tanh", impl="ref")
    assert got.dtype == want.dtype == torch.float64
    torch.testing.assert_close(got, want)
    got16 = bias_act(x.half(), b.float(), act="lrelu", impl="cpp")
    assert got16.dtype == torch.float32
    torch.testing.assert_close(got16, bias_act(x.half(), b.float(), act="lrelu", impl="ref"))


def test_inputs_on_another_device_are_refused_before_the_kernel():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="on meta"):
        upfirdn2d(x, torch.ones(2, 2, device="meta"), impl="cpp")
    with pytest.raises(ValueError, match="on meta"):
        bias_act(x, torch.zeros(2, device="meta"), impl="cpp")
