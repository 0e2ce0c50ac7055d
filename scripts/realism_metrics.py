"""The per-face measures of ``scripts/bench_realism.py`` (benchmark helpers, not installed).

Frames are uint8 RGB ``[H, W, 3]`` (grey where named), boxes ``(x0, y0, x1, y1)`` photo pixels,
landmarks dlib's 68 ``[68, 2]`` (iBUG order) in the same pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Landmark polygons kept out of the skin mask (then dilated): eyes, brows, outer lips.
FEATURES = {"right eye": range(36, 42), "left eye": range(42, 48), "right brow": range(17, 22),
            "left brow": range(22, 27), "mouth": range(48, 60)}
#: Dilation of the feature polygons, as a fraction of the face width (outer-corner eye distance).
FEATURE_MARGIN = 0.06
RISE, HIGH = 0.05, 0.7  # the judges' rule: p rises by RISE, or starts at >= HIGH and does not fall


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def region(box, shape, grow: float = 0.0) -> tuple[slice, slice]:
    """Integer slices (rows, cols) of ``box`` grown by ``grow`` of its size on each side, inside ``shape``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    dx, dy = grow * (x1 - x0), grow * (y1 - y0)
    r0, r1 = max(int(np.floor(y0 - dy)), 0), min(int(np.ceil(y1 + dy)), shape[0])
    c0, c1 = max(int(np.floor(x0 - dx)), 0), min(int(np.ceil(x1 + dx)), shape[1])
    return slice(r0, max(r1, r0 + 1)), slice(c0, max(c1, c0 + 1))


def judged(first: float, last: float) -> bool:
    """The judges see the target: p rises by >= RISE, or already stands at >= HIGH and does not fall."""
    return last - first >= RISE or (first >= HIGH and last >= first)


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (share, [0, 1]) of a binomial proportion: at z = 1.96 the 95 % interval in which
    the share of faces the judges see the target in would lie on more faces like these. (0, 1) for no faces."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar p-value for two variants judged on the same faces: ``gained`` faces seen with the
    new one only, ``lost`` with the old one only (faces both see, or neither, say nothing about which is
    better). The chance of a split at least this uneven if each such face were a coin toss; 1 for none."""
    n, k = gained + lost, min(gained, lost)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def misread(rows) -> str:
    """What the judges read at the last frame where they did not see the target: ``"surprise 9, joy 6"``
    (each emotion with the highest mean judge probability there, most often first; ties by name), ``"-"``
    when they saw it on every face. ``rows`` are dicts with ``judges`` (bool) and ``read`` (str or None)."""
    counts: dict[str, int] = {}
    for row in rows:
        if not row.get("judges") and row.get("read"):
            counts[row["read"]] = counts.get(row["read"], 0) + 1
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"


def sharpness(rgb: np.ndarray, box) -> float:
    """Variance of the Laplacian (grey levels) over the face box."""
    rows, cols = region(box, rgb.shape)
    return float(cv2.Laplacian(grey(rgb)[rows, cols], cv2.CV_64F).var())


def descriptor(identity, rgb: np.ndarray, box) -> np.ndarray:
    """dlib's 128-D descriptor of the face in ``box`` (``directions.evaluation.DlibIdentity``'s models)."""
    import dlib  # noqa: PLC0415

    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    image = np.ascontiguousarray(rgb)
    shape = identity.predictor(image, dlib.rectangle(x0, y0, x1, y1))
    return np.asarray(identity.recognizer.compute_face_descriptor(image, shape), dtype=np.float64)


def skin_mask(landmarks: np.ndarray, shape) -> np.ndarray:
    """bool [H, W]: inside the landmarks' hull, outside the dilated eyes, brows and mouth."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1)
    features = np.zeros_like(mask)
    for idx in FEATURES.values():
        cv2.fillConvexPoly(features, cv2.convexHull(np.round(landmarks[list(idx)]).astype(np.int32)), 1)
    width = float(np.linalg.norm(landmarks[45] - landmarks[36]))
    radius = max(int(round(FEATURE_MARGIN * width)), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return (mask > 0) & (cv2.dilate(features, kernel) == 0)


def dense_flow(last_grey: np.ndarray, first_grey: np.ndarray, method: str = "dis") -> np.ndarray:
    """float32 ``[h, w, 2]``: for each pixel of ``last_grey`` (uint8), the (dx, dy) to where it came from in
    ``first_grey``. ``method`` "dis" (OpenCV's DIS, medium preset) or "farneback" (3 levels, window 15)."""
    last_grey, first_grey = np.ascontiguousarray(last_grey), np.ascontiguousarray(first_grey)
    if method == "dis":
        return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(last_grey, first_grey, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(last_grey, first_grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    raise ValueError(f"unknown flow {method!r}: dis or farneback")


def skin_paint(first: np.ndarray, last: np.ndarray, box, landmarks_last: np.ndarray,
               interpolation: int = cv2.INTER_LANCZOS4, flow: str = "dis") -> float:
    """Mean |last - first warped by dense flow| (grey levels) on the last frame's skin.

    The flow (:func:`dense_flow`) is computed on the face crop (box grown by 25 %) from last to first,
    i.e. for each pixel of the last frame where it came from in the first; the first frame remapped
    through it (``interpolation``) is the motion-explained prediction of the last. What remains is paint
    the motion cannot explain. The measure has a floor where the flow misses true motion:
    * an exact sub-pixel translation of the astronaut (no paint at all) scores 0.74-1.02 with Lanczos-4
      and 1.40-1.88 with bilinear, whose blur of the prediction is counted as paint (Farnebäck);
    * a smooth pull of the astronaut's mouth region (no paint at all) by 5 / 10 / 15 / 20 px scores
      0.70 / 1.18 / 2.63 / 3.72 with DIS and 1.20 / 2.11 / 3.99 / 5.13 with Farnebäck (the measure before
      2026-12-03), while a 10-level darkening of both cheeks adds 1.3-1.5 with either.
    """
    return skin_paint_readings(first, last, box, landmarks_last, ((flow, interpolation),))[0]


def skin_paint_readings(first: np.ndarray, last: np.ndarray, box, landmarks_last: np.ndarray,
                        readings) -> list[float]:
    """:func:`skin_paint` for each ``(flow, interpolation)`` of ``readings``, each flow computed once."""
    rows, cols = region(box, first.shape, 0.25)
    a, b = grey(first)[rows, cols], grey(last)[rows, cols]
    mask = skin_mask(landmarks_last - np.array([cols.start, rows.start]), a.shape)
    if not mask.any():
        return [float("nan")] * len(readings)
    flows = {method: dense_flow(b, a, method) for method in dict(readings)}
    gy, gx = np.mgrid[0:a.shape[0], 0:a.shape[1]].astype(np.float32)
    out = []
    for method, interpolation in readings:
        flow = flows[method]
        warped = cv2.remap(a, gx + flow[..., 0], gy + flow[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)
        out.append(float(np.abs(b.astype(np.float64) - warped.astype(np.float64))[mask].mean()))
    return out


def landmark_jitter(frames: np.ndarray, edges, every: int) -> float:
    """RMS second difference over time (px) of dlib's 68 landmarks, found in the fixed box ``edges``
    on every ``every``-th frame of ``frames`` (the clip's last half)."""
    from inversion.faces.landmarks import predict_landmarks  # noqa: PLC0415

    points = np.stack([predict_landmarks(np.ascontiguousarray(f), edges) for f in frames[::every]])
    if len(points) < 3:
        return float("nan")
    second = points[2:] - 2 * points[1:-1] + points[:-2]
    return float(np.sqrt((second ** 2).sum(axis=2).mean()))


def mouth_flicker(frames: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean |f(t+1) - 2 f(t) + f(t-1)| (grey levels) over the inner-mouth box (landmarks 60-67,
    grown to at least 4 px) across ``frames`` (the apex hold)."""
    inner = landmarks[60:68]
    (x0, y0), (x1, y1) = inner.min(axis=0), inner.max(axis=0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = max((x1 - x0) / 2, 2.0), max((y1 - y0) / 2, 2.0)
    rows, cols = region((cx - hw, cy - hh, cx + hw, cy + hh), frames.shape[1:3])
    if len(frames) < 3:
        return float("nan")
    f = np.stack([grey(fr)[rows, cols] for fr in frames]).astype(np.float64)
    return float(np.abs(f[2:] - 2 * f[1:-1] + f[:-2]).mean())


def still_ceiling(photo: np.ndarray, boxes, num_frames: int, fps: float, crf: int, preset: str, path) -> list[float]:
    """Per box: Laplacian variance of the last frame / the first of the photo encoded with no motion
    (``editor.video.VideoWriter``, the animate run's frame count, crf and preset)."""
    from editor.video import VideoWriter, read_video  # noqa: PLC0415

    with VideoWriter(path, fps, crf=crf, preset=preset, expected_frames=num_frames) as writer:
        for _ in range(num_frames):
            writer.write(photo)
    frames = read_video(path)
    return [sharpness(frames[-1], b) / max(sharpness(frames[0], b), 1e-9) for b in boxes]
