"""Generator throughput (images/s): 64, 256 and 1024 px, batch 1 and 8, reference ops vs compiled ops.

Random weights with official config-f-like channel counts (``min(32768 // r, 512)`` per resolution,
z/w 512, 8 mapping layers), multiplied by ``--channel-scale`` to keep CPU runs short. Each
configuration runs the mapping + synthesis (``noise_mode="const"``) with ``FACELATENT_OPS=ref``
and then with the compiled ops (``auto``: the C++ kernel on the CPU, CUDA on a GPU) side by side in
one process (alternating rounds, best of each), and says which implementation actually ran (``auto`` falls back to the reference when
a build fails). Example::

    python scripts/bench_generator.py --threads 2
    python scripts/bench_generator.py --resolutions 64 256 --batches 1 8 --device cuda
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from cuda_ops.dispatch import resolve_impl
from inversion.networks.stylegan2 import Generator


def make_generator(resolution: int, channel_scale: float, device: torch.device) -> Generator:
    torch.manual_seed(resolution)
    G = Generator(z_dim=512, w_dim=512, img_resolution=resolution, img_channels=3,
                  mapping_kwargs={"num_layers": 8},
                  synthesis_kwargs={"channel_base": int(32768 * channel_scale),
                                    "channel_max": max(1, int(512 * channel_scale)),
                                    "num_fp16_res": 4, "conv_clamp": 256})
    return G.eval().requires_grad_(False).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def seconds_per_iteration(G: Generator, batch: int, iterations: int, device: torch.device) -> float:
    z = torch.randn([batch, G.z_dim], generator=torch.Generator().manual_seed(0)).to(device)
    _sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        G.synthesis(G.mapping(z), noise_mode="const")
    _sync(device)
    return (time.perf_counter() - start) / iterations


@torch.no_grad()
def warm_up(G: Generator, device: torch.device) -> None:
    """One small run per implementation: builds the ops on first use, fills caches."""
    for mode in ("ref", "auto"):
        os.environ["FACELATENT_OPS"] = mode
        seconds_per_iteration(G, 1, 1, device)


def best_rates(G: Generator, batch: int, iterations: int, rounds: int, device: torch.device) -> dict:
    """Images/s per implementation: the best of ``rounds`` alternating rounds (shared machines are noisy)."""
    best = {"ref": 0.0, "auto": 0.0}
    for _ in range(rounds):
        for mode in ("ref", "auto"):
            os.environ["FACELATENT_OPS"] = mode
            best[mode] = max(best[mode], batch / seconds_per_iteration(G, batch, iterations, device))
    return best


def run(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, threads {torch.get_num_threads()}, "
          f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, channel scale "
          f"{args.channel_scale}, best of {args.rounds} alternating rounds")
    print(f"{'res':>5} {'batch':>5} {'iters':>5} {'ref img/s':>10} {'compiled img/s':>15} {'compiled ran':>13} {'speed-up':>8}")
    for resolution in args.resolutions:
        G = make_generator(resolution, args.channel_scale, device)
        warm_up(G, device)
        iterations = args.iterations if resolution < 1024 else 1
        for batch in args.batches:
            rates = best_rates(G, batch, iterations, args.rounds, device)
            used = resolve_impl("auto", device, torch.float32)
            print(f"{resolution:>5} {batch:>5} {iterations:>5} {rates['ref']:>10.3f} {rates['auto']:>15.3f} "
                  f"{used:>13} {rates['auto'] / rates['ref']:>7.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per round (1024 px: 1)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating ref/compiled rounds; the best counts")
    parser.add_argument("--channel-scale", type=float, default=0.5, help="multiplies config-f's channel counts")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run(args)


if __name__ == "__main__":
    main()
