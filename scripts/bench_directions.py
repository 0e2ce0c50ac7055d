"""Benchmark emotion directions: fit on classifier-labelled generator samples, evaluate on held-out ones.

For a generator (-g) and an emotion classifier (--classifier, default the shipped one):

1. draw ``--train`` samples (seed ``--seed``), label them with the classifier (top class, its
   probability as confidence);
2. fit one direction per emotion that has at least two labelled samples, with each ``--methods``
   (mean difference, linear SVM on the most confident half);
3. on ``--eval`` *other* samples (seed ``--seed + 1``), edit at ``--strengths`` (multiples of each
   direction's recommended strength) and report the classifier's edit success rate, the target
   probability's rise, the other emotions' movement and the dlib identity drift.

Prints a table per method (and ``--json`` the full results). Example::

    python scripts/bench_directions.py -g ../shared/fixtures/stylegan2-ada_64_random.pkl --train 256 --eval 16
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from directions.classifier import EmotionClassifier  # noqa: E402
from directions.direction_file import direction_set_from_fits  # noqa: E402
from directions.emotions import EMOTIONS, TARGET_EMOTIONS  # noqa: E402
from directions.evaluation import DlibIdentity, evaluate_directions, format_table  # noqa: E402
from directions.fitting import fit_emotion_directions  # noqa: E402
from directions.labelled_latents import latents_from_samples  # noqa: E402
from inversion.checkpoints import generator_identity, load_generator  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-g", "--generator", default=None, help="generator checkpoint (default: the embedded one)")
    parser.add_argument("--classifier", default=None, help="classifier folder (default: the shipped one)")
    parser.add_argument("--train", type=int, default=256, help="generator samples to fit on")
    parser.add_argument("--eval", type=int, default=16, help="held-out generator samples to edit")
    parser.add_argument("--methods", default="mean,svm")
    parser.add_argument("--strengths", default="1,2,3")
    parser.add_argument("--top-ratio", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-identity", action="store_true", help="skip the dlib identity descriptor")
    parser.add_argument("--json", default=None, help="also write the full results to this JSON file")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    G = load_generator(args.generator, "cpu")
    identity = generator_identity(G)
    clf = EmotionClassifier.load(args.classifier, "cpu")
    describe = None if args.no_identity else DlibIdentity()
    strengths = [float(v) for v in args.strengths.split(",")]
    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          f"{args.threads} thread(s); generator {identity[:12]} ({G.img_resolution} px)")
    start = time.perf_counter()
    data = latents_from_samples(G, clf.predict, args.train, seed=args.seed, batch_size=32)
    print(f"labelled {args.train} samples in {time.perf_counter() - start:.1f} s: {data.describe()}")
    counts = data.class_counts()
    usable = [e for e in TARGET_EMOTIONS if counts[e] >= 2]
    skipped = [e for e in TARGET_EMOTIONS if e not in usable]
    if counts["neutral"] < 2 or not usable:
        raise SystemExit("the classifier labelled too few samples neutral or emotional to fit anything")
    if skipped:
        print(f"skipped (fewer than 2 labelled samples): {', '.join(skipped)}")
    report = {"generator": identity, "train": args.train, "eval": args.eval, "class_counts": counts, "methods": {}}
    for method in args.methods.split(","):
        t0 = time.perf_counter()
        fits = fit_emotion_directions(data.latents, data.labels, data.confidences,
                                      [EMOTIONS.index(e) for e in usable], EMOTIONS.index("neutral"),
                                      method=method, num_ws=G.num_ws, seed=args.seed, top_ratio=args.top_ratio)
        dset = direction_set_from_fits(fits, generator=identity, space="w", num_ws=G.num_ws, w_dim=G.w_dim)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = evaluate_directions(G, dset, clf.predict, describe=describe, num_samples=args.eval,
                                     strengths=strengths, seed=args.seed + 1)
        eval_s = time.perf_counter() - t0
        accuracy = {e: dset.get(e).accuracy for e in dset.emotions}
        print(f"\n== method {method}: fit {fit_s:.1f} s, eval {eval_s:.1f} s; held-out accuracy "
              + ", ".join(f"{e} {a:.2f}" if a is not None else f"{e} -" for e, a in accuracy.items()))
        print(format_table(result))
        report["methods"][method] = {"fit_s": fit_s, "eval_s": eval_s, "accuracy": accuracy, "result": result}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
