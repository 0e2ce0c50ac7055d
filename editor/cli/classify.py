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
import os
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import torch
import typer

from editor.cli.common import DeviceOption, JsonOption, handle_user_errors, info
from inversion.common.errors import FaceLatentError, ImageReadError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
SPLIT_NAMES = ("Training", "PublicTest", "PrivateTest")


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)


def _views_help() -> str:
    """--fast's help: what each view set of the shipped classifier costs and scores (from its config)."""
    from directions.classifier import DEFAULT_MODEL_DIR, describe_view_sets  # noqa: PLC0415

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
    from directions.classifier import EmotionClassifier  # noqa: PLC0415 (keeps --help fast)
    from inversion.common.devices import pick_device  # noqa: PLC0415

    views = "fast" if fast else "accurate"
    webcam = _webcam_index(str(input))
    if webcam is not None:
        if aligned or attack is not None or output is not None:
            raise FaceLatentError("webcam input takes no --aligned, --attack or -o")
        clf = EmotionClassifier.load(classifier, pick_device(device), views)
        _classify_webcam(clf, webcam, every, json_out, _views_used(clf))
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
        from inversion.common.output_files import check_output_file  # noqa: PLC0415
        if output.suffix.lower() != ".png":
            raise FaceLatentError(f"-o {output}: --attack writes a .png (lossless; JPEG would undo the change)")
        check_output_file(output, "-o")
    clf = EmotionClassifier.load(classifier, pick_device(device), "fast" if attack is not None else views)
    used = _views_used(clf)
    if is_csv:
        report = {**_classify_csv(clf, input, split), **used}
        typer.echo(json.dumps(report) if json_out else _format_csv_report(report))
        return
    if attack is not None:
        result = {**_attack(clf, input, attack, output), **used}
        typer.echo(json.dumps(result) if json_out else
                   f"{input}: {result['source']} -> {result['target']} ({result['target_prob'] * 100:.0f}%), "
                   f"L-inf {result['linf']}/255, PSNR {result['psnr']:.1f} dB -> {result['output']}")
        return
    if input.suffix.lower() in VIDEO_SUFFIXES and not aligned:
        _classify_video(clf, input, every, json_out, used)
        return
    paths = _image_paths(input)
    results = _classify_crops(clf, paths) if aligned else _classify_photos(clf, paths, str(clf.device))
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


def _face_entry(box, probs: torch.Tensor) -> dict:
    from directions.emotions import EMOTIONS  # noqa: PLC0415

    values = probs.detach().cpu().numpy().astype(float)
    return {"box": [round(float(v), 2) for v in box], "emotion": EMOTIONS[int(values.argmax())],
            "probs": {e: round(float(p), 4) for e, p in zip(EMOTIONS, values)}}


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
    from inversion.common.images import read_photo  # noqa: PLC0415

    results = []
    for i in range(0, len(paths), batch):
        images = [read_photo(p) for p in paths[i:i + batch]]
        with torch.no_grad():
            probs = clf.predict(images)
        for path, image, p in zip(paths[i:i + batch], images, probs):
            results.append({"path": str(path), "faces": [_face_entry([0, 0, image.shape[1], image.shape[0]], p)]})
    return results


def _faces_in_photo(clf, photo: np.ndarray, device: str) -> list[dict]:
    """Detect, align tightly (48 px) and classify every face of an RGB photo, left to right."""
    try:
        from inversion.faces.alignment import align_face  # noqa: PLC0415
        from inversion.faces.detection import detect_faces  # noqa: PLC0415
    except ImportError as err:
        raise FaceLatentError(f"face detection/alignment is not available in this build ({err}); "
                              "classify face crops with --aligned") from None
    faces = detect_faces(photo)
    if not faces:
        return []
    crops = [align_face(photo, f.landmarks68, size=48, variant="tight").image for f in faces]
    with torch.no_grad():
        probs = clf.predict(crops)
    return [_face_entry(f.box, p) for f, p in zip(faces, probs)]


def _classify_photos(clf, paths: list[Path], device: str) -> list[dict]:
    from inversion.common.images import read_photo  # noqa: PLC0415

    return [{"path": str(p), "faces": _faces_in_photo(clf, read_photo(p), device)} for p in paths]


def _classify_csv(clf, path: Path, split: str) -> dict:
    """Accuracy, per-class accuracy and confusion (rows true, columns predicted) on ``split``."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from directions.fer2013 import read_fer2013  # noqa: PLC0415

    if split not in SPLIT_NAMES:
        raise FaceLatentError(f"unknown split '{split}': choose one of {', '.join(SPLIT_NAMES)}")
    data = read_fer2013(path)
    if set(data.usage.tolist()) != {"all"}:
        data = data.split(split)
    else:
        split = "all"
    preds = []
    for i in range(0, len(data), 64):  # small batches: large ones are slower on the CPU
        x = torch.from_numpy(data.images[i:i + 64]).float().unsqueeze(1) / 127.5 - 1.0
        with torch.no_grad():
            preds.append(clf.predict(x).argmax(1).cpu().numpy())
        if len(data) > 2048 and i % 2048 == 0:
            info(f"classified {min(i + 64, len(data))}/{len(data)} faces")
    pred = np.concatenate(preds)
    conf = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
    np.add.at(conf, (data.labels, pred), 1)
    per_class = {e: (round(float(conf[k, k] / conf[k].sum()), 4) if conf[k].sum() else None)
                 for k, e in enumerate(EMOTIONS)}
    return {"split": split, "n": len(data), "accuracy": round(float((pred == data.labels).mean()), 4),
            "per_class": per_class, "confusion": conf.tolist()}


def _format_csv_report(report: dict) -> str:
    from directions.emotions import EMOTIONS  # noqa: PLC0415

    lines = [f"{report['split']}: {report['n']} faces, accuracy {report['accuracy'] * 100:.2f}% "
             f"({report['views']} view set, {report['num_networks']} network(s) × {report['num_views']} views)", "",
             "per class: " + ", ".join(f"{e} {v * 100:.1f}%" if v is not None else f"{e} -"
                                       for e, v in report["per_class"].items()), "",
             "confusion (rows true, columns predicted):", "          " + "".join(f"{e[:8]:>9}" for e in EMOTIONS)]
    for e, row in zip(EMOTIONS, report["confusion"]):
        lines.append(f"{e:>9} " + "".join(f"{v:>9}" for v in row))
    return "\n".join(lines)


def _write_png_atomic(image: np.ndarray, output: Path) -> None:
    from PIL import Image  # noqa: PLC0415

    from inversion.common.output_files import atomic_output  # noqa: PLC0415

    with atomic_output(output) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def _attack(clf, input: Path, target: str, output: Optional[Path]) -> dict:
    from directions.classifier import targeted_attack  # noqa: PLC0415
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from inversion.common.images import read_photo  # noqa: PLC0415

    if output is None:
        raise FaceLatentError("--attack needs -o OUT.png")
    if target not in EMOTIONS:
        raise FaceLatentError(f"unknown emotion '{target}': choose one of {', '.join(EMOTIONS)}")
    if not input.is_file():
        raise FaceLatentError(f"--attack works on one image file, not a folder: {input}")
    if output.suffix.lower() != ".png":
        raise FaceLatentError(f"--attack output must be a .png (lossless; JPEG would undo the change): {output}")
    image = read_photo(input)
    if (image[..., :1] == image).all():  # a grey picture stays grey (one channel, no colour noise)
        image = np.ascontiguousarray(image[..., 0])
    adversarial, result = targeted_attack(clf, image, target)
    _write_png_atomic(adversarial, output)
    return {"path": str(input), "output": str(output), **result}


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _assign_ids(faces: list[dict], previous: dict[int, list], next_id: int) -> int:
    """Give each face the id of the previous sample's face it overlaps most (IoU ≥ 0.3), else a new id."""
    pairs = sorted(((_iou(f["box"], box), fi, tid) for fi, f in enumerate(faces) for tid, box in previous.items()),
                   reverse=True)
    used_faces, used_ids = set(), set()
    for score, fi, tid in pairs:
        if score >= 0.3 and fi not in used_faces and tid not in used_ids:
            faces[fi]["id"] = tid
            used_faces.add(fi)
            used_ids.add(tid)
    for fi, face in enumerate(faces):
        if fi not in used_faces:
            face["id"] = next_id
            next_id += 1
    return next_id


class _SampleReporter:
    """Classifies sampled frames of a video or camera, follows faces between samples and prints each sample.

    Text: ``HH:MM:SS  face ID  emotion P%`` lines (``HH:MM:SS  no face``). JSON: one JSON Lines record per
    sample, ``{"source", "time" (seconds), "faces" [{"id", "box", "emotion", "probs"}], views...}``.
    """

    def __init__(self, clf, source: str, json_out: bool, used: dict):
        self.clf, self.source, self.json_out, self.used = clf, source, json_out, used
        self.tracks: dict[int, list] = {}
        self.next_id = 0

    def report(self, frame_bgr: np.ndarray, t: float) -> None:
        import cv2  # noqa: PLC0415

        faces = _faces_in_photo(self.clf, cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), str(self.clf.device))
        self.next_id = _assign_ids(faces, self.tracks, self.next_id)
        self.tracks = {f["id"]: f["box"] for f in faces}
        if self.json_out:
            record = {"source": self.source, "time": round(t, 3), "faces": faces, **self.used}
            typer.echo(json.dumps(record))
            return
        stamp = f"{int(t) // 3600:02d}:{int(t) // 60 % 60:02d}:{int(t) % 60:02d}"
        typer.echo(f"{stamp}  no face" if not faces else
                   "\n".join(f"{stamp}  face {f['id']}  {_top(f)}" for f in faces))


def _classify_video(clf, path: Path, every: float, json_out: bool, used: dict) -> None:
    import cv2  # noqa: PLC0415

    if not every > 0:
        raise FaceLatentError(f"--every must be a positive number of seconds, not {every}")
    # FFmpeg's own log lines (e.g. "moov atom not found") never reach the user: the errors below say it once.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ImageReadError(f"cannot read video {path}: not a video, or a truncated or damaged one")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    if fps <= 0:
        raise ImageReadError(f"video {path} does not say its frame rate")
    reporter = _SampleReporter(clf, str(path), json_out, used)
    index, next_time = 0, 0.0
    try:
        while True:
            ok = capture.grab()
            if not ok:
                break
            t = index / fps
            index += 1
            if t + 0.5 / fps < next_time:
                continue
            ok, frame = capture.retrieve()
            if not ok:
                break
            next_time += every
            reporter.report(frame, t)
    finally:
        capture.release()
    if index == 0:
        raise ImageReadError(f"cannot read video {path}: no frame could be decoded (truncated or damaged)")


def _webcam_index(text: str) -> Optional[int]:
    """``webcam`` → 0, ``webcam:N`` → N, anything else → None."""
    if text == "webcam":
        return 0
    if text.startswith("webcam:") and text[7:].isdigit():
        return int(text[7:])
    return None


def _classify_webcam(clf, index: int, every: float, json_out: bool, used: dict) -> None:
    import time  # noqa: PLC0415

    import cv2  # noqa: PLC0415

    if not every > 0:
        raise FaceLatentError(f"--every must be a positive number of seconds, not {every}")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our one-line error instead of WARN lines
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise ImageReadError(f"cannot open camera {index} (webcam:{index})")
    reporter = _SampleReporter(clf, f"webcam:{index}", json_out, used)
    start = time.monotonic()
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                raise ImageReadError(f"camera {index} stopped delivering frames")
            t = time.monotonic() - start
            reporter.report(frame, t)
            time.sleep(max(0.0, every - (time.monotonic() - start - t)))
    finally:
        capture.release()
