"""Does an animated face look real? Judges, identity, sharpness, skin paint, folds, jitter per emotion and model.

    OMP_NUM_THREADS=1 python scripts/bench_realism.py                          # the full run (issue 13)
    OMP_NUM_THREADS=1 python scripts/bench_realism.py --faces 4 --fps 15 --emotions joy,fear
    OMP_NUM_THREADS=1 python scripts/bench_realism.py --sheet docs/realism_contact_sheet.jpg --out /tmp/clips

Faces, in this order until ``--faces`` are taken (the same faces for every emotion and model; only faces
whose detector box is at least ``--min-face`` px, by default the width from which the warp gives a face its
full expression, 60 px: smaller faces get less by design, dlib's error there being as large as the
motion; ``--min-face 0`` measures every face the product animates, down to 28 px): the
astronaut, the group photo 2008_001322, a canvas of faces128 hold-out faces (the last 50 rows of
labels.csv, held out by ``scripts/prepare_face_data.py``; 3 per canvas, each pasted at 90-270 px,
plain or blurred background), the other shared group photos, then more canvases. Each photo is animated
by ``editor.pipeline.animate_photo`` (as ``facelatent animate``), one 2 s clip per emotion and motion
model (``AnimateOptions.motion`` where the code has it; else the one motion there is, "flow"), with one
seed; the clip ends in the apex hold. Faces are found again in the frames (MTCNN + dlib 68, matched to
the animated faces as ``scripts/bench_animate_emotion.py`` does). Per face, first frame vs last:

* judges: the mean p(target) of two models the project never trains against (``scripts/judges.py``:
  fer, facex) rises by >= 0.05, or stands at >= 0.7 and does not fall; each judge alone and the
  shipped classifier (tight 48 px crop, as ``facelatent classify``) by the same rule;
* identity: dlib descriptor distance < 0.5 (the detected box in each frame);
* sharpness: Laplacian variance of the face box, last / first; ceiling: the same for the photo
  encoded with no motion (same frame count, crf, preset);
* skin paint: mean |last - first warped by DIS flow| on skin (``scripts/realism_metrics.py``), the flow
  read with Lanczos-4; "Farnebäck": the same with Farnebäck's flow (the measure before 2026-12-03, whose
  floor on a smooth pull of the mouth region with no paint at all is 1.5-1.7x DIS's, see
  ``realism_metrics.skin_paint``);
* folds: min/max area change J of the warp (``AnimateResult.warp_stats``; "-" where absent);
* expression kept: the mean share of the planned expression the fold bound leaves a face (``warp_stats``
  ``expression_scale``; 1 = as planned; the bound scales a face's whole expression until J is in [0.5, 2]);
* jitter: RMS second difference of dlib's landmarks on every k-th frame of the last half (px);
  flicker: mean |f(t+1) - 2f(t) + f(t-1)| over the inner-mouth box during the apex hold;
* seconds per clip (the animate call alone). Shares count a face not found in a frame as a failure;
  the other columns are medians over the faces found.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np
import torch

import judges as judges_mod
import realism_metrics as rm
from common import match_faces

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACELATENT_SHARED", REPO.parent / "shared"))
PHOTOS = SHARED / "data" / "photos"
EMOTIONS6 = ("joy", "fear", "anger", "sadness", "disgust", "surprise")
GROUP = "2008_001322.jpg"
SHEET_SOURCES = ("astronaut.png", GROUP)


def holdout_canvases(seed: int, per_canvas: int = 3) -> list[tuple[str, np.ndarray, list]]:
    """faces128 hold-out faces (last 50 rows) pasted at 90-270 px, a few per plain or blurred canvas.
    Returns (name, RGB canvas, pasted boxes)."""
    from common import FACES128, read_faces128  # noqa: PLC0415

    faces = [grey for _, _, grey, _ in deque(read_faces128(FACES128), maxlen=50)]
    rng = np.random.default_rng(seed)
    backdrop = cv2.cvtColor(cv2.imread(str(PHOTOS / "2008_002079.jpg")), cv2.COLOR_BGR2GRAY)
    out = []
    for k in range(0, len(faces), per_canvas):
        group = faces[k:k + per_canvas]
        sizes = rng.integers(90, 271, len(group))
        gap = 60
        width, height = int(sizes.sum() + gap * (len(group) + 1)), int(sizes.max() + 2 * gap)
        if k // per_canvas % 2:  # blurred: a heavily blurred photo, no face left in it
            canvas = cv2.GaussianBlur(cv2.resize(backdrop, (width, height)), (0, 0), 25)
        else:
            canvas = np.full((height, width), int(rng.integers(90, 170)), np.uint8)
        boxes, x = [], gap
        for face, size in zip(group, sizes):
            y = int(rng.integers(gap // 2, height - size - gap // 2 + 1))
            canvas[y:y + size, x:x + size] = cv2.resize(face, (int(size), int(size)), interpolation=cv2.INTER_AREA)
            boxes.append((x, y, x + int(size), y + int(size)))
            x += int(size) + gap
        out.append((f"holdout{k // per_canvas:02d}", np.repeat(canvas[:, :, None], 3, axis=2), boxes))
    return out


def plan_sources(count: int, seed: int, min_face: float) -> list[dict]:
    """The photos to animate and which detections in each, until ``count`` faces are taken."""
    from inversion.common.images import read_photo  # noqa: PLC0415
    from inversion.faces.detection import find_faces  # noqa: PLC0415
    from editor.animate_job import choose_faces  # noqa: PLC0415

    canvases = iter(holdout_canvases(seed))
    others = sorted(p.name for p in PHOTOS.glob("*.jpg") if p.name != GROUP)
    order = ["astronaut.png", GROUP, next(canvases)] + others
    sources, taken = [], 0
    while taken < count:
        item = order.pop(0) if order else next(canvases, None)
        if item is None:
            break
        name, photo, pasted = (item, read_photo(PHOTOS / item), None) if isinstance(item, str) else item
        found = find_faces(photo).faces
        animated, _ = choose_faces(found, None, min_face)
        if pasted is not None:  # only the pasted faces, never a false detection in the backdrop
            hits = match_faces(pasted, [{"box": found[i].box, "i": i} for i in animated])
            animated = sorted(h["i"] for h in hits if h is not None)
        animated = animated[:count - taken]
        if animated:
            sources.append({"name": name, "photo": photo, "faces": animated})
            taken += len(animated)
    return sources


class InversionCache:
    """``editor.pipeline.invert_photo`` once per photo: the pipeline inverts face ``i`` with seed
    ``invert_seed + i`` whatever the emotion or run seed, so every clip of a photo gets the same
    latents; later clips reuse them (and are charged the first inversion's seconds)."""

    def __init__(self, invert) -> None:
        self.invert, self.store, self.photo, self.charge = invert, {}, None, 0.0

    def __call__(self, photo, G, faces, lpips, settings, **kwargs):
        key = (self.photo, tuple(f.index for f in faces), settings.steps)
        if key not in self.store:
            clock = time.perf_counter()
            result = self.invert(photo, G, faces, lpips, settings, **kwargs)
            self.store[key] = (result, time.perf_counter() - clock)
            return result
        result, self.charge = self.store[key]
        return result


def apex_hold(motion, count: int) -> slice:
    """Frames of the apex hold: from the first frame whose expression (FaceMotion.strength, or the
    norm of an ExpressionPlan's coefficients) reaches 90 % of its peak, to the end."""
    curve = getattr(motion, "strength", None)
    if curve is None:
        curve = np.linalg.norm(np.asarray(motion.coefficients, dtype=np.float64), axis=1)
    curve = np.asarray(curve, dtype=np.float64)[:count]
    start = int(np.argmax(curve >= 0.9 * curve.max())) if curve.size and curve.max() > 0 else count // 2
    return slice(start, count)


def frame_faces(frame: np.ndarray, boxes) -> list:
    """The detections of ``frame`` matched to each animated face's box (None where not found)."""
    from inversion.faces.detection import detect_faces  # noqa: PLC0415

    found = [{"box": f.box, "face": f} for f in detect_faces(frame)]
    return [None if m is None else m["face"] for m in match_faces(boxes, found)]


def target_probs(frame, faces, emotion: str, judges, clf) -> list[dict | None]:
    """p(target) per face: each judge and the shipped classifier; ``read``: the emotion the judges' mean
    probabilities rank first."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from search_targets import classifier_probs  # noqa: PLC0415

    k, grey = EMOTIONS.index(emotion), judges_mod.to_grey(frame)
    out = []
    for face in faces:
        if face is None:
            out.append(None)
            continue
        probs = {j.name: j.probs(grey, face.box) for j in judges}
        row = {name: float(p[k]) for name, p in probs.items()}
        row["read"] = EMOTIONS[int(np.argmax(np.mean(list(probs.values()), axis=0)))]
        row["shipped"] = float(classifier_probs(clf, frame, face)[k])
        row["judges"] = float(np.mean([row[j.name] for j in judges]))
        out.append(row)
    return out


def measure_clip(frames, result, emotion, judges, clf, identity, ceilings, every: int) -> list[dict]:
    """Every animated face's figures for one clip."""
    from inversion.faces.landmarks import box_from_landmarks  # noqa: PLC0415

    boxes = [f.box for f in result.faces]
    first, last = frame_faces(frames[0], boxes), frame_faces(frames[-1], boxes)
    p0, p1 = target_probs(frames[0], first, emotion, judges, clf), target_probs(frames[-1], last, emotion, judges, clf)
    half = frames[len(frames) // 2:]
    rows = []
    for i, (a, b, motion) in enumerate(zip(first, last, result.motions)):
        row = {"ceiling": ceilings[i], "width": float(result.faces[i].box[2] - result.faces[i].box[0])}
        if p0[i] is not None and p1[i] is not None:
            row["p_first"], row["p_last"], row["read"] = p0[i]["judges"], p1[i]["judges"], p1[i]["read"]
        for key in ("judges", "shipped") + tuple(j.name for j in judges):
            row[key] = p0[i] is not None and p1[i] is not None and rm.judged(p0[i][key], p1[i][key])
        row["identity"] = False
        if a is not None and b is not None:
            d = np.linalg.norm(rm.descriptor(identity, frames[0], a.box) - rm.descriptor(identity, frames[-1], b.box))
            row["identity"] = bool(d < 0.5)
            row["sharpness"] = rm.sharpness(frames[-1], b.box) / max(rm.sharpness(frames[0], a.box), 1e-9)
            row["paint"], row["paint_farneback"] = rm.skin_paint_readings(
                frames[0], frames[-1], b.box, b.landmarks68,
                (("dis", cv2.INTER_LANCZOS4), ("farneback", cv2.INTER_LANCZOS4)))
            edges = b.landmark_box if b.landmark_box is not None else box_from_landmarks(b.landmarks68)
            row["jitter"] = rm.landmark_jitter(half, edges, every)
            row["flicker"] = rm.mouth_flicker(frames[apex_hold(motion, len(frames))], b.landmarks68)
        rows.append(row)
    return rows


def sheet_cells(frames, boxes, most: int = 3) -> list[np.ndarray]:
    """Per animated face (the first ``most``): its box grown 15 % at full resolution, in the first,
    middle and last frame."""
    picks = (0, len(frames) // 2, len(frames) - 1)
    return [frames[i][rm.region(box, frames.shape[1:3], 0.15)] for box in list(boxes)[:most] for i in picks]


def write_sheet(path: Path, cells: dict, limit: int = 400_000) -> None:
    """Rows = (emotion, model), columns = first/middle/last of each face of the sheet sources; JPEG
    under ``limit`` bytes (the highest quality that fits)."""
    lines = []
    for (emotion, model), per_source in cells.items():
        parts = [c for name in SHEET_SOURCES for c in per_source.get(name, [])]
        if not parts:
            continue
        h = max(p.shape[0] for p in parts)
        padded = [np.pad(p, ((0, h - p.shape[0]), (0, 6), (0, 0)), constant_values=255) for p in parts]
        line = np.concatenate(padded, axis=1)
        cv2.putText(line, f"{emotion} {model}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
        lines.append(line)
    if not lines:
        return
    w = max(line.shape[1] for line in lines)
    sheet = np.concatenate([np.pad(ln, ((0, 6), (0, w - ln.shape[1]), (0, 0)), constant_values=255) for ln in lines])
    bgr = cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)
    for quality in (90, 85, 80, 75, 70, 60, 50, 40):
        data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        if len(data) < limit:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"\ncontact sheet: {path} ({sheet.shape[1]}x{sheet.shape[0]}, JPEG quality {quality}, "
          f"{len(data) / 1e3:.0f} kB)")


def median(rows, key) -> str:
    values = [r[key] for r in rows if key in r and np.isfinite(r[key])]
    return f"{np.median(values):.2f}" if values else "-"


def share(rows, key) -> str:
    return f"{np.mean([r[key] for r in rows]):.0%}" if rows else "-"


def table_row(label: str, model: str, rows: list, stats: list, seconds: list) -> str:
    jmin = [s["jacobian_min"] for s in stats if s and "jacobian_min" in s]
    jmax = [s["jacobian_max"] for s in stats if s and "jacobian_max" in s]
    folds = f"{min(jmin):.2f} / {max(jmax):.2f}" if jmin and jmax else "- / -"
    kept = [k for s in stats if s for k in s.get("expression_scale", ())]
    return (f"| {label} | {model} | {len(rows)} | {share(rows, 'judges')} | {share(rows, 'fer')} | "
            f"{share(rows, 'facex')} | {share(rows, 'shipped')} | {share(rows, 'identity')} | "
            f"{median(rows, 'sharpness')} | {median(rows, 'ceiling')} | {median(rows, 'paint')} | "
            f"{median(rows, 'paint_farneback')} | {folds} | {f'{np.mean(kept):.2f}' if kept else '-'} | "
            f"{median(rows, 'jitter')} | {median(rows, 'flicker')} | {np.mean(seconds):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=30, help="faces per emotion (default 30; >= 20 for the issue)")
    parser.add_argument("--emotions", default=",".join(EMOTIONS6))
    parser.add_argument("--motion", default="flow,warp", help="motion models, side by side (those the code has)")
    parser.add_argument("--fps", type=float, default=60.0)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--steps", type=int, default=40, help="projector steps per face (the CLI default)")
    parser.add_argument("--jitter-every", type=int, default=0, help="landmarks on every k-th frame (0: fps/15)")
    parser.add_argument("--out", default=None, help="keep the clips in this folder")
    parser.add_argument("--sheet", default=None, help="write a contact sheet JPEG (astronaut + group photo)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    parser.add_argument("--per-face", action="store_true", help="also print each face's judges (stderr)")
    parser.add_argument("--min-face", type=float, default=None,
                        help="smallest detector box (px) of a measured face (default: the width from which a face gets "
                             "its full expression, 60; smaller ones get less by design, issue 13; 0: every face the "
                             "product animates, from 28 px)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start_all = time.perf_counter()

    from directions.classifier import EmotionClassifier  # noqa: PLC0415
    from directions.direction_file import load_directions  # noqa: PLC0415
    from directions.evaluation import DlibIdentity  # noqa: PLC0415
    from directions.default_directions import resolve_directions  # noqa: PLC0415
    from editor.emotion_spec import parse_emotion_spec  # noqa: PLC0415
    from editor.animate_job import MIN_ANIMATED_FACE  # noqa: PLC0415
    from editor.expression_motion import FULL_EXPRESSION_WIDTH  # noqa: PLC0415
    import editor.pipeline  # noqa: PLC0415
    from editor.animate_job import AnimateOptions  # noqa: PLC0415
    from editor.pipeline import animate_photo  # noqa: PLC0415
    from editor.video import read_video  # noqa: PLC0415
    from inversion.checkpoints import generator_identity, load_generator  # noqa: PLC0415
    from inversion.projection.encoder import encoder_for  # noqa: PLC0415
    from inversion.projection.lpips import LPIPS  # noqa: PLC0415

    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    has_motion = "motion" in {f.name for f in dataclasses.fields(AnimateOptions)}
    wanted = [m.strip() for m in args.motion.split(",") if m.strip()]
    models = [m for m in wanted if has_motion or m == "flow"]
    G = load_generator(None, "cpu")
    directions = load_directions(resolve_directions(None, None), generator_identity(G))
    clf, identity, judges = EmotionClassifier.load(), DlibIdentity(), judges_mod.load_judges()
    extras = {"lpips": LPIPS("alex") if args.steps > 0 else None, "encoder": encoder_for(G)}
    emotions = [e.strip() for e in args.emotions.split(",") if e.strip()]
    every = args.jitter_every or max(1, int(round(args.fps / 15)))
    print(f"command: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python "
          f"{shlex.join(['scripts/bench_realism.py'] + sys.argv[1:])}")
    print(f"commit {commit}; AnimateOptions.motion {'present' if has_motion else 'absent'}; models run: "
          f"{', '.join(models)}" + (f" (not in this code: {', '.join(set(wanted) - set(models))})"
                                    if set(wanted) - set(models) else ""))
    min_face = FULL_EXPRESSION_WIDTH if args.min_face is None else (args.min_face or MIN_ANIMATED_FACE)
    sources = plan_sources(args.faces, args.seed, min_face)
    print("faces: " + ", ".join(f"{s['name']} {s['faces']}" for s in sources) +
          f"; faces from {min_face:g} px; seed {args.seed}, {args.duration:g} s at {args.fps:g} fps, "
          f"landmarks every {every} frame(s)")
    tmp = tempfile.TemporaryDirectory(prefix="bench_realism_")
    out_dir = Path(args.out) if args.out else Path(tmp.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {(e, m): ([], [], []) for e in emotions for m in models}  # rows, warp stats, seconds
    cells, ceilings = {}, {}
    cache = editor.pipeline.invert_photo = InversionCache(editor.pipeline.invert_photo)
    for src in sources:
        for emotion in emotions:
            for model in models:
                options = AnimateOptions(emotion=parse_emotion_spec(emotion), seed=args.seed, duration=args.duration,
                                         fps=args.fps, steps=args.steps, preview_frames=0, faces=src["faces"],
                                         **({"motion": model} if has_motion else {}))
                video = out_dir / f"{Path(src['name']).stem}_{emotion}_{model}.mp4"
                cache.photo, cache.charge, clock = src["name"], 0.0, time.perf_counter()
                result = animate_photo(src["photo"], G, directions, video, options, **extras)
                seconds = time.perf_counter() - clock + cache.charge
                frames = read_video(video)
                if src["name"] not in ceilings:
                    ceilings[src["name"]] = rm.still_ceiling(src["photo"], [f.box for f in result.faces], len(frames),
                                                             args.fps, options.crf, options.preset,
                                                             out_dir / f"{Path(src['name']).stem}_still.mp4")
                rows = measure_clip(frames, result, emotion, judges, clf, identity, ceilings[src["name"]], every)
                if args.per_face:
                    for face, row in zip(result.faces, rows):
                        print(f"    face width {row['width']:.0f} px: p(target) {row.get('p_first', float('nan')):.3f}"
                              f" -> {row.get('p_last', float('nan')):.3f} judged {row['judges']} identity {row['identity']}"
                              f" reads {row.get('read', '-')}",
                              file=sys.stderr, flush=True)
                stats = getattr(result, "warp_stats", None)
                results[emotion, model][0].extend(rows)
                results[emotion, model][1].append(stats)
                results[emotion, model][2].append(seconds)
                if src["name"] in SHEET_SOURCES and args.sheet:
                    boxes = [f.box for f in result.faces]
                    cells.setdefault((emotion, model), {})[src["name"]] = sheet_cells(frames, boxes)
                print(f"  {src['name']} {emotion} {model}: {len(rows)} face(s), {seconds:.1f} s ("
                      + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()) + ")", file=sys.stderr, flush=True)
    print("\n| emotion | motion | faces | judges | fer | facex | shipped | identity | sharpness | ceiling | "
          "skin paint | Farnebäck | J min / max | kept | jitter px | flicker | s/clip |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (emotion, model), (rows, stats, seconds) in results.items():
        print(table_row(emotion, model, rows, stats, seconds))
    for model in models:
        every_row = [r for (e, m), v in results.items() if m == model for r in v[0]]
        print(table_row("all", model, every_row, [s for (e, m), v in results.items() if m == model for s in v[1]],
                        [s for (e, m), v in results.items() if m == model for s in v[2]]))
    print("\nThe judges' share with its 95 % (Wilson) interval, and where they did not see the target what they read "
          "instead (the emotion their mean ranks first at the last frame, faces):\n\n"
          "| emotion | motion | judges | 95 % interval | read instead |\n|---|---|---|---|---|")
    for (emotion, model), (rows, _, _) in results.items():
        low, high = rm.wilson_interval(sum(bool(r["judges"]) for r in rows), len(rows))
        print(f"| {emotion} | {model} | {share(rows, 'judges')} | {low:.0%}-{high:.0%} | {rm.misread(rows)} |")
    if args.sheet:
        write_sheet(Path(args.sheet), cells)
    tmp.cleanup()
    print(f"\n{time.perf_counter() - start_all:.0f} s in all, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
