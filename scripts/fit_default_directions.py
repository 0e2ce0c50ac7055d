"""Fit the default direction set of the embedded default generator: six emotions + blink, in W+.

One deterministic command (about 5-8 minutes on one core) that writes the whole shipped file
``directions/models/default_directions/directions.pt`` for whatever generator
``load_generator(None)`` currently is (its identity goes into the file):

1. the FER2013 **Training** faces of the face-data file (tight-aligned 64 px, made by
   ``scripts/prepare_face_data.py``; PublicTest/PrivateTest are never used here) are encoded with
   the default encoder into W+;
2. emotions: per emotion the difference of the class centroids, emotion minus neutral, *per layer*
   in W+ (``--method mean --space w+``, :func:`directions.fitting.fit_emotion_directions`) on
   FER2013's original labels. FER2013's classes differ in lighting too (the fear, disgust and surprise
   mean differences brighten the whole face), so each direction is also tried with its component along the latent
   brightness direction (ridge regression of the faces' mean grey level) removed, InterFaceGAN's
   conditional projection; the variant is kept where its calibration success (step 4) is higher
   by at least 0.05;
3. blink: the eye aspect ratio of the renders of ``--blink-faces`` encoded Training faces
   (dlib 68 landmarks), a ridge regression latent -> EAR, its normal negated
   (:mod:`directions.blink`); stored under ``extras["blink"]``;
4. recommended strengths are measured (:mod:`directions.calibration`) on ``--calibration``
   encoded Training *neutral* faces: the smallest strength at which three quarters of them are
   classified as the target by the shipped classifier (blink: mean EAR <= 0.2; where the level is
   never reached, the strength with the highest share), capped where the mean dlib identity drift
   exceeds 0.5 (:mod:`directions.calibration`).

    python scripts/fit_default_directions.py [--json figures.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from directions.blink import EAR_CLOSED, fit_attribute_direction, fit_blink_direction, render_ear  # noqa: E402
from directions.calibration import DRIFT_LIMIT, SUCCESS_LEVEL, calibrate, success_score  # noqa: E402
from directions.classifier import EmotionClassifier  # noqa: E402
from directions.direction_file import DirectionSet, EmotionDirection, now_iso, save_directions  # noqa: E402
from directions.emotions import EMOTIONS  # noqa: E402
from directions.encoded_faces import encode_images, fer_faces, pick  # noqa: E402
from directions.evaluation import DlibIdentity  # noqa: E402
from directions.fitting import expand_direction, fit_emotion_directions, latent_features, orthogonalize  # noqa: E402
from inversion.checkpoints import generator_identity, load_generator  # noqa: E402
from inversion.common.errors import FaceLatentError  # noqa: E402
from inversion.projection.encoder import encoder_for  # noqa: E402

OUT = ROOT / "directions" / "models" / "default_directions" / "directions.pt"
DATA = Path("/work/runs/facedata/faces64.npz")
#: The brightness-free variant must beat the plain direction's calibration success by this much
#: (3 of 48 faces) to be kept: smaller differences are noise.
MIN_GAIN = 0.05
FER_CSV = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="face-data file of scripts/prepare_face_data.py")
    p.add_argument("--fer-csv", type=Path, default=FER_CSV, help="FER2013 CSV (for its Usage column)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--json", type=Path, default=None, help="also write the fitting figures here")
    p.add_argument("--method", choices=("mean", "svm"), default="mean")
    p.add_argument("--space", choices=("w", "w+"), default="w+")
    p.add_argument("--svm-c", type=float, default=0.01, help="SVM penalty (--method svm)")
    p.add_argument("--calibration", type=int, default=48, help="Training neutral faces to measure strengths on")
    p.add_argument("--identity-faces", type=int, default=16, help="of those, faces the identity drift is measured on")
    p.add_argument("--blink-faces", type=int, default=1500, help="Training faces whose renders' EAR fit the blink")
    p.add_argument("--no-brightness-variant", action="store_true",
                   help="keep each emotion's direction as fitted (do not also try it minus its brightness component)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def fit_emotions(ws: torch.Tensor, labels: np.ndarray, args, num_ws: int) -> dict:
    """{emotion index: FittedDirection} of the six emotions against neutral."""
    targets = [EMOTIONS.index(e) for e in EMOTIONS if e != "neutral"]
    lab = torch.from_numpy(labels)
    options = {"c": args.svm_c} if args.method == "svm" else {}
    return fit_emotion_directions(ws, lab, torch.ones(len(lab)), targets, EMOTIONS.index("neutral"),
                                  method=args.method, space=args.space, num_ws=num_ws, seed=args.seed, **options)


def as_offset(vector: torch.Tensor, num_ws: int) -> torch.Tensor:
    """A fitted vector as a unit W+ offset [num_ws, w_dim] (a W vector repeated on every layer)."""
    offset = vector if vector.ndim == 2 else vector[None].expand(num_ws, -1)
    return (offset / offset.norm()).float().contiguous()


def fit_blink(G, ws: torch.Tensor, args) -> tuple[torch.Tensor, dict]:
    """(unit W+ blink offset [num_ws, w_dim], figures) from the renders' EAR of a seeded subset."""
    chosen = np.sort(np.random.default_rng(args.seed + 1).permutation(len(ws))[: args.blink_faces])
    ear = render_ear(G, ws[chosen])
    vector, corr = fit_blink_direction(latent_features(ws[chosen], "w+"), ear)
    offset = expand_direction(vector, "w+", tuple(range(G.num_ws)), G.num_ws, G.w_dim)
    return offset, {"faces": len(chosen), "ear_mean": float(ear.mean()), "ear_p5": float(np.percentile(ear, 5)),
                    "model_correlation": corr}


def entry(name: str, offset: torch.Tensor, method: str, cal: dict, counts: dict, accuracy=None) -> EmotionDirection:
    rec = float(cal["strength"])
    return EmotionDirection(emotion=name, vector=offset, method=method, layers=tuple(range(offset.shape[0])),
                            accuracy=accuracy, strength=rec, strength_range=(0.5 * rec, 2.0 * rec),
                            counts=counts, calibration=cal)


def brightness_offset(ws: torch.Tensor, images: np.ndarray, num_ws: int) -> torch.Tensor:
    """Unit W+ offset [num_ws, w_dim] along which the faces' mean brightness grows (ridge regression)."""
    vector = fit_attribute_direction(latent_features(ws, "w+"), images.reshape(len(images), -1).mean(axis=1))
    return vector.float().reshape(num_ws, -1)


def calibrate_emotions(G, fits: dict, calib_ws, brightness, args, clock) -> tuple[dict, dict]:
    """Per emotion: the mean difference as fitted and with its brightness component removed, each
    calibrated; the variant is kept only when its calibration success is higher by :data:`MIN_GAIN`."""
    clf, describe = EmotionClassifier.load(None), DlibIdentity()
    entries, figures = {}, {}
    for index, fit in fits.items():
        name, plain = EMOTIONS[index], as_offset(fit.vector, G.num_ws)
        variants = {fit.method: plain}
        if not args.no_brightness_variant:
            variants[f"{fit.method}-minus-brightness"] = orthogonalize(plain, brightness[None])
        tried = {}
        for method, offset in variants.items():
            tried[method] = calibrate(G, calib_ws, offset, success_score(G, clf.predict, index), SUCCESS_LEVEL,
                                      describe=describe, identity_faces=args.identity_faces)
        method = max(tried, key=lambda m: tried[m]["score"] - (0 if m == fit.method else MIN_GAIN))
        cal = dict(tried[method], alternatives={m: {"strength": c["strength"], "score": c["score"],
                                                    "identity_distance": c["identity_distance"]}
                                                for m, c in tried.items()})
        entries[name] = entry(name, variants[method], method, cal, fit.counts, fit.accuracy)
        figures[name] = dict({k: cal[k] for k in ("strength", "score", "reached", "identity_distance", "capped")},
                             method=method, alternatives=cal["alternatives"])
        print(f"{name}: {method}, strength {cal['strength']:g}, success {cal['score']:.2f}, "
              f"drift {cal['identity_distance']:.2f} ({time.perf_counter() - clock:.0f} s)", file=sys.stderr, flush=True)
    return entries, figures


def blink_entry(G, ws, calib_ws, args) -> tuple[EmotionDirection, dict]:
    """The calibrated blink direction (mean EAR of the calibration renders down to EAR_CLOSED)."""
    offset, figures = fit_blink(G, ws, args)
    ear_score = lambda w: -float(render_ear(G, w).mean())  # noqa: E731 (higher = more closed)
    cal = calibrate(G, calib_ws[: args.identity_faces], offset, ear_score, -EAR_CLOSED, describe=DlibIdentity(),
                    identity_faces=args.identity_faces)
    figures.update(strength=cal["strength"], ear_at_strength=-cal["score"], identity_distance=cal["identity_distance"])
    return entry("blink", offset, "ridge-ear", cal, {"faces": figures["faces"]}), figures


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    clock = time.perf_counter()
    G = load_generator(None)
    E = encoder_for(G)
    if E is None:
        raise SystemExit("error: the default generator has no matching encoder (re-export both)")
    images, labels = fer_faces(args.data, args.fer_csv, "Training")
    ws = encode_images(E, images)
    print(f"encoded {len(ws)} Training faces in {time.perf_counter() - clock:.0f} s", file=sys.stderr, flush=True)
    fits = fit_emotions(ws, labels, args, G.num_ws)
    calib_ws = ws[torch.from_numpy(pick(labels, EMOTIONS.index("neutral"), args.calibration, args.seed))]
    brightness = brightness_offset(ws, images, G.num_ws)
    entries, figures = calibrate_emotions(G, fits, calib_ws, brightness, args, clock)
    blink, figures["blink"] = blink_entry(G, ws, calib_ws, args)
    settings = {"method": args.method, "space": args.space, "labels": "fer2013 original", "seed": args.seed,
                "svm_c": args.svm_c if args.method == "svm" else None, "calibration_faces": len(calib_ws),
                "variants": f"as fitted, or minus its brightness component where that raises calibration "
                            f"success by >= {MIN_GAIN}",
                "strength": f"measured: smallest with >= {SUCCESS_LEVEL:.0%} calibration success (else the best; "
                            f"blink: mean EAR <= {EAR_CLOSED}), capped at mean dlib drift {DRIFT_LIMIT}"}
    data_text = (f"FER2013 Training faces ({len(ws)}, original labels), tight-aligned 64 px, encoded with the "
                 f"default encoder (W+); strengths measured on {len(calib_ws)} Training neutral faces")
    directions = DirectionSet(generator=generator_identity(G), space="w+", num_ws=G.num_ws, w_dim=G.w_dim,
                              directions=entries, data=data_text, settings=settings, created=now_iso(),
                              extras={"blink": blink})
    save_directions(directions, args.out)
    report = {"out": str(args.out), "generator": directions.generator, "faces": len(ws),
              "seconds": round(time.perf_counter() - clock, 1), "directions": figures}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FaceLatentError as err:  # bad input (missing data file, other generator): one line, no traceback
        sys.exit(f"error: {err}")
