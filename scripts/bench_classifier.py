"""Seconds per face of the shipped emotion classifier on this machine's CPU.

    python scripts/bench_classifier.py --threads 1 [--attacks 20]
    python scripts/bench_classifier.py --threads 1 --compare RUN1/best.pt RUN2/best.pt [--views centre]

Prints the time per face for one 48×48 uint8 crop at a time (what the CLI does per detected face)
and for batches of 64 float crops (CSV evaluation), for each shipped test-time view set (fast: what
library and bulk code use; accurate: ``facelatent classify``'s default), plus the load average, since
the machine is shared. Attacks run on the fast set, as ``classify --attack`` does. ``--compare`` instead scores checkpoints (a run's ``best.pt`` or a
model folder), their logit-averaged ensembles and the test-time view sets of
``export_classifier.TTA_CANDIDATES`` on PublicTest (the selection split), then each checkpoint's plain
centre + mirror and the best PublicTest entry on PrivateTest (reported, never used to choose). The
PublicTest table also gives the agreement with the FER+ vote majority (faces with votes).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from directions.classifier import EmotionClassifier, build_model, targeted_attack
from directions.emotions import EMOTIONS
from directions.fer2013 import align_ferplus, read_fer2013, read_ferplus_votes

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
    p.add_argument("--compare", type=Path, nargs="+", help="checkpoints or model folders to score on PublicTest")
    p.add_argument("--views", choices=["all", "centre"], default="all", help="with --compare: view sets tried")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.compare:
        compare(args.compare, args.views)
        return
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    batch = torch.from_numpy(rng.integers(0, 256, (64, 1, 48, 48)).astype(np.float32) / 127.5 - 1)
    print(f"threads {args.threads}, load average {os.getloadavg()[0]:.1f}")
    for views in ("fast", "accurate"):
        clf = EmotionClassifier.load(views=views)
        with torch.no_grad():
            clf.predict(crop)
            one = best_of(lambda: clf.predict(crop), args.repeats * 4)
            many = best_of(lambda: clf.predict(batch), args.repeats) / batch.shape[0]
        print(f"{clf.views} views ({len(clf.networks)} network(s) × {2 * len(clf.tta_offsets)}): "
              f"single uint8 crop {one * 1000:.2f} ms/face, "
              f"batch of 64 {many * 1000:.3f} ms/face")
    if args.attacks:
        bench_attacks(EmotionClassifier.load(views="fast"), args.attacks)


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


def _load_any(path: Path) -> EmotionClassifier:
    """A classifier from a training run's checkpoint (eval crop = its training crop) or a model folder."""
    if path.is_dir():
        return EmotionClassifier.load(path)
    ck = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(ck["arch"])
    model.load_state_dict(ck["model"])
    return EmotionClassifier(model.float(), {"arch": ck["arch"], "input_size": 48, "eval_crop": int(ck["crop"])})


def compare(paths: list[Path], views: str) -> None:
    """PublicTest accuracy of each checkpoint, each ensemble (mean logits) and each view set; see the docstring."""
    from itertools import combinations  # noqa: PLC0415

    from classifier_export import ALL_OFFSETS, TTA_CANDIDATES, view_logits, views_of  # noqa: PLC0415

    data = read_fer2013(DATA)
    pub, priv = data.split("PublicTest"), data.split("PrivateTest")
    votes = read_ferplus_votes(DATA.with_name("ferplus_votes.csv"))
    dist, usable = votes.distributions()
    rows = align_ferplus(data, votes)[data.indices("PublicTest")]
    voted = (rows >= 0) & usable[np.clip(rows, 0, None)]
    majority = dist[rows[voted]].argmax(1)
    offsets = ALL_OFFSETS if views == "all" else [[0, 0]]
    sets = TTA_CANDIDATES if views == "all" else {"centre": [[0, 0]]}
    clfs = [_load_any(p) for p in paths]
    logits = [view_logits(c, pub.images, offsets) for c in clfs]
    scores, ferplus = {}, {}
    for size in range(1, len(paths) + 1):
        for members in combinations(range(len(paths)), size):
            for name, subset in sets.items():
                pred = torch.stack([logits[m][views_of(subset, offsets)].mean(0) for m in members]).mean(0).argmax(1)
                scores[(members, name)] = float((pred.numpy() == pub.labels).mean())
                ferplus[(members, name)] = float((pred.numpy()[voted] == majority).mean())
    print(f"threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    print(f"| models | test-time views | PublicTest | PublicTest vs FER+ majority ({int(voted.sum())} faces) |")
    print("|---|---|---:|---:|")
    for key, acc in scores.items():
        print(f"| {' + '.join(str(paths[m]) for m in key[0])} | {key[1]} (×2 mirrored) | {acc * 100:.2f} % | "
              f"{ferplus[key] * 100:.2f} % |")
    best = max(scores, key=lambda k: (scores[k], -len(k[0]), -len(sets[k[1]])))
    reported = [((m,), "centre") for m in range(len(paths))]
    for members, name in reported + ([best] if best not in reported else []):
        priv_logits = [view_logits(clfs[m], priv.images, sets[name]).mean(0) for m in members]
        acc = float((torch.stack(priv_logits).mean(0).argmax(1).numpy() == priv.labels).mean())
        print(f"PrivateTest, {' + '.join(str(paths[m]) for m in members)}, {name}: {acc * 100:.2f} % "
              f"(PublicTest {scores[(members, name)] * 100:.2f} %)")


if __name__ == "__main__":
    main()
