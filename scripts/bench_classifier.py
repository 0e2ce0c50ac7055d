"""Seconds per face of the shipped emotion classifier on this machine's CPU.

    python scripts/bench_classifier.py --threads 1 [--attacks 20]

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

from directions.classifier import EmotionClassifier, targeted_attack  # noqa: E402
from directions.emotions import EMOTIONS  # noqa: E402
from directions.fer2013 import read_fer2013  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


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
    p.add_argument("--attacks", type=int, default=0, help="also time targeted attacks on this many PrivateTest faces")
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
    if args.attacks:
        bench_attacks(clf, args.attacks)


def bench_attacks(clf: EmotionClassifier, n: int) -> None:
    """Targeted attacks on the first n PrivateTest faces: to the runner-up and to the least likely class."""
    faces = read_fer2013(DATA).split("PrivateTest").images[:n]
    for rank, name in ((1, "runner-up"), (-1, "least likely")):
        linf, psnr, secs = [], [], []
        for face in faces:
            with torch.no_grad():
                order = clf.predict(face)[0].argsort(descending=True)
            t0 = time.perf_counter()
            _, result = targeted_attack(clf, face, EMOTIONS[int(order[rank])])
            secs.append(time.perf_counter() - t0)
            linf.append(result["linf"])
            psnr.append(result["psnr"])
        print(f"attack to the {name} class, {n} faces: L-inf median {np.median(linf):.0f}/255 (max {max(linf)}), "
              f"PSNR median {np.median(psnr):.1f} dB (min {min(psnr):.1f}), {np.median(secs):.1f} s median")


if __name__ == "__main__":
    main()
