"""Benchmark emotion directions: on encoded held-out real faces, or on classifier-labelled generator samples.

``--heldout`` (the embedded default generator + encoder; see :func:`heldout_benchmark`): the shipped
direction file (``-d``) at multiples of its recommended strengths, and directions fitted here on
FER2013 Training faces (``--fits``, e.g. mean and svm in W+, mean in W) at absolute strengths, all
judged on encoded FER2013 **PublicTest** neutral faces (never used for fitting or calibrating)::

    python scripts/bench_directions.py --heldout --json /tmp/bench_directions.json \
        --grid directions/models/default_directions/edits.png
    python scripts/bench_directions.py --video ../shared/data/photos/2008_001322.jpg   # end to end

Otherwise, for a generator (-g) and an emotion classifier (--classifier, default the shipped one):

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

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from directions.classifier import EmotionClassifier  # noqa: E402
from directions.direction_file import direction_set_from_fits, load_directions, wplus_set_from_fits  # noqa: E402
from directions.emotions import EMOTIONS, TARGET_EMOTIONS  # noqa: E402
from directions.encoded_faces import encode_images, fer_faces, pick  # noqa: E402
from directions.evaluation import DlibIdentity, evaluate_directions, format_table  # noqa: E402
from directions.fitting import fit_emotion_directions  # noqa: E402
from directions.labelled_latents import latents_from_samples  # noqa: E402
from inversion.checkpoints import generator_identity, load_generator  # noqa: E402
from inversion.common.errors import FaceLatentError  # noqa: E402
from inversion.projection.encoder import encoder_for  # noqa: E402

#: SVM penalty for --heldout fits (cross-validating it on 1280-wide W+ features takes minutes per emotion).
SVM_C = 0.01


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
    parser.add_argument("--heldout", action="store_true", help="judge on encoded FER2013 PublicTest faces "
                        "(embedded default generator + encoder)")
    parser.add_argument("-d", "--directions", default=None, help="--heldout: direction file (default: the shipped one)")
    parser.add_argument("--data", default="/work/runs/facedata/faces64.npz", help="--heldout: face-data file")
    parser.add_argument("--fer-csv", default=str(REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"))
    parser.add_argument("--faces", type=int, default=32, help="--heldout: PublicTest neutral faces to edit")
    parser.add_argument("--train-per-class", type=int, default=1500, help="--heldout: Training faces per class to fit on")
    parser.add_argument("--fits", default="mean:w+,svm:w+,mean:w", help="--heldout: method:space pairs to fit")
    parser.add_argument("--relative", default="0.5,1,1.5", help="--heldout: multiples of the file's strengths")
    parser.add_argument("--absolute", default="4,8", help="--heldout: latent strengths for the fitted directions")
    parser.add_argument("--video", default=None, metavar="PHOTO", help="instead: per emotion, `facelatent animate "
                        "PHOTO` (2 s, 10 fps, seed 1, default models) and the classifier's p(target) per face on the "
                        "first and last frame")
    parser.add_argument("--grid", default=None, help="--heldout: also save a PNG of 8 held-out faces (rows): "
                        "unedited, each emotion and the blink at the file's recommended strengths (columns)")
    return parser.parse_args(argv)


def fit_heldout_sets(args, G, identity: str, images, labels) -> tuple[dict, int]:
    """{"method:space": unit-W+ DirectionSet} fitted on up to ``--train-per-class`` Training faces per class."""
    E = encoder_for(G)
    chosen = np.sort(np.concatenate([pick(labels, c, args.train_per_class, args.seed) for c in range(len(EMOTIONS))]))
    ws, lab = encode_images(E, images[chosen]), torch.from_numpy(labels[chosen])
    sets = {}
    for pair in args.fits.split(","):
        method, _, space = pair.partition(":")
        options = {"c": SVM_C, "validation_ratio": 0.3} if method == "svm" else {}
        fits = fit_emotion_directions(ws, lab, torch.ones(len(lab)), [EMOTIONS.index(e) for e in TARGET_EMOTIONS],
                                      EMOTIONS.index("neutral"), method=method, space=space or "w+",
                                      num_ws=G.num_ws, seed=args.seed, **options)
        sets[pair] = wplus_set_from_fits(fits, generator=identity, num_ws=G.num_ws, w_dim=G.w_dim)
    return sets, len(chosen)


def summary_rows(name: str, result: dict) -> list[str]:
    """Markdown rows: directions, emotion, recommended strength (relative strengths only), success,
    identity distance and the other emotions' movement per strength."""
    rows = []
    for emotion, entry in result["emotions"].items():
        cells = [c for c in entry["cells"] if c["k"] != 0]
        success = " / ".join(f"{100 * c['success_rate']:.0f}" for c in cells)
        drift = " / ".join(f"{c['identity_distance']:.2f}" if "identity_distance" in c else "-" for c in cells)
        others = " / ".join(f"{c['others_abs_change']:.3f}" for c in cells)
        rec = f"{entry['strength']:.2f}" if result["relative"] else "-"
        rows.append(f"| {name} | {emotion} | {rec} | {success} % | {drift} | {others} |")
    return rows


def save_edit_grid(G, dset, ws: torch.Tensor, path: str) -> None:
    """Rows: faces; columns: unedited, each emotion, then the extras, at recommended strengths (grey PNG)."""
    import cv2  # noqa: PLC0415

    names = list(dset.emotions) + list(dset.extras)
    strengths = [dset.get(n).strength if n in dset.directions else dset.extras[n].strength for n in names]
    columns = [ws] + [ws + s * dset.offset(n) for n, s in zip(names, strengths)]
    with torch.no_grad():
        images = torch.stack([G.synthesis(c, noise_mode="const") for c in columns], dim=1)  # [N, C, 1|3, R, R]
    grey = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().float().mean(dim=2).byte().numpy()
    n, c, r, _ = grey.shape
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    cv2.imwrite(str(tmp), grey.transpose(0, 2, 1, 3).reshape(n * r, c * r))
    tmp.replace(path)
    print(f"grid {path}: columns unedited, {', '.join(f'{n} {s:g}' for n, s in zip(names, strengths))}")


def video_check(photo: str) -> int:
    """Does the video show the emotion? p(target) of each face (left to right) in the first and last frame."""
    import subprocess  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from editor.video import read_video  # noqa: PLC0415
    from inversion.faces.alignment import align_face  # noqa: PLC0415
    from inversion.faces.detection import detect_faces  # noqa: PLC0415
    from inversion.common.images import read_photo  # noqa: PLC0415

    clf = EmotionClassifier.load(None, "cpu")
    height = read_photo(photo).shape[0]
    with tempfile.TemporaryDirectory() as tmp:
        for emotion in TARGET_EMOTIONS:
            out = Path(tmp) / f"{emotion}.mp4"
            subprocess.run(["facelatent", "animate", photo, "--emotion", emotion, "--duration", "2", "--fps", "10",
                            "--seed", "1", "-o", str(out)], check=True, capture_output=True)
            frames = read_video(out)[:, :height]
            row = []
            for frame in (frames[0], frames[-1]):
                faces = sorted(detect_faces(frame), key=lambda f: f.box[0])
                crops = [align_face(frame, f.landmarks68, 48, "tight").image for f in faces]
                row.append(" ".join(f"{p:.3f}" for p in clf.predict(crops)[:, EMOTIONS.index(emotion)]))
            print(f"| {emotion} | {row[0]} | {row[1]} |", flush=True)
    return 0


def heldout_benchmark(args) -> int:
    """Shipped directions and freshly fitted ones, judged on encoded FER2013 PublicTest neutral faces."""
    clock = time.perf_counter()
    G = load_generator(None, "cpu")
    identity = generator_identity(G)
    if encoder_for(G) is None:
        raise SystemExit("error: --heldout needs the embedded default generator with its encoder")
    clf = EmotionClassifier.load(args.classifier, "cpu")
    describe = None if args.no_identity else DlibIdentity()
    held_images, held_labels = fer_faces(args.data, args.fer_csv, "PublicTest")
    neutral = EMOTIONS.index("neutral")
    held = encode_images(encoder_for(G), held_images[pick(held_labels, neutral, args.faces, args.seed)])
    shipped = load_directions(args.directions or REPO / "directions/models/default_directions/directions.pt", identity)
    if args.grid:
        save_edit_grid(G, shipped, encode_images(encoder_for(G), held_images[pick(held_labels, neutral, 8, args.seed)]),
                       args.grid)
    sets, num_train = fit_heldout_sets(args, G, identity, *fer_faces(args.data, args.fer_csv, "Training"))
    report = {"generator": identity, "faces": len(held), "train_faces": num_train, "results": {}}
    jobs = [("shipped (x rec.)", shipped, True, args.relative)] + [(k, v, False, args.absolute) for k, v in sets.items()]
    lines = ["| directions | emotion | rec. strength | success per strength | id dist per strength | others |",
             "|---|---|---|---|---|---|"]
    for name, dset, relative, strengths in jobs:
        ks = [0.0] + [float(v) for v in strengths.split(",")]
        result = evaluate_directions(G, dset, clf.predict, describe=describe, latents=held, strengths=ks,
                                     relative=relative)
        report["results"][name] = result
        print(f"\n== {name} (strengths {strengths}{' x rec.' if relative else ' latent units'}; "
              f"{time.perf_counter() - clock:.0f} s)\n{format_table(result)}", flush=True)
        lines += summary_rows(name, result)
    print(f"\ngenerator {identity[:12]}, {len(held)} PublicTest neutral faces, fitted on {num_train} Training faces; "
          f"{time.perf_counter() - clock:.0f} s\n" + "\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.video:
        return video_check(args.video)
    if args.heldout:
        return heldout_benchmark(args)
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
    try:
        sys.exit(main())
    except FaceLatentError as err:  # bad input (missing data file, other generator): one line, no traceback
        sys.exit(f"error: {err}")
