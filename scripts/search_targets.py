"""Search the warp's expression target that the shipped classifier reads best on training faces.

    OMP_NUM_THREADS=1 python scripts/search_targets.py anger [--faces 24] [--first-row 300] [--write]

Where neither the data's mean of strong examples, the generator's edits nor a FACS prototype moves a
face so that it reads as its emotion, the target can be searched: the expression basis's coefficients
(:mod:`directions.target_search`, a coordinate search inside the range of real faces) are rated by how
much the **shipped** classifier's p(emotion) rises, on average, from the photo to the warp's apex frame.

Faces: ``--faces`` faces128 rows from ``--first-row`` (training rows: the classifier's and the basis's
training data, never the realism benchmark's hold-out, the last 50 rows), each pasted at 120-200 px on a
300 px grey canvas (seed 0), found by MTCNN. Each rating plans and composites the apex frame of a 2 s clip
at 10 fps (seed 11, the default intensity) with the candidate as the emotion's target and every other
emotion's shipped target, and reads the classifier on the tight 48 px crop of the photo's landmarks.
The judges (``scripts/judges.py``) are never used here: they stay independent of what is shipped.

``--write`` saves the result in ``directions/models/expression_basis/classifier_targets.json`` (the other
emotions already there are kept); ``editor.warp_pipeline.TARGET_SOURCES`` says which emotions use it.
About 12 s per rating (24 faces, one thread); 2 sweeps of 8 coefficients x 4-5 values: about 16 minutes
(anger: 75 ratings, 968 s).
"""

from __future__ import annotations

import argparse
import itertools
import time

import cv2
import numpy as np


def training_photos(count: int, first_row: int, seed: int = 0) -> list:
    """``[(RGB uint8 [300, 300, 3], Face)]``: faces128 training faces pasted on plain canvases, found by MTCNN."""
    from common import FACES128, grey_to_rgb, read_faces128  # noqa: PLC0415
    from inversion.faces.detection import find_faces  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    out = []
    for _, _, grey, _ in itertools.islice(read_faces128(FACES128), first_row, first_row + count):
        canvas = np.full((300, 300), int(rng.integers(90, 170)), np.uint8)
        size = int(rng.integers(120, 200))
        at = 150 - size // 2
        canvas[at:at + size, at:at + size] = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
        photo = grey_to_rgb(canvas)
        faces = find_faces(photo).faces
        if faces:
            out.append((photo, faces[0]))
    return out


def classifier_probs(clf, image: np.ndarray, face) -> np.ndarray:
    """The shipped classifier's probabilities ``[7]`` (:data:`directions.emotions.EMOTIONS`) for ``face`` in
    ``image`` (RGB uint8), read on the tight 48 px crop of its landmarks."""
    import torch  # noqa: PLC0415

    from inversion.faces.alignment import align_face  # noqa: PLC0415

    crop = align_face(image, face.landmarks68, size=48, variant="tight").image
    with torch.no_grad():
        return clf.predict([crop])[0].numpy()


def apex_frame(photo: np.ndarray, face, model, spec, targets: dict | None = None) -> np.ndarray:
    """The warp's last frame (RGB uint8, composited, not encoded) of ``face`` in ``photo`` moving to ``spec``: a
    2 s clip at 10 fps, seed 11, the default intensity, ``targets`` (default the shipped ones)."""
    from editor.trajectory import DEFAULT_INTENSITY  # noqa: PLC0415
    from editor.warp_compositor import WarpCompositor  # noqa: PLC0415
    from editor.warp_pipeline import plan_warp_faces  # noqa: PLC0415

    plan = plan_warp_faces(photo, [face.landmarks68], model, spec, 11, 2.0, 10, DEFAULT_INTENSITY, targets=targets)
    return WarpCompositor(photo, plan).frame(19)


def classifier_rise(photos, emotion: str, clf, model, targets: dict):
    """``score(candidate [K]) -> float``: mean rise of the classifier's p(emotion), photo -> apex frame."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from editor.emotion_spec import parse_emotion_spec  # noqa: PLC0415

    k, spec = EMOTIONS.index(emotion), parse_emotion_spec(emotion)

    def p_target(image, face) -> float:
        return float(classifier_probs(clf, image, face)[k])

    before = [p_target(photo, face) for photo, face in photos]

    def score(candidate: np.ndarray) -> float:
        chosen = {**targets, emotion: candidate}
        rises = []
        for (photo, face), p0 in zip(photos, before):
            rises.append(p_target(apex_frame(photo, face, model, spec, chosen), face) - p0)
        return float(np.mean(rises))

    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("emotion", choices=("joy", "fear", "anger", "sadness", "disgust", "surprise"))
    parser.add_argument("--faces", type=int, default=24, help="training faces rated (default 24)")
    parser.add_argument("--first-row", type=int, default=300, help="first faces128 row (default 300)")
    parser.add_argument("--values", type=int, default=5, help="values tried per coefficient and sweep (default 5)")
    parser.add_argument("--sweeps", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="save into the expression basis's classifier targets")
    args = parser.parse_args()

    import torch  # noqa: PLC0415

    from directions.classifier import EmotionClassifier  # noqa: PLC0415
    from directions.expression_basis import DEFAULT_DIR, load_default, load_targets, save_targets  # noqa: PLC0415
    from directions.target_search import coordinate_search  # noqa: PLC0415
    from editor.warp_pipeline import TARGET_SOURCES, distinctive_targets, shipped_targets  # noqa: PLC0415
    from inversion.common.errors import CheckpointError  # noqa: PLC0415

    torch.set_num_threads(1)
    clock = time.perf_counter()
    model, targets = load_default(), dict(shipped_targets())
    photos = training_photos(args.faces, args.first_row)
    score = classifier_rise(photos, args.emotion, EmotionClassifier.load(), model, targets)
    most = args.sweeps * model.low.size * args.values + 1

    def progress(done: int, best: float) -> None:
        print(f"\r{done} of at most {most} ratings, best mean rise {best:+.3f}", end="", flush=True)

    # the search starts from the target the emotion has without a search (the data's, or its FACS prototype)
    unsearched = {name: source for name, source in TARGET_SOURCES.items() if source != "classifier"}
    start = distinctive_targets(model, None, unsearched)[args.emotion]
    result = coordinate_search(score, start, model.low, model.high, args.values, args.sweeps, progress)
    print(f"\n{args.emotion} on {len(photos)} faces: unsearched target's mean rise {result.start_score:+.3f}, "
          f"searched {result.score:+.3f} ({result.evaluations} ratings, {time.perf_counter() - clock:.0f} s)")
    print("searched target:", np.round(result.best, 3).tolist())
    for sweep, dim, value, rated in result.steps:
        print(f"  sweep {sweep} coefficient {dim} -> {value:+.3f}: {rated:+.3f}")
    if args.write:
        try:
            kept = load_targets("classifier")
        except CheckpointError:
            kept = {}
        kept[args.emotion] = result.best
        path = save_targets(DEFAULT_DIR, "classifier", kept, {
            "command": "OMP_NUM_THREADS=1 python scripts/search_targets.py EMOTION --write",
            "faces": f"faces128 rows {args.first_row}-{args.first_row + args.faces - 1}, {len(photos)} found",
            "score": "mean rise of the shipped classifier's p(emotion), photo -> apex", "values": args.values,
            "sweeps": args.sweeps})
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
