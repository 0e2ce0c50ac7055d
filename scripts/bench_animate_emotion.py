"""Does the video show the emotion? The classifier's probability of each target emotion, per face.

    python scripts/bench_animate_emotion.py                       # embedded default models, 2008_001322.jpg
    python scripts/bench_animate_emotion.py PHOTO --seed 3 --intensity 1
    python scripts/bench_animate_emotion.py PHOTO -g G.pkl -d G-emotions.pt

For each of the six emotions the animate pipeline (``editor.pipeline.animate_photo``, as
``facelatent animate`` runs it) makes a short video (2 s at 10 fps by default) of the photo; the
shipped emotion classifier (or ``--classifier``) then reads, for every animated face (left to
right):

* the first and the last frame of the video, with the faces detected in each frame (the head moves,
  so the photo's landmarks would misalign the crops), aligned tightly at 48 px as
  ``facelatent classify`` does;
* the generator's own renderings of the face's first and last latent of the path.

Prints a markdown table (probabilities of the target emotion, faces separated by spaces; "-" where
no face was detected near an animated one; "rises": the faces whose probability is higher, unrounded,
on the last frame or latent than on the first), the run's settings, the generator's identity and the
load average. Nothing is hard-coded about the generator: it is whatever ``-g`` (default the
embedded one) loads, with ``-d`` (default the embedded directions). Seconds on one core: about 10
per emotion for three 64 px faces.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import match_faces

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EMOTIONS6 = ("joy", "fear", "anger", "sadness", "disgust", "surprise")


def video_probs(clf, frame: np.ndarray, boxes, emotion: str) -> list[float | None]:
    """Target probability for each animated face in a video frame (faces detected in the frame)."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from directions.face_classification import classify_photo  # noqa: PLC0415

    found = [{"box": f.box, "probs": dict(zip(EMOTIONS, f.probs))} for f in classify_photo(clf, frame)]
    return [None if f is None else float(f["probs"][emotion]) for f in match_faces(boxes, found)]


def generator_probs(clf, G, faces, paths, emotion: str) -> tuple[list[float], list[float]]:
    """Target probability on the generator's renderings of each face's first and last latent."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from inversion.common.images import tensor_to_images  # noqa: PLC0415
    from editor.face_edit import render_latents  # noqa: PLC0415

    index = EMOTIONS.index(emotion)
    first, last = [], []
    for face, path in zip(faces, paths):
        ends = torch.stack([path[0], path[-1]]).to(G.mapping.w_avg.device)
        images = tensor_to_images(render_latents(G, ends, face.noise, face.synthesis).clamp(-1, 1))
        with torch.no_grad():
            probs = clf.predict(list(images))[:, index]
        first.append(float(probs[0]))
        last.append(float(probs[1]))
    return first, last


def cells(values) -> str:
    return " ".join("-" if v is None else f"{v:.3f}".lstrip("0") for v in values)


def rises(first, last) -> str:
    pairs = [(a, b) for a, b in zip(first, last) if a is not None and b is not None]
    return f"{sum(b > a for a, b in pairs)}/{len(pairs)}"


def run_emotion(emotion: str, photo, G, directions, clf, models: dict, args, out_dir: Path) -> dict:
    """One pipeline run for ``emotion``: returns the table row's values and its seconds."""
    from editor.emotion_spec import parse_emotion_spec  # noqa: PLC0415
    from editor.animate_job import AnimateOptions
    from editor.pipeline import animate_photo, plan_paths  # noqa: PLC0415
    from editor.video import read_video  # noqa: PLC0415

    options = AnimateOptions(emotion=parse_emotion_spec(emotion), seed=args.seed, duration=args.duration,
                             fps=args.fps, intensity=args.intensity, steps=args.steps, preview_frames=0,
                             faces=args.faces)
    start = time.perf_counter()
    video = out_dir / f"{emotion}.mp4"
    result = animate_photo(photo, G, directions, video, options, **models)
    _, paths, _ = plan_paths(result.faces, directions, options)  # the run's paths (same seed, same plan)
    frames = read_video(video)
    boxes = [f.box for f in result.faces]
    row = {"video_first": video_probs(clf, frames[0], boxes, emotion),
           "video_last": video_probs(clf, frames[-1], boxes, emotion)}
    row["gen_first"], row["gen_last"] = generator_probs(clf, G, result.faces, paths, emotion)
    row["seconds"] = time.perf_counter() - start
    row["faces"] = result.animated
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", default=str(SHARED / "data" / "photos" / "2008_001322.jpg"))
    parser.add_argument("-g", "--generator", default=None, help="generator (default: the embedded one)")
    parser.add_argument("-d", "--directions", default=None, help="direction file (needed with -g)")
    parser.add_argument("--classifier", default=None, help="classifier folder (default: the shipped one)")
    parser.add_argument("--emotions", default=",".join(EMOTIONS6))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--intensity", type=float, default=0.7)
    parser.add_argument("--steps", type=int, default=40, help="projector steps per face (the CLI default)")
    parser.add_argument("--faces", default=None, help="face indices, e.g. 0,2 (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.faces = [int(v) for v in args.faces.split(",")] if args.faces else None

    from directions.classifier import EmotionClassifier  # noqa: PLC0415
    from directions.direction_file import load_directions  # noqa: PLC0415
    from directions.default_directions import resolve_directions  # noqa: PLC0415
    from inversion.checkpoints import generator_identity, load_generator  # noqa: PLC0415
    from inversion.projection.encoder import encoder_for  # noqa: PLC0415
    from inversion.common.errors import FaceLatentError  # noqa: PLC0415
    from inversion.common.images import read_photo  # noqa: PLC0415
    from inversion.projection.lpips import LPIPS  # noqa: PLC0415

    try:
        G = load_generator(args.generator, "cpu")
        identity = generator_identity(G)
        directions = load_directions(resolve_directions(args.generator and Path(args.generator),
                                                        args.directions and Path(args.directions)), identity)
        photo = read_photo(args.photo)
    except FaceLatentError as err:
        sys.exit(f"error: {err}")
    clf = EmotionClassifier.load(args.classifier)
    models = {"lpips": LPIPS("alex") if args.steps > 0 else None, "encoder": encoder_for(G)}
    emotions = [e.strip() for e in args.emotions.split(",") if e.strip()]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench_animate_emotion_") as tmp:
        for emotion in emotions:
            try:
                rows[emotion] = run_emotion(emotion, photo, G, directions, clf, models, args, Path(tmp))
            except FaceLatentError as err:  # no face, a bad emotion name, faces out of range
                sys.exit(f"error: {err}")
    faces = next(iter(rows.values()))["faces"]
    print(f"photo {Path(args.photo).name}, faces {faces} (left to right), generator "
          f"{args.generator or 'embedded default'} ({G.img_resolution} px, {G.img_channels} ch, identity "
          f"{identity[:12]}), seed {args.seed}, {args.duration:g} s at {args.fps:g} fps, intensity "
          f"{args.intensity:g}, {args.steps} projector steps, {args.threads} thread(s), load average "
          f"{os.getloadavg()[0]:.1f}, {sum(r['seconds'] for r in rows.values()):.0f} s in all\n")
    print("| emotion | video, first frame | video, last frame | rises | generator, first | generator, last | rises |")
    print("|---|---|---|---|---|---|---|")
    for emotion, r in rows.items():
        print(f"| {emotion} | {cells(r['video_first'])} | {cells(r['video_last'])} | "
              f"{rises(r['video_first'], r['video_last'])} | {cells(r['gen_first'])} | {cells(r['gen_last'])} | "
              f"{rises(r['gen_first'], r['gen_last'])} |")


if __name__ == "__main__":
    main()
