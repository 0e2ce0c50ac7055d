"""A grid of one emotion's target on training faces: what the judges see with each variant, which one the shipped
classifier would pick per face, and the best any per-face pick could do.

    OMP_NUM_THREADS=1 python scripts/probe_target_grid.py fear --grid "2=s,1,1.85 5=2,s,3.8 6=s,1.2" \\
        [--faces 48] [--first-row 200]

``--grid`` names expression coefficients (their index in the basis: brows 0-2, lids 3-4, mouth 5-7) and the values
each takes (``s``: the shipped target's own, unrounded); every combination replaces those coefficients of the
emotion's shipped target (the others keep theirs). The printed target is rounded: a grid of its rounded values
is not the shipped target, and on these faces such a rounding alone moves one to three faces.
Faces and clips as ``scripts/bench_training_faces.py`` makes them (faces128 rows pasted on grey canvases, seed 11,
2 s at 10 fps, the last frame composited, not encoded). For each variant: **judges**, the share of faces whose
judges' mean p(target) rises by >= 0.05 or stands >= 0.7 and does not fall (``realism_metrics.judged``); **rise**,
the mean change of that p; **shipped**, the shipped classifier's mean p(target) at the last frame (on the 48 px
tight crop, as ``scripts/search_targets.py`` reads it); **identity**, the share with dlib descriptor distance < 0.5.
Then two picks per face: the variant the shipped classifier reads most strongly as the target (what the product
could do without the judges) and, as a bound, whether any variant reads to the judges (the **oracle**: a pick the
product cannot make, since it would train on the judges). Where the grid holds the shipped target, each variant and
the pick are set against it face by face: the faces only it reads on, only the shipped target reads on, and the
exact McNemar p of that split (``realism_metrics.paired_p``: below about 0.05 a split this uneven is rarely
chance). About 0.3 s per face and variant on one thread.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

import judges as judges_mod
import realism_metrics as rm


def parse_grid(text: str, size: int) -> dict[int, list[float | None]]:
    """``"2=s,1 5=2,3"`` -> ``{2: [None, 1.0], 5: [2.0, 3.0]}`` (``s``, None: the shipped target's own value);
    ValueError (one line) for a malformed grid or a coefficient outside ``[0, size)``."""
    grid: dict[int, list[float | None]] = {}
    for item in text.split():
        index, _, values = item.partition("=")
        try:
            k = int(index)
            numbers = [None if v.strip() == "s" else float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"grid item {item!r} is not COEFFICIENT=VALUE,VALUE,... (s: the shipped value)") from None
        if not 0 <= k < size or not numbers:
            raise ValueError(f"grid item {item!r}: the coefficient must lie in 0-{size - 1} and take a value")
        grid[k] = numbers
    if not grid:
        raise ValueError("the grid names no coefficient")
    return grid


def grid_variants(base: np.ndarray, grid: dict[int, list[float | None]]) -> list[tuple[str, np.ndarray]]:
    """Every combination of the grid's values put into a copy of ``base`` ``[K]`` (None keeps ``base``'s value,
    labelled ``s``): ``[(label, coefficients)]``."""
    out = []
    for values in itertools.product(*grid.values()):
        target = np.array(base, np.float64)
        for k, v in zip(grid, values):
            target[k] = target[k] if v is None else v
        out.append((" ".join(f"{k}={'s' if v is None else f'{v:g}'}" for k, v in zip(grid, values)), target))
    return out


def summarise(first: np.ndarray, last: np.ndarray, shipped: np.ndarray, distances: np.ndarray,
              reference: int | None = None) -> dict:
    """Per variant and per pick, over faces. ``first`` ``[F]`` the judges' mean p(target) on each photo, ``last``
    ``[F, V]`` at each variant's last frame, ``shipped`` ``[F, V]`` the shipped classifier's p(target) there,
    ``distances`` ``[F, V]`` dlib descriptor distances. Returns ``judges``, ``rise``, ``shipped``, ``identity``
    (each ``[V]``), ``picked`` ``[F]`` (the variant the shipped classifier reads most strongly), ``pick_judges``,
    ``pick_identity`` and ``oracle`` (the share of faces some variant reads to the judges); with a ``reference``
    variant (the shipped target), ``versus`` ``[(gained, lost, p)]`` per variant and ``pick_versus``: the faces
    only it / only the reference reads to the judges, and their exact McNemar p (``realism_metrics.paired_p``)."""
    seen = np.array([[rm.judged(float(f), float(v)) for v in row] for f, row in zip(first, last)], bool)
    kept = np.asarray(distances) < 0.5
    picked = np.argmax(shipped, axis=1)
    rows = np.arange(len(first))
    out = {"judges": seen.mean(0), "rise": (last - first[:, None]).mean(0), "shipped": np.mean(shipped, 0),
           "identity": kept.mean(0), "picked": picked, "pick_judges": float(seen[rows, picked].mean()),
           "pick_identity": float(kept[rows, picked].mean()), "oracle": float(seen.any(1).mean())}
    if reference is not None:
        def versus(chosen: np.ndarray) -> tuple[int, int, float]:
            gained = int(np.sum(chosen & ~seen[:, reference]))
            lost = int(np.sum(~chosen & seen[:, reference]))
            return gained, lost, rm.paired_p(gained, lost)

        out["versus"] = [versus(seen[:, v]) for v in range(seen.shape[1])]
        out["pick_versus"] = versus(seen[rows, picked])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("emotion", choices=("joy", "fear", "anger", "sadness", "disgust", "surprise"))
    parser.add_argument("--grid", required=True, help='coefficients and their values, e.g. "2=-0.1,1 5=2,3"')
    parser.add_argument("--faces", type=int, default=48, help="training faces (default 48)")
    parser.add_argument("--first-row", type=int, default=200, help="first faces128 row (default 200)")
    args = parser.parse_args()

    import torch  # noqa: PLC0415

    from bench_training_faces import judge_probs  # noqa: PLC0415
    from directions.classifier import EmotionClassifier  # noqa: PLC0415
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from directions.evaluation import DlibIdentity  # noqa: PLC0415
    from directions.expression_basis import load_default  # noqa: PLC0415
    from editor.emotion_spec import parse_emotion_spec  # noqa: PLC0415
    from editor.warp_pipeline import Targets, shipped_targets  # noqa: PLC0415
    from search_targets import apex_frame, classifier_probs, training_photos  # noqa: PLC0415

    torch.set_num_threads(1)
    model, shipped = load_default(), shipped_targets()
    try:
        grid = parse_grid(args.grid, model.low.size)
    except ValueError as error:
        parser.error(str(error))
    variants = grid_variants(shipped[args.emotion], grid)
    reference = next((v for v, (_, t) in enumerate(variants) if np.array_equal(t, shipped[args.emotion])), None)
    clock = time.perf_counter()
    photos = training_photos(args.faces, args.first_row)
    judges, identity, classifier = judges_mod.load_judges(), DlibIdentity(), EmotionClassifier.load()
    k, spec = EMOTIONS.index(args.emotion), parse_emotion_spec(args.emotion)

    first, last, read, distances = [], [], [], []
    for n, (photo, face) in enumerate(photos, 1):
        first.append(float(judge_probs(photo, face, judges)[k]))
        own = rm.descriptor(identity, photo, face.box)
        row_last, row_read, row_distance = [], [], []
        for _, target in variants:
            targets = Targets({**shipped, args.emotion: target}, shipped.sources)
            frame = apex_frame(photo, face, model, spec, targets)
            row_last.append(float(judge_probs(frame, face, judges)[k]))
            row_read.append(float(classifier_probs(classifier, frame, face)[k]))
            row_distance.append(float(np.linalg.norm(own - rm.descriptor(identity, frame, face.box))))
        last.append(row_last)
        read.append(row_read)
        distances.append(row_distance)
        print(f"\r{n} of {len(photos)} faces, {len(variants)} variants each", end="", flush=True)
    result = summarise(np.array(first), np.array(last), np.array(read), np.array(distances), reference)

    print(f"\n{args.emotion}, faces128 rows {args.first_row}-{args.first_row + args.faces - 1} ({len(photos)} faces "
          f"found); shipped target {np.round(shipped[args.emotion], 2).tolist()}")
    def against(gained_lost_p) -> str:
        gained, lost, p = gained_lost_p
        return f"+{gained} / -{lost} (p {p:.2f})"

    versus = result.get("versus", [None] * len(variants))
    print("| variant | judges | rise | shipped p | identity | picked | against the shipped target |")
    print("|---|---|---|---|---|---|---|")
    counts = np.bincount(result["picked"], minlength=len(variants))
    for v, (label, _) in enumerate(variants):
        shown = "shipped" if v == reference else against(versus[v]) if versus[v] else "-"
        print(f"| {label} | {result['judges'][v]:.0%} | {result['rise'][v]:+.3f} | {result['shipped'][v]:.3f} | "
              f"{result['identity'][v]:.0%} | {counts[v]} | {shown} |")
    print(f"\npicked per face by the shipped classifier: judges {result['pick_judges']:.0%}, identity "
          f"{result['pick_identity']:.0%}" + (f", {against(result['pick_versus'])}" if reference is not None else "")
          + f"; some variant reads to the judges (oracle) on {result['oracle']:.0%}")
    print(f"{time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
