"""``facelatent detect``: faces, boxes, five keypoints and 68 landmarks of a photo."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from editor.cli.common import JsonOption, handle_user_errors, info
from inversion.common.errors import FaceLatentError


class Detector(str, Enum):
    mtcnn = "mtcnn"
    hog = "hog"


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)


@handle_user_errors
def detect(
    photo: Annotated[Path, typer.Argument(help="Photo to read: JPEG, PNG, WebP or BMP.")],
    json_output: JsonOption = False,
    annotate: Annotated[Optional[Path], typer.Option(
        "--annotate", help="Write a copy of the photo with boxes and landmarks drawn, in the format its "
        "extension names (.png, .jpg, .webp, .bmp, .tif).")] = None,
    min_face: Annotated[float, typer.Option(
        "--min-face", help="Smallest face to keep, in photo pixels (longer box side); smaller ones are "
        "listed as skipped.")] = 20.0,
    detector: Annotated[Detector, typer.Option(
        "--detector", help="mtcnn (default, finds small and turned faces) or hog (dlib's detector).")] = Detector.mtcnn,
) -> None:
    """Find the faces in PHOTO: boxes, five keypoints and dlib's 68 landmarks, left to right.

    Coordinates are in the photo's pixels (x right, y down, pixel centres at integers).
    """
    from editor.preview import image_format
    from inversion.faces.detection import find_faces, search_notice
    from inversion.common.images import read_photo
    from inversion.common.output_files import check_output_file

    if annotate is not None:
        check_output_file(annotate, "--annotate")
        image_format(annotate, "--annotate")
    image = read_photo(photo)
    result = find_faces(image, detector=detector.value, min_face=min_face)
    if not result.complete:
        info(search_notice(result.width, result.height, result.smallest_searched, min_face))
    if annotate is not None:
        write_annotated(image, result, annotate)
    if json_output:
        typer.echo(json.dumps(detection_json(photo, result, detector.value)))
    else:
        typer.echo(format_table(photo, result))


def detection_json(photo: Path, result, detector: str) -> dict:
    """The ``--json`` document: image, size, faces left to right, skipped faces (box and score)."""
    return {
        "image": str(photo),
        "width": result.width,
        "height": result.height,
        "detector": detector,
        "smallest_searched": round(float(result.smallest_searched), 1),
        "complete": bool(result.complete),
        "faces": [face.to_json() for face in result.faces],
        "skipped": [{"box": face.to_json()["box"], "score": face.to_json()["score"], "reason": "too small"}
                    for face in result.skipped],
    }


def format_table(photo: Path, result) -> str:
    """A readable table: one row per face (box, size, score), then the skipped ones."""
    lines = [f"{photo}: {result.width}x{result.height}, {len(result.faces)} face(s)"
             + (f", {len(result.skipped)} skipped as too small" if result.skipped else "")]
    if result.faces or result.skipped:
        lines.append(f"{'face':>4}  {'x0':>7} {'y0':>7} {'x1':>7} {'y1':>7}  {'size':>6}  {'score':>7}")
    for i, face in enumerate(result.faces):
        x0, y0, x1, y1 = face.box
        lines.append(f"{i:>4}  {x0:7.1f} {y0:7.1f} {x1:7.1f} {y1:7.1f}  {face.size:6.1f}  {face.score:7.4f}")
    for face in result.skipped:
        x0, y0, x1, y1 = face.box
        lines.append(f"{'-':>4}  {x0:7.1f} {y0:7.1f} {x1:7.1f} {y1:7.1f}  {face.size:6.1f}  {face.score:7.4f}  skipped")
    return "\n".join(lines)


def draw_detection(image: np.ndarray, result) -> np.ndarray:
    """A copy of ``image`` (uint8 RGB) with boxes (green; skipped: grey), 68 landmarks (red),
    five keypoints (blue) and face numbers."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    thick = max(1, round(max(image.shape[:2]) / 500))
    for face in result.skipped:
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (160, 160, 160), thick)
    for i, face in enumerate(result.faces):
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 220, 0), thick)
        cv2.putText(out, str(i), (x0, max(y0 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick,
                    (0, 220, 0), thick)
        radius = int(face.size / 100)  # 0 = one pixel
        for x, y in face.landmarks68:
            cv2.circle(out, (int(round(x)), int(round(y))), radius, (255, 40, 40), -1)
        for x, y in face.keypoints5:
            cv2.circle(out, (int(round(x)), int(round(y))), radius + 1, (40, 80, 255), -1)
    return out


def write_annotated(image: np.ndarray, result, path: Path) -> None:
    """Draw the detection and save it atomically, in the format the file name's extension names."""
    from editor.preview import write_image

    write_image(path, draw_detection(image, result))
