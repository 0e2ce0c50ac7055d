"""What ``facelatent ops check`` and ``ops bench`` report: kernel availability, error, speed.

:func:`check_ops` says, per op and device, which implementation ``auto`` (and the current
``FACELATENT_OPS``) picks, whether the C++/CUDA modules built (or why not), and each kernel's max
abs error against the reference on a test tensor. :func:`benchmark_ops` times each available
implementation on StyleGAN-sized tensors, side by side in one process, relative to the reference.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from cuda_ops.bias_act import bias_act
from cuda_ops.builder import default_builder
from cuda_ops.dispatch import OpsUnavailableError, resolve_impl
from cuda_ops.upfirdn2d import downsample2d, setup_filter, upsample2d


@dataclass(frozen=True)
class OpCase:
    """One op on one input: ``run(impl)`` computes it with that implementation."""

    name: str
    shape: tuple
    run: Callable[[str], torch.Tensor]
    x: torch.Tensor


def op_cases(batch: int, channels: int, res: int, device: torch.device, seed: int = 0,
             requires_grad: bool = False) -> list[OpCase]:
    """The StyleGAN2 uses of the ops on an ``x`` of ``[batch, channels, res, res]`` float32."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, res, res, generator=gen).to(device).requires_grad_(requires_grad)
    b = torch.randn(channels, generator=gen).to(device)
    sep = setup_filter([1, 3, 3, 1], device=device, separable=True)
    full = setup_filter([1, 3, 3, 1], device=device)
    shape = tuple(x.shape)
    return [
        OpCase("bias_act lrelu+gain+clamp", shape,
               lambda impl: bias_act(x, b, act="lrelu", clamp=256.0, impl=impl), x),
        OpCase("upsample2d x2, 4-tap separable", shape, lambda impl: upsample2d(x, sep, impl=impl), x),
        OpCase("upsample2d x2, 4x4 filter", shape, lambda impl: upsample2d(x, full, impl=impl), x),
        OpCase("downsample2d /2, 4-tap separable", shape, lambda impl: downsample2d(x, sep, impl=impl), x),
        OpCase("downsample2d /2, 4x4 filter", shape, lambda impl: downsample2d(x, full, impl=impl), x),
    ]


def devices() -> list[torch.device]:
    """The CPU, and the first CUDA GPU when there is one."""
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def _kernel_kind(device: torch.device) -> str:
    return "cuda" if device.type == "cuda" else "cpp"


def kernel_status() -> dict[str, dict]:
    """Per kernel kind: ``{"available": bool, "detail": why not, or how it was obtained}`` (builds on first call)."""
    builder = default_builder()
    return {kind: dict(zip(("available", "detail"), builder.status(kind))) for kind in ("cpp", "cuda")}


def _describe_choice(impl: Optional[str], device: torch.device) -> str:
    try:
        return resolve_impl(impl, device, torch.float32)
    except (OpsUnavailableError, ValueError) as err:
        return f"error: {err}"


def check_ops(batch: int = 2, channels: int = 16, res: int = 16) -> dict:
    """Availability of the kernels and each op's max abs error against the reference."""
    status = kernel_status()
    rows = []
    for device in devices():
        kind = _kernel_kind(device)
        for case in op_cases(batch, channels, res, device):
            with torch.no_grad():
                ref = case.run("ref")
                error = (case.run(kind) - ref).abs().max().item() if status[kind]["available"] else None
            rows.append({"op": case.name, "device": device.type, "auto": _describe_choice("auto", device),
                         "runs": _describe_choice(None, device), "kernel": kind, "max_abs_error": error})
    return {"kernels": status, "ops": rows}


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds (CUDA synchronised)."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _timed_call(case: OpCase, impl: str, backward: bool) -> Callable[[], object]:
    if not backward:
        return lambda: case.run(impl)

    def forward_backward():
        y = case.run(impl)
        return torch.autograd.grad(y, case.x, torch.ones_like(y))

    return forward_backward


def benchmark_ops(batch: int = 8, channels: int = 512, res: int = 32, repeats: int = 5,
                  backward: bool = False) -> list[dict]:
    """Milliseconds per call of each implementation, and its speed-up over the reference (ref time / time).

    ``backward`` also times forward + backward (gradient with respect to the input) per op.
    """
    status = kernel_status()
    rows = []
    for device in devices():
        kind = _kernel_kind(device)
        impls = ["ref"] + ([kind] if status[kind]["available"] else [])
        for with_grad in (False, True) if backward else (False,):
            for case in op_cases(batch, channels, res, device, requires_grad=with_grad):
                timings = {}
                for impl in impls:
                    with torch.set_grad_enabled(with_grad):
                        timings[impl] = time_call(_timed_call(case, impl, with_grad), device, repeats)
                for impl, seconds in timings.items():
                    rows.append({"op": case.name + (" fwd+bwd" if with_grad else ""), "shape": list(case.shape),
                                 "device": device.type, "impl": impl, "ms": seconds * 1e3,
                                 "speedup": timings["ref"] / seconds})
    return rows
