"""The C++ and CUDA bias_act kernels against the reference: forward, first and second derivatives.

Every case runs the op through ``impl=<kind>`` and ``impl="ref"`` on identical inputs (see
``compare_with_reference`` in this folder's conftest). The CUDA cases skip without a GPU.
"""

from __future__ import annotations

import pytest
import torch

from cuda_ops import ACTIVATIONS, bias_act


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
def test_bias_act_matches_reference(kind, act, case, dtype, kernel_device, compare_with_reference):
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

    compare_with_reference(make_inputs, op(kind), op("ref"), dtype, seed=7)


@pytest.mark.parametrize("act", ["lrelu", "tanh", "swish"])
def test_bias_act_alpha_gain_float16_cuda(act, kernel_device):
    """Half precision runs on the CUDA kernel (the CPU falls back to the reference for it)."""
    device = kernel_device("cuda")
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, 8, 5, 5, generator=gen).to(device)
    b = torch.randn(8, generator=gen).to(device)
    got = bias_act(x.half(), b.half(), act=act, alpha=0.1, gain=1.7, clamp=2.0, impl="cuda").float()
    want = bias_act(x, b, act=act, alpha=0.1, gain=1.7, clamp=2.0, impl="ref")
    torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2)


def test_cpp_bias_act_passes_gradcheck(kernel_device):
    """The compiled autograd Functions' own derivatives are consistent with finite differences."""
    kernel_device("cpp")
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(1, 2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    for act in ("swish", "elu", "lrelu"):
        fn = lambda x, b: bias_act(x, b, act=act, clamp=1.0, impl="cpp")  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, b)) and torch.autograd.gradgradcheck(fn, (x, b))


def test_mixed_precision_bias_promotes_like_the_reference(kernel_device):
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


def test_a_bias_on_another_device_is_refused_before_the_kernel():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="on meta"):
        bias_act(x, torch.zeros(2, device="meta"), impl="cpp")
