"""``facelatent classify``: the emotion of every face in face crops, photos, videos or a FER2013 CSV.

Inputs, chosen by what INPUT is:

- ``--aligned``: INPUT is a face crop or a folder of crops (png/jpg/jpeg/webp/bmp); each whole image
  is one face (box ``[0, 0, W, H]``). With ``--attack EMOTION -o OUT.png``: write a minimally changed
  copy that the classifier labels EMOTION (L∞ budget grown until it works) and report L∞ and PSNR.
- ``.csv`` / ``.csv.gz`` (FER2013 style: emotion,pixels[,Usage]): accuracy, per-class accuracy and
  the confusion matrix (rows: true, columns: predicted; EMOTIONS order) on ``--split``; a CSV without
  a Usage column is evaluated whole (split ``all``).
- a photo or a folder of photos: faces are detected (MTCNN + 68 landmarks), aligned tightly
  (FER2013-like crop) and classified; boxes are the detector's ``[x0, y0, x1, y1]`` photo pixels.
- a video (mp4/mov/avi/mkv/webm/m4v): one sample every ``--every`` seconds, faces followed from one
  sample to the next by box overlap; lines like ``00:00:03  face 0  joy 73%``. With ``--json``: JSON Lines,
  one record per sampled time, printed as it is sampled:
  ``{"source": ..., "time": 3.0, "faces": [{"id": 0, "box": [...], "emotion": ..., "probs": {...}}], ...}``.
- ``webcam:N`` (``webcam`` = ``webcam:0``): camera N, sampled every ``--every`` seconds of wall-clock time,
  the same lines (or JSON Lines records), until Ctrl-C.

Probabilities are in EMOTIONS order (joy, fear, anger, sadness, disgust, surprise, neutral).

Test-time views: the classifier's "accurate" view set by default (the crops + mirrors chosen on
PublicTest, each seen by every network of the shipped ensemble; several times the cost of the fast set,
nothing for a few faces), ``--fast`` for one network's centre crop + mirror that library and bulk code
use. ``--attack`` always attacks the fast set (it re-runs the classifier tens of times). JSON output says
which set was used (``views``, ``num_views`` per network, ``num_networks``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from PIL import Image

from directions.classifier_config import DEFAULT_MODEL_DIR, describe_view_sets
from directions.emotions import EMOTIONS
from directions.face_tracking import FaceTracker
from editor.cli.common import DeviceOption, JsonOption, handle_user_errors, info, load_classifier
from editor.video_sampling import camera_samples, video_samples
from inversion.common.errors import FaceLatentError, ImageReadError
from inversion.common.images import read_photo
from inversion.common.output_files import atomic_output, check_output_file

if TYPE_CHECKING:
    from directions.face_classification import FaceEmotion

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)


def _views_help() -> str:
    """--fast's help: what each view set of the shipped classifier costs and scores (from its config)."""
    text = ("Use the classifier's fast test-time views (one network, centre crop + mirror: what library and bulk "
            "code use) instead of the accurate set (the crops + mirrors chosen on PublicTest, averaged over "
            "the shipped ensemble's networks; the default).")
    try:
        sets = describe_view_sets(json.loads((DEFAULT_MODEL_DIR / "config.json").read_text()))
    except (OSError, ValueError, TypeError, AttributeError):
        return text
    figures = [f"{name}: " + (f"{d['networks']} networks × " if d.get("networks", 1) > 1 else "") + f"{d['views']} views"
               + (f", {d['accuracy'] * 100:.2f}% on FER2013 PrivateTest"
                                               if d["accuracy"] is not None else "")
               + (f", ~{d['ms_per_face']:.{1 if d['ms_per_face'] < 10 else 0}f} ms/face (CPU, batches of 64)"
                  if d["ms_per_face"] else "")
               for name, d in sets.items()]
    return f"{text} Shipped classifier: {'; '.join(figures)}."


@handle_user_errors
def classify(
    input: Annotated[Path, typer.Argument(help="Face crop(s) with --aligned, a photo or folder of photos, a video, "
                                               "webcam[:N] (camera N, until Ctrl-C), or a FER2013-style "
                                               ".csv/.csv.gz.", show_default=False)],
    json_out: JsonOption = False,
    aligned: Annotated[bool, typer.Option("--aligned", help="INPUT is face crops: classify each whole image.")] = False,
    split: Annotated[str, typer.Option("--split", help="CSV split: Training, PublicTest or PrivateTest.")] = "PrivateTest",
    every: Annotated[float, typer.Option("--every", help="Video or webcam: seconds between samples.")] = 1.0,
    attack: Annotated[Optional[str], typer.Option("--attack", help=(
        "With --aligned: make the classifier see this emotion with a minimal change; needs -o. Always attacks "
        "(and reports) the fast view set, which it runs tens of times."))] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output PNG for --attack.")] = None,
    classifier: Annotated[Optional[Path], typer.Option("--classifier", help="Classifier folder (weights.pt + "
                                                       "config.json). Default: the shipped one.")] = None,
    fast: Annotated[bool, typer.Option("--fast", help=_views_help())] = False,
    device: DeviceOption = "auto",
) -> None:
    """Classify the emotion of faces: crops, photos, videos, or a FER2013 CSV (accuracy)."""
    views = "fast" if fast else "accurate"
    webcam = _webcam_index(str(input))
    if webcam is not None:
        if aligned or attack is not None or output is not None:
            raise FaceLatentError("webcam input takes no --aligned, --attack or -o")
        clf = load_classifier(classifier, device, views)
        _report_samples(clf, camera_samples(webcam, every), f"webcam:{webcam}", json_out, _views_used(clf))
        return
    if not input.exists():
        raise ImageReadError(f"no such file or folder: {input}")
    name = input.name.lower()
    is_csv = name.endswith(".csv") or name.endswith(".csv.gz")
    if attack is not None and (not aligned or is_csv):
        raise FaceLatentError("--attack works on one face crop: use it with --aligned and an image file")
    if output is not None and attack is None:
        raise FaceLatentError("-o/--output is only used with --attack")
    if output is not None:
        if output.suffix.lower() != ".png":
            raise FaceLatentError(f"-o {output}: --attack writes a .png (lossless; JPEG would undo the change)")
        check_output_file(output, "-o")
    clf = load_classifier(classifier, device, "fast" if attack is not None else views)
    used = _views_used(clf)
    if is_csv:
        progress = lambda done, total: info(f"classified {done}/{total} faces")  # noqa: E731
        from directions.face_classification import evaluate_fer2013  # noqa: PLC0415 (torch)

        report = {**evaluate_fer2013(clf, input, split, progress), **used}
        typer.echo(json.dumps(report) if json_out else _format_csv_report(report))
        return
    if attack is not None:
        result = {**_attack(clf, input, attack, output), **used}
        typer.echo(json.dumps(result) if json_out else
                   f"{input}: {result['source']} -> {result['target']} ({result['target_prob'] * 100:.0f}%), "
                   f"L-inf {result['linf']}/255, PSNR {result['psnr']:.1f} dB -> {result['output']}")
        return
    if input.suffix.lower() in VIDEO_SUFFIXES and not aligned:
        _report_samples(clf, video_samples(input, every), str(input), json_out, used)
        return
    paths = _image_paths(input)
    results = _classify_crops(clf, paths) if aligned else _classify_photos(clf, paths)
    if json_out:
        typer.echo(json.dumps({"results": results, **used}))
        return
    for item in results:
        if not item["faces"]:
            typer.echo(f"{item['path']}: no face found")
        for k, face in enumerate(item["faces"]):
            typer.echo(f"{item['path']}  face {k}  {_top(face)}")


def _views_used(clf) -> dict:
    """What every JSON report says about the view set it was computed with."""
    return {"views": clf.views, "num_views": 2 * len(clf.tta_offsets), "num_networks": len(clf.networks)}


def _top(face: dict) -> str:
    return f"{face['emotion']} {face['probs'][face['emotion']] * 100:.0f}%"


def _face_entry(face: FaceEmotion) -> dict:
    """A face as the reports print it: box to 0.01 px, probabilities to 4 decimals."""
    return {"box": [round(float(v), 2) for v in face.box], "emotion": face.emotion,
            "probs": {e: round(float(p), 4) for e, p in zip(EMOTIONS, face.probs)}}


def _image_paths(input: Path) -> list[Path]:
    """One image file, or the images of a folder (sorted by name; non-images ignored)."""
    if input.is_file():
        return [input]
    paths = sorted(p for p in input.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ImageReadError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {input}")
    return paths


def _classify_crops(clf, paths: list[Path], batch: int = 64) -> list[dict]:
    """Each whole image is one face; box [0, 0, W, H]."""
    from directions.face_classification import classify_crops  # noqa: PLC0415 (torch; here and below)

    results = []
    for i in range(0, len(paths), batch):
        faces = classify_crops(clf, [read_photo(p) for p in paths[i:i + batch]])
        results.extend({"path": str(path), "faces": [_face_entry(face)]} for path, face in zip(paths[i:i + batch], faces))
    return results


def _classify_photos(clf, paths: list[Path]) -> list[dict]:
    from directions.face_classification import classify_photo  # noqa: PLC0415

    return [{"path": str(p), "faces": [_face_entry(f) for f in classify_photo(clf, read_photo(p))]} for p in paths]


def _format_csv_report(report: dict) -> str:
    lines = [f"{report['split']}: {report['n']} faces, accuracy {report['accuracy'] * 100:.2f}% "
             f"({report['views']} view set, {report['num_networks']} network(s) × {report['num_views']} views)", "",
             "per class: " + ", ".join(f"{e} {v * 100:.1f}%" if v is not None else f"{e} -"
                                       for e, v in report["per_class"].items()), "",
             "confusion (rows true, columns predicted):", "          " + "".join(f"{e[:8]:>9}" for e in EMOTIONS)]
    for e, row in zip(EMOTIONS, report["confusion"]):
        lines.append(f"{e:>9} " + "".join(f"{v:>9}" for v in row))
    return "\n".join(lines)


def _write_png_atomic(image, output: Path) -> None:
    with atomic_output(output) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def _attack(clf, input: Path, target: str, output: Optional[Path]) -> dict:
    if output is None:
        raise FaceLatentError("--attack needs -o OUT.png")
    if target not in EMOTIONS:
        raise FaceLatentError(f"unknown emotion '{target}': choose one of {', '.join(EMOTIONS)}")
    if not input.is_file():
        raise FaceLatentError(f"--attack works on one image file, not a folder: {input}")
    if output.suffix.lower() != ".png":
        raise FaceLatentError(f"--attack output must be a .png (lossless; JPEG would undo the change): {output}")
    from directions.face_classification import attack_crop  # noqa: PLC0415

    adversarial, result = attack_crop(clf, read_photo(input), target)
    _write_png_atomic(adversarial, output)
    return {"path": str(input), "output": str(output), **result}


def _report_samples(clf, samples, source: str, json_out: bool, used: dict) -> None:
    """Classify each sampled ``(time, BGR frame)``, follow its faces (:class:`FaceTracker`) and print it.

    Text: ``HH:MM:SS  face ID  emotion P%`` lines (``HH:MM:SS  no face``). JSON: one JSON Lines record per
    sample, ``{"source", "time" (seconds), "faces" [{"id", "box", "emotion", "probs"}], views...}``.
    """
    from directions.face_classification import classify_photo  # noqa: PLC0415

    tracker = FaceTracker()
    for t, frame_bgr in samples:
        faces = [_face_entry(f) for f in classify_photo(clf, frame_bgr[..., ::-1].copy())]
        for face, face_id in zip(faces, tracker.assign([f["box"] for f in faces])):  # the boxes as reported
            face["id"] = face_id
        if json_out:
            typer.echo(json.dumps({"source": source, "time": round(t, 3), "faces": faces, **used}))
            continue
        stamp = f"{int(t) // 3600:02d}:{int(t) // 60 % 60:02d}:{int(t) % 60:02d}"
        typer.echo(f"{stamp}  no face" if not faces else
                   "\n".join(f"{stamp}  face {f['id']}  {_top(f)}" for f in faces))


def _webcam_index(text: str) -> Optional[int]:
    """``webcam`` → 0, ``webcam:N`` → N, anything else → None."""
    if text == "webcam":
        return 0
    if text.startswith("webcam:") and text[7:].isdigit():
        return int(text[7:])
    return None
