"""The judges on the warp's apex frame of faces128 training faces: where the targets' settings were chosen.

    OMP_NUM_THREADS=1 python scripts/bench_training_faces.py [--emotions fear,anger] [--faces 48] [--first-row 200]

The realism benchmark (``scripts/bench_realism.py``) scores the clips of held-out faces; the targets' settings
(fear's, sadness's and disgust's FACS units, the eyes' widening, the wrinkle lines) were chosen on training faces
instead, and this prints how those read. Faces: ``--faces`` faces128 rows from ``--first-row``, pasted and found as
``scripts/search_targets.py`` does (120-200 px on a 300 px grey canvas, seed 0). Each is planned with the
shipped targets (seed 11, 2 s at 10 fps, the default intensity) and its last frame composited, not encoded.

Per emotion: **judges**, the share of faces whose mean p(target) of the two judges (``scripts/judges.py``)
rises by >= 0.05 or stands >= 0.7 and does not fall (``realism_metrics.judged``); **rise**, the mean change of
that p(target); **identity**, the share with dlib descriptor distance < 0.5 (and the mean distance); **p**, the
judges' mean probabilities over the seven labels at the last frame. Rows 200-247 chose most settings; compare
them with rows nobody chose on (248-295) before trusting a gain.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import judges as judges_mod
import realism_metrics as rm
from directions.emotions import EMOTIONS
from directions.evaluation import DlibIdentity
from directions.expression_basis import load_default
from editor.emotion_spec import parse_emotion_spec
from editor.warp_pipeline import SIX_EMOTIONS
from search_targets import apex_frame, training_photos


def judge_probs(image, face, judges) -> np.ndarray:
    """The two judges' mean probabilities ``[7]`` (:data:`directions.emotions.EMOTIONS`) for ``face`` in ``image``."""
    return np.mean([j.probs(judges_mod.to_grey(image), face.box) for j in judges], axis=0)


def read_photos(photos, judges, identity) -> list:
    """``[(judges' probabilities, dlib descriptor)]`` of each photo's face as it is: read once, for every emotion."""
    return [(judge_probs(photo, face, judges), rm.descriptor(identity, photo, face.box)) for photo, face in photos]


def measure(photos, before, emotion: str, judges, identity, model) -> dict:
    """One emotion over ``photos`` (``[(RGB uint8, Face)]``, ``before`` their :func:`read_photos`): judges'
    success, mean rise, identity, mean p."""
    k, spec = EMOTIONS.index(emotion), parse_emotion_spec(emotion)
    judged, rises, distances, probs = [], [], [], []
    for (photo, face), (first_p, first_descriptor) in zip(photos, before):
        last = apex_frame(photo, face, model, spec)
        last_p = judge_probs(last, face, judges)
        judged.append(rm.judged(float(first_p[k]), float(last_p[k])))
        rises.append(float(last_p[k] - first_p[k]))
        distances.append(float(np.linalg.norm(first_descriptor - rm.descriptor(identity, last, face.box))))
        probs.append(last_p)
    return {"judges": float(np.mean(judged)), "rise": float(np.mean(rises)),
            "identity": float(np.mean(np.array(distances) < 0.5)), "distance": float(np.mean(distances)),
            "p": np.mean(probs, axis=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emotions", default=",".join(SIX_EMOTIONS), help="comma-separated (default: all six)")
    parser.add_argument("--faces", type=int, default=48, help="training faces (default 48)")
    parser.add_argument("--first-row", type=int, default=200, help="first faces128 row (default 200)")
    args = parser.parse_args()
    emotions = [e.strip() for e in args.emotions.split(",") if e.strip()]
    unknown = [e for e in emotions if e not in SIX_EMOTIONS]
    if unknown:
        parser.error(f"unknown emotion {unknown[0]!r} (one of {', '.join(SIX_EMOTIONS)})")

    clock = time.perf_counter()
    photos = training_photos(args.faces, args.first_row)
    judges, identity, model = judges_mod.load_judges(), DlibIdentity(), load_default()
    before = read_photos(photos, judges, identity)
    print(f"faces128 rows {args.first_row}-{args.first_row + args.faces - 1}: {len(photos)} faces found")
    print(f"| emotion | judges | rise | identity | distance | p ({', '.join(EMOTIONS)}) |")
    print("|---|---|---|---|---|---|")
    for emotion in emotions:
        m = measure(photos, before, emotion, judges, identity, model)
        p = " ".join(f"{v:.2f}" for v in m["p"])
        print(f"| {emotion} | {m['judges']:.0%} | {m['rise']:+.3f} | {m['identity']:.0%} | {m['distance']:.3f} | {p} |",
              flush=True)
    print(f"\n{time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
