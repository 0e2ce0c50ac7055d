"""LPIPS figures: distances on the LPIPS example images and CPU seconds per 256x256 pair.

Usage: python scripts/bench_lpips.py [--shared ../shared] [--threads 1] [--repeats 5]
Prints the (ref, p0) and (ref, p1) distances for AlexNet and VGG16, then the median seconds of a
forward pass and of a forward + backward pass (gradient to one input, as the projector uses it)
on one pair of random 256x256 images.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inversion.projection.lpips import LPIPS


def load(path: Path) -> torch.Tensor:
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None] / 127.5 - 1.0


def seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads {args.threads}")
    folder = args.shared / "fixtures" / "lpips"
    ref, p0, p1 = (load(folder / f"ex_{n}.png") for n in ("ref", "p0", "p1"))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 256, 256, generator=gen) * 2 - 1
    y = torch.rand(1, 3, 256, 256, generator=gen) * 2 - 1
    for net in ("alex", "vgg"):
        model = LPIPS(net)
        with torch.no_grad():
            d0, d1 = model(ref, p0).item(), model(ref, p1).item()

        def forward():
            with torch.no_grad():
                model(x, y)

        def backward():
            xg = x.clone().requires_grad_(True)
            model(xg, y).sum().backward()

        fwd, bwd = seconds(forward, args.repeats), seconds(backward, args.repeats)
        print(f"{net:<5} d(ref,p0)={d0:.4f} d(ref,p1)={d1:.4f}  256x256 pair: forward {fwd:.3f} s, "
              f"forward+backward {bwd:.3f} s")


if __name__ == "__main__":
    main()
