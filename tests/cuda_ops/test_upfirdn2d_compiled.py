"""The C++ and CUDA upfirdn2d kernels against the reference: forward, first and second derivatives.

Every case runs the op through ``impl=<kind>`` and ``impl="ref"`` on identical inputs (see
``compare_with_reference`` in this folder's conftest). The CUDA cases skip without a GPU.
"""

from __future__ import annotations

import pytest
import torch

from cuda_ops import setup_filter, upfirdn2d
from cuda_ops.upfirdn2d_compiled import upfirdn2d_compiled


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
def test_upfirdn2d_matches_reference(kind, case, dtype, kernel_device, compare_with_reference):
    shape, up, down, pad, flip, gain, fname = case
    device = kernel_device(kind)

    def make_inputs(gen):
        f = _filter(fname, gen).to(device)
        make_inputs.f = f
        return [torch.randn(shape, generator=gen, dtype=dtype).to(device).requires_grad_(True)]

    def op(impl):
        return lambda x: upfirdn2d(x, make_inputs.f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, impl=impl)

    compare_with_reference(make_inputs, op(kind), op("ref"), dtype, seed=11)


@pytest.mark.parametrize("case", UPFIRDN_CASES[:6], ids=lambda c: f"{c[0]}-up{c[1]}-down{c[2]}-{c[6]}")
def test_upfirdn2d_cuda_pixel_code_on_cpu(case, kernel_device, tolerance):
    """The per-pixel code the CUDA kernel runs, executed by the C++ module, against the reference."""
    kernel_device("cpp")
    shape, up, down, pad, flip, gain, fname = case
    gen = torch.Generator().manual_seed(5)
    f = _filter(fname, gen)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    got = upfirdn2d_compiled(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, kind="cpp", pixel_mode=True)
    want = upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, impl="ref")
    torch.testing.assert_close(got, want, **tolerance[torch.float64])


def test_cpp_upfirdn2d_passes_gradcheck(kernel_device):
    """The compiled autograd Function's own derivatives are consistent with finite differences."""
    kernel_device("cpp")
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(1, 2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    torch.randn(2, generator=gen, dtype=torch.float64)  # unused: keeps f as it was when one test did both ops
    f = torch.randn(3, 4, generator=gen)
    up = lambda x: upfirdn2d(x, f, up=2, down=1, padding=(1, 2, 0, 1), gain=2.0, impl="cpp")  # noqa: E731
    assert torch.autograd.gradcheck(up, (x,)) and torch.autograd.gradgradcheck(up, (x,))


def test_a_filter_on_another_device_is_refused_before_the_kernel():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="on meta"):
        upfirdn2d(x, torch.ones(2, 2, device="meta"), impl="cpp")
