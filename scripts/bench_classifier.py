"""Seconds per face of the shipped emotion classifier on this machine's CPU.

    python scripts/bench_classifier.py --threads 1

Prints the time per face for one 48×48 uint8 crop at a time (what the CLI does per detected face)
and for batches of 64 float crops (CSV evaluation), both with flip TTA, plus the load average,
since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from directions.classifier import EmotionClassifier  # noqa: E402


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    clf = EmotionClassifier.load()
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    batch = torch.from_numpy(rng.integers(0, 256, (64, 1, 48, 48)).astype(np.float32) / 127.5 - 1)
    with torch.no_grad():
        clf.predict(crop)
        one = best_of(lambda: clf.predict(crop), args.repeats * 4)
        many = best_of(lambda: clf.predict(batch), args.repeats) / batch.shape[0]
    print(f"threads {args.threads}, load average {os.getloadavg()[0]:.1f}")
    print(f"single uint8 crop: {one * 1000:.2f} ms/face")
    print(f"batch of 64:       {many * 1000:.3f} ms/face")


if __name__ == "__main__":
    main()
