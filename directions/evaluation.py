"""Judging emotion directions: does an edit make the classifier see the emotion, and is it the same person?

For a set of faces (generator samples drawn from a seed, or given latents) and each emotion of a
:class:`~directions.direction_file.DirectionSet`, every face is edited at several strengths,
``ws' = ws + k * strength_e * offset_e`` (``k`` from ``strengths``, in units of the direction's
recommended strength ``strength_e`` unless ``relative=False``; ``offset_e`` the unit direction as a
W+ offset), rendered with ``noise_mode="const"`` and judged by

- the emotion classifier (``classify(faces [B, 1, 48, 48] in [-1, 1]) -> probs [B, 7]``, EMOTIONS order):
  the share of faces whose top class is the target (``success_rate``), the mean target probability
  and its rise over the unedited face, and how much the *other* six probabilities move (mean
  absolute change, and the mean signed change per emotion);
- an identity descriptor (``describe(images uint8 [B, H, W, 3] RGB) -> [B, 128]``, by default
  dlib's face-recognition ResNet on the whole render as the face box, :class:`DlibIdentity`): the
  mean Euclidean distance to the unedited face's descriptor and the share below dlib's
  same-person threshold 0.6.

:func:`evaluate_directions` returns a plain, JSON-serialisable dict; nothing is written.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch

from directions.direction_file import DirectionSet
from directions.emotions import EMOTIONS
from directions.labelled_latents import to_classifier_input
from inversion.common.errors import FaceLatentError

#: dlib's threshold: descriptors closer than this are (by dlib's LFW calibration) the same person.
SAME_PERSON_THRESHOLD = 0.6

Classify = Callable[[torch.Tensor], torch.Tensor]
Describe = Callable[[np.ndarray], np.ndarray]


def to_uint8_rgb(images: torch.Tensor) -> np.ndarray:
    """``[N, C, H, W]`` float in [-1, 1] -> ``uint8 [N, H, W, 3]`` RGB (grey repeated), rounded, clipped."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


class DlibIdentity:
    """dlib's 128-D face descriptor with the whole image as the face box.

    The 5-point shape predictor places the landmarks inside the box, the face-recognition ResNet
    (``dlib_face_recognition_resnet_model_v1``) computes the descriptor from the aligned chip. Both
    files come from :func:`inversion.assets.resolve_asset`.
    """

    def __init__(self, recognition_path=None, landmarks_path=None) -> None:
        import dlib  # noqa: PLC0415 (heavy; only needed here)

        from inversion.assets import resolve_asset  # noqa: PLC0415

        self._dlib = dlib
        self.recognizer = dlib.face_recognition_model_v1(str(recognition_path or resolve_asset("dlib-face-recognition")))
        self.predictor = dlib.shape_predictor(str(landmarks_path or resolve_asset("dlib-landmarks-5")))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """``uint8 [N, H, W, 3]`` RGB -> float64 ``[N, 128]``."""
        out = []
        for image in images:
            image = np.ascontiguousarray(image)
            box = self._dlib.rectangle(0, 0, image.shape[1] - 1, image.shape[0] - 1)
            shape = self.predictor(image, box)
            out.append(np.asarray(self.recognizer.compute_face_descriptor(image, shape), dtype=np.float64))
        return np.stack(out) if out else np.zeros((0, 128))


def sample_latents(G, num: int, seed: int, truncation_psi: float = 0.7, device="cpu") -> torch.Tensor:
    """``num`` W+ latents [num, num_ws, w_dim] of ``G`` from z drawn (on the CPU) with ``seed``."""
    z = torch.randn(num, G.z_dim, generator=torch.Generator().manual_seed(int(seed))).to(device)
    with torch.no_grad():
        return G.mapping(z, None, truncation_psi=truncation_psi)


def _as_wplus(latents: torch.Tensor, num_ws: int) -> torch.Tensor:
    if latents.ndim == 2:
        return latents[:, None].repeat(1, num_ws, 1)
    if latents.ndim != 3 or latents.shape[1] != num_ws:
        raise FaceLatentError(f"latents must be [N, w_dim] or [N, {num_ws}, w_dim], got {tuple(latents.shape)}")
    return latents


def judge(G, ws: torch.Tensor, classify: Classify, describe: Optional[Describe], batch_size: int = 16):
    """Render ``ws`` in batches; return (probs [N, 7] float64, descriptors [N, 128] or None)."""
    probs, descriptors = [], []
    for start in range(0, ws.shape[0], batch_size):
        with torch.no_grad():
            img = G.synthesis(ws[start:start + batch_size], noise_mode="const")
            probs.append(torch.as_tensor(classify(to_classifier_input(img))).double().cpu())
        if describe is not None:
            descriptors.append(np.asarray(describe(to_uint8_rgb(img)), dtype=np.float64))
    p = torch.cat(probs).numpy()
    if p.shape != (ws.shape[0], len(EMOTIONS)):
        raise FaceLatentError(f"the classifier returned {p.shape}, expected [{ws.shape[0]}, {len(EMOTIONS)}]")
    return p, (np.concatenate(descriptors) if describe is not None else None)


def edit_metrics(target: int, base_probs: np.ndarray, probs: np.ndarray,
                 base_desc: Optional[np.ndarray], desc: Optional[np.ndarray]) -> dict:
    """The figures of one (emotion, strength) cell from probabilities [N, 7] and descriptors [N, 128]."""
    others = [i for i in range(len(EMOTIONS)) if i != target]
    change = probs - base_probs
    cell = {
        "success_rate": float(np.mean(probs.argmax(1) == target)),
        "target_prob": float(probs[:, target].mean()),
        "target_rise": float(change[:, target].mean()),
        "others_abs_change": float(np.abs(change[:, others]).mean()),
        "others_change": {EMOTIONS[i]: float(change[:, i].mean()) for i in others},
    }
    if base_desc is not None and desc is not None:
        distance = np.linalg.norm(desc - base_desc, axis=1)
        cell["identity_distance"] = float(distance.mean())
        cell["same_person_rate"] = float(np.mean(distance < SAME_PERSON_THRESHOLD))
    return cell


def evaluate_directions(
    G,
    directions: DirectionSet,
    classify: Classify,
    *,
    describe: Optional[Describe] = None,
    latents: Optional[torch.Tensor] = None,
    num_samples: int = 32,
    strengths: Sequence[float] = (0.0, 1.0, 2.0, 3.0),
    relative: bool = True,
    emotions: Optional[Sequence[str]] = None,
    seed: int = 0,
    truncation_psi: float = 0.7,
    batch_size: int = 16,
    progress: Optional[Callable[[int, int], None]] = None,
) -> dict:
    """Edit every face along every direction at every strength and judge the results.

    ``latents`` [N, w_dim] or [N, num_ws, w_dim] (e.g. inverted faces) or, when ``None``,
    ``num_samples`` samples of ``G`` drawn with ``seed``. ``describe=None`` skips identity.
    ``progress(done, total)`` counts (emotion, strength) cells. See the module docstring for the
    figures; the result is ``{"faces", "source", "strengths", "relative", "identity_threshold",
    "baseline": {...}, "emotions": {emotion: {"method", "strength", "cells": [{"k", "offset", ...}]}}}``.
    """
    if directions.num_ws != G.num_ws or directions.w_dim != G.w_dim:
        raise FaceLatentError(f"the directions are for {directions.num_ws}x{directions.w_dim} latents, "
                              f"the generator has {G.num_ws}x{G.w_dim}")
    if latents is None:
        ws = sample_latents(G, num_samples, seed, truncation_psi, device=G.mapping.w_avg.device)
        source = f"{num_samples} generator samples (seed {seed}, truncation {truncation_psi:g})"
    else:
        ws = _as_wplus(latents.to(G.mapping.w_avg.device).float(), G.num_ws)
        source = f"{ws.shape[0]} given latents"
    emotions = list(emotions or directions.emotions)
    base_probs, base_desc = judge(G, ws, classify, describe, batch_size)
    result = {"faces": int(ws.shape[0]), "source": source, "strengths": [float(k) for k in strengths],
              "relative": bool(relative), "identity_threshold": SAME_PERSON_THRESHOLD,
              "baseline": {"top_class_share": {e: float(np.mean(base_probs.argmax(1) == i)) for i, e in enumerate(EMOTIONS)},
                           "mean_probs": {e: float(base_probs[:, i].mean()) for i, e in enumerate(EMOTIONS)}},
              "emotions": {}}
    total, done = len(emotions) * len(strengths), 0
    for emotion in emotions:
        entry = directions.get(emotion)
        offset = directions.offset(emotion).to(ws.device)
        unit_len = entry.strength if relative else 1.0
        cells = []
        for k in strengths:
            if float(k) == 0.0:  # the unedited faces: already judged
                probs, desc = base_probs, base_desc
            else:
                probs, desc = judge(G, ws + float(k) * unit_len * offset, classify, describe, batch_size)
            cell = {"k": float(k), "offset": float(k) * unit_len}
            cell.update(edit_metrics(EMOTIONS.index(emotion), base_probs, probs, base_desc, desc))
            cells.append(cell)
            done += 1
            if progress is not None:
                progress(done, total)
        result["emotions"][emotion] = {"method": entry.method, "strength": entry.strength,
                                       "accuracy": entry.accuracy, "cells": cells}
    return result


def format_table(result: dict) -> str:
    """A plain-text table of :func:`evaluate_directions` results, one row per (emotion, strength)."""
    unit = "x rec." if result["relative"] else "latent"
    before = result["baseline"]["top_class_share"]
    lines = [f"{result['source']}; strengths in {unit} units; identity threshold {result['identity_threshold']}",
             "before editing, top class: " + ", ".join(f"{e} {100 * before[e]:.0f}%" for e in EMOTIONS if before[e]),
             f"{'emotion':<9} {'k':>5} {'offset':>7} {'success':>8} {'p(target)':>9} {'rise':>7} "
             f"{'others':>7} {'id dist':>8} {'same':>6}"]
    for emotion, entry in result["emotions"].items():
        for c in entry["cells"]:
            ident = (f"{c['identity_distance']:>8.3f} {100 * c['same_person_rate']:>5.0f}%"
                     if "identity_distance" in c else f"{'-':>8} {'-':>6}")
            lines.append(f"{emotion:<9} {c['k']:>5g} {c['offset']:>7.3f} {100 * c['success_rate']:>7.1f}% "
                         f"{c['target_prob']:>9.3f} {c['target_rise']:>+7.3f} {c['others_abs_change']:>7.3f} {ident}")
    return "\n".join(lines)
