"""Motion-compensated in-betweens: render keyframes at a lower rate, fill the frames between.

Rendering every frame with the generator is the slow part on a CPU; when the latent path is
smooth, the frames between two rendered keyframes can be synthesised from the optical flow
between them. Flows (Farnebäck) are computed both ways, the flows from the in-between time to
each keyframe are approximated as in Super SloMo (Jiang et al. 2018, linear motion):

``F(t→0) = −(1−t)·t·F(0→1) + t²·F(1→0)``,  ``F(t→1) = (1−t)²·F(0→1) − t·(1−t)·F(1→0)``

and the frame is ``(1−t)·warp(I0, F(t→0)) + t·warp(I1, F(t→1))``. Images are ``H x W x 3``
arrays (uint8 or float32 on the 0..255 scale); results are float32 on that scale. Forward flow
``F(0→1)[p]`` says where pixel p of I0 went in I1.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import cv2
import numpy as np

from editor.motion_transfer import grey_uint8


def keyframe_indices(num_frames: int, step: int) -> list[int]:
    """Frames to render: every ``step``-th frame from 0, and always the last one."""
    if num_frames <= 0:
        return []
    if step < 1:
        raise ValueError(f"keyframe step must be >= 1, got {step}")
    keys = list(range(0, num_frames, step))
    if keys[-1] != num_frames - 1:
        keys.append(num_frames - 1)
    return keys


def forward_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``F(first→second)`` float32 ``[H, W, 2]`` (dx, dy): pixel p of ``first`` is at p + F[p] in ``second``."""
    size = min(first.shape[:2])
    window = int(np.clip(size // 12, 5, 31)) | 1
    levels = int(np.clip(np.log2(size / 16.0), 1, 5))
    return cv2.calcOpticalFlowFarneback(grey_uint8(first), grey_uint8(second), None, pyr_scale=0.5,
                                        levels=levels, winsize=window, iterations=4, poly_n=5,
                                        poly_sigma=1.1, flags=0)


def _backward_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(np.asarray(image, np.float32), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def in_between(first: np.ndarray, second: np.ndarray, t: float, flows=None) -> np.ndarray:
    """The frame at fraction ``t`` in [0, 1] of the way from ``first`` to ``second`` (float32).

    ``flows``: ``(F(0→1), F(1→0))`` when already computed (:func:`forward_flow`); reuse them for
    every in-between of a keyframe pair.
    """
    if first.shape != second.shape:
        raise ValueError(f"keyframes differ in shape: {first.shape} vs {second.shape}")
    t = float(t)
    if t <= 0.0:
        return np.asarray(first, np.float32).copy()
    if t >= 1.0:
        return np.asarray(second, np.float32).copy()
    f01, f10 = flows if flows is not None else (forward_flow(first, second), forward_flow(second, first))
    to_first = -(1.0 - t) * t * f01 + t * t * f10
    to_second = (1.0 - t) ** 2 * f01 - t * (1.0 - t) * f10
    return (1.0 - t) * _backward_warp(first, to_first) + t * _backward_warp(second, to_second)


def fill_frames(keyframes: Iterable[tuple[int, np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
    """Stream every frame from keyframes given in increasing index order, as ``(index, frame)``.

    Keyframes come out as given (their own dtype); in-betweens are float32 from
    :func:`in_between`, with one pair of flows per keyframe pair. Only two keyframes are held at
    a time, so a clip can be rendered, interpolated and written without holding it whole.
    """
    previous: tuple[int, np.ndarray] | None = None
    for index, frame in keyframes:
        if previous is not None:
            start, first = previous
            if index <= start:
                raise ValueError(f"keyframes must increase: {index} after {start}")
            gap = index - start
            if gap > 1:
                flows = (forward_flow(first, frame), forward_flow(frame, first))
                for k in range(1, gap):
                    yield start + k, in_between(first, frame, k / gap, flows)
        yield index, frame
        previous = (index, frame)
