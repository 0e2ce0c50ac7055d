"""Side-by-side timing of the op implementations (reference, C++, CUDA) on StyleGAN-sized tensors.

    python scripts/bench_ops.py [--batch 8 --channels 512 --res 32 --repeats 7 --threads 2 --backward]

Prints a Markdown table (median ms per call, speed-up over the reference measured in the same
run) with the machine it ran on, for docs/BENCHMARKS.md. The first run builds the kernels.
"""

from __future__ import annotations

import argparse
import os
import platform

import torch

from cuda_ops.diagnostics import benchmark_ops, kernel_status


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--res", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--backward", action="store_true", help="also time forward + backward")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    status = kernel_status()
    rows = benchmark_ops(batch=args.batch, channels=args.channels, res=args.res, repeats=args.repeats,
                         backward=args.backward)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"machine: {_cpu_name()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
          f"{args.threads} threads, GPU: {gpu}")
    for kind, st in status.items():
        print(f"{kind} kernels: {'available' if st['available'] else 'unavailable'} ({st['detail']})")
    print(f"\ninput [{args.batch}, {args.channels}, {args.res}, {args.res}] float32, "
          f"{'forward and forward+backward' if args.backward else 'forward'}, "
          f"median of {args.repeats}\n")
    print("| op | device | impl | ms / call | speed-up vs ref |")
    print("|---|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['op']} | {r['device']} | {r['impl']} | {r['ms']:.1f} | {r['speedup']:.2f}x |")


if __name__ == "__main__":
    main()
