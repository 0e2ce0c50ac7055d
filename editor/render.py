"""Rendering the faces' latent paths in batches and compositing each frame into the photo, streaming.

:func:`render_frames` synthesises chunks of frames of all faces (faces that share a synthesis
network in one batch; each face's noise maps held constant over its frames) and yields, frame by
frame, each face's uint8 ``R x R x 3`` rendering; only one chunk is ever in memory.
:class:`FrameCompositor` turns those into video frames (uint8 ``H x W x 3`` RGB, the photo's size):

* **motion transfer** (generator resolution below the face's crop size, or a grey generator): the
  dense flow between the face's reference rendering and the frame moves the photo's own crop
  (:mod:`editor.motion_transfer`), so resolution, colour and identity stay the photo's and only
  new content comes from the generator;
* **paste** (a generator at least as sharp as the face): the rendering itself, colour-matched to
  the photo (Lab transfer fitted once per face against the reference);

then :func:`editor.composite.compose_frame` deforms the photo around each face's head motion
(neck and hair follow, fading to zero about 0.8 face widths out) and pastes the crop under the
face's feathered landmark mask through the (moved) inverse alignment. The deformation is a
continuous warp of the photo itself, so the head's motion as a whole uncovers no hole; the face's
motion inside its crop (the generator's flow) can, and that background is filled per frame
(:mod:`editor.uncovered`: the tone-matched rendering inside the crop, a smooth fill where the crop's
border cannot reach, a paste mask that follows the flow), so the old face's edge never shows.
Pixels outside every face's crop and deformation support are the photo's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from editor.composite import FaceLayer, compose_frame, prepare_face_layer
from editor.face_edit import EditableFace
from editor.masks import border_taper, transform_points
from editor.motion_transfer import generator_flow, transfer_motion
from editor.uncovered import (
    UncoverPlan, fill_uncovered, moved_paste_mask, outside_taper, plan_uncover, uncovered_mask,
)
from inversion.common.images import tensor_to_images
from inversion.photo_inversion import known_pixels

#: Mask options for animated faces: room for an open mouth or a lifted brow.
MASK_OPTIONS = {"forehead": 0.5, "erode": 0.02, "feather": 0.03, "grow": 0.06}
#: Motion transfer: how the generator's residual (what the flow cannot explain) is added: its share,
#: its low-pass in generator pixels and its soft threshold in grey levels (see transfer_motion).
RESIDUAL = {"residual_gain": 1.0, "residual_sigma": 1.0, "residual_shrink": 12.0}
#: The flow that finds uncovered background in paste mode is estimated at most at this size.
PASTE_FLOW_SIZE = 128
#: The most output pixels one synthesis call makes (bounds memory for large generators).
MAX_BATCH_PIXELS = 1 << 22


def _synthesise(net: nn.Module, ws: torch.Tensor, noise: dict) -> np.ndarray:
    out = torch.func.functional_call(net, noise, (ws,), {"noise_mode": "const"}, strict=False)
    return tensor_to_images(out.clamp(-1, 1))


def _groups(faces: Sequence[EditableFace]) -> list[list[int]]:
    """Face positions grouped by synthesis network (None = the generator's own), in order."""
    groups: dict[int, list[int]] = {}
    for k, face in enumerate(faces):
        groups.setdefault(id(face.synthesis), []).append(k)
    return list(groups.values())


@torch.no_grad()
def render_frames(G: nn.Module, faces: Sequence[EditableFace], paths: Sequence[torch.Tensor],
                  chunk: int = 24) -> Iterator[list[np.ndarray]]:
    """Yield, for every frame, one uint8 ``R x R x 3`` rendering per face (in ``faces`` order).

    ``paths[k]`` is face k's W+ path ``[T, num_ws, w_dim]`` (all the same T). Frames are made
    ``chunk`` at a time for all faces of a group together, in synthesis calls of at most
    :data:`MAX_BATCH_PIXELS` output pixels (1024 images at 64 px, 4 at 1024 px).
    """
    if not faces:
        return
    num_frames = int(paths[0].shape[0])
    device = G.mapping.w_avg.device
    limit = max(1, MAX_BATCH_PIXELS // int(G.img_resolution) ** 2)
    groups = _groups(faces)
    for start in range(0, num_frames, chunk):
        stop = min(start + chunk, num_frames)
        n = stop - start
        images: list[Optional[np.ndarray]] = [None] * len(faces)
        for group in groups:
            ws = torch.cat([paths[k][start:stop].to(device) for k in group])
            noise = {name: torch.cat([faces[k].noise[name].expand(n, -1, -1, -1) for k in group])
                     for name in faces[group[0]].noise}
            net = G.synthesis if faces[group[0]].synthesis is None else faces[group[0]].synthesis
            out = np.concatenate([_synthesise(net, ws[b:b + limit], {k: v[b:b + limit] for k, v in noise.items()})
                                  for b in range(0, ws.shape[0], limit)])
            for j, k in enumerate(group):
                images[k] = out[j * n:(j + 1) * n]
        for i in range(n):
            yield [images[k][i] for k in range(len(faces))]


def uses_motion_transfer(G: nn.Module, face: EditableFace) -> bool:
    """Motion transfer for generators below the face's crop size or without colour; else paste."""
    return G.img_channels == 1 or G.img_resolution < face.crop_size


@dataclass
class FaceComposite:
    """What the compositor keeps per face: its layer, its mode, its photo crop, head motion [T, 3, 3] and fill plan."""

    layer: FaceLayer
    transfer: bool
    photo_crop: np.ndarray
    reference: np.ndarray
    head: Optional[np.ndarray]
    uncover: Optional[UncoverPlan] = None

    def flow_images(self, rendering: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(reference, rendering) at the flow's resolution: the generator's, at most PASTE_FLOW_SIZE when pasting."""
        size = self.reference.shape[0]
        if self.transfer or size <= PASTE_FLOW_SIZE:
            return self.reference, rendering
        small = (PASTE_FLOW_SIZE, PASTE_FLOW_SIZE)
        return (cv2.resize(self.reference, small, interpolation=cv2.INTER_AREA),
                cv2.resize(rendering, small, interpolation=cv2.INTER_AREA))


def _uncover_plan(photo: np.ndarray, face: EditableFace, composite: FaceComposite, options: dict) -> UncoverPlan:
    """A face's plan for filling uncovered background (:func:`editor.uncovered.plan_uncover`)."""
    tone = {}
    if composite.transfer:
        # A motion-transferred crop is the photo's own pixels up to its edge: it may cover the
        # uncovered background there, except where the crop lies outside the photo.
        coverable = border_taper(face.crop_size, 2.0) * known_pixels(photo.shape, face.forward, face.crop_size)
        tone = {"photo_crop": composite.photo_crop, "reference": face.reference, "coverable": coverable}
    return plan_uncover(transform_points(face.forward, face.landmarks), composite.layer.mask_crop,
                        composite.flow_images(face.reference)[0].shape[0], forehead=options.get("forehead", 0.5),
                        feather=options.get("feather", 0.025), **tone)


class FrameCompositor:
    """Composite each frame's face renderings into the photo (see the module docstring).

    ``faces`` with their ``reference`` set; ``heads[k]`` face k's per-frame head motion
    ``[T, 3, 3]`` (photo -> frame, :func:`editor.trajectory.head_transforms`) or None.
    ``fill_uncovered`` False turns off the per-frame filling of uncovered background (for comparison);
    ``mode`` "flow" or "paste" forces that model for every face ("auto": :func:`uses_motion_transfer`).
    """

    def __init__(self, G: nn.Module, photo: np.ndarray, faces: Sequence[EditableFace],
                 heads: Optional[Sequence[Optional[np.ndarray]]] = None, mask_options: Optional[dict] = None,
                 residual: Optional[dict] = None, fill_uncovered: bool = True, mode: str = "auto"):
        self.photo = photo
        self.residual = dict(RESIDUAL if residual is None else residual)
        options = dict(MASK_OPTIONS if mask_options is None else mask_options)
        heads = list(heads) if heads is not None else [None] * len(faces)
        self.faces: list[FaceComposite] = []
        for face, head in zip(faces, heads):
            transfer = {"flow": True, "paste": False}.get(mode, uses_motion_transfer(G, face))
            layer = prepare_face_layer(photo, face.forward, face.landmarks, face.crop_size,
                                       reconstruction=None if transfer else face.reference, **options)
            composite = FaceComposite(layer, transfer, face.photo_crop.astype(np.float32), face.reference, head)
            if fill_uncovered:
                composite.uncover = _uncover_plan(photo, face, composite, options)
            self.faces.append(composite)

    @property
    def layers(self) -> list[FaceLayer]:
        return [f.layer for f in self.faces]

    def crop(self, k: int, rendering: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray], Optional[tuple]]:
        """Face k's (crop, paste mask, outside fill) for a frame from its rendering.

        The crop is the motion-transferred photo crop (or the rendering when pasting) with its
        uncovered background filled; the paste mask is None when the layer's still mask serves, the
        outside fill None or the ``(weight, unknown)`` masks of :func:`editor.uncovered.outside_taper`.
        """
        face = self.faces[k]
        if not face.transfer and face.uncover is None:
            return rendering, None, None
        flow = generator_flow(*face.flow_images(rendering))
        uncovered = uncovered_mask(face.uncover, flow) if face.uncover is not None else None
        crop = rendering
        if face.transfer:  # in uncovered background the photo's own pixels, without the generator's residual
            keep = None if uncovered is None else 1.0 - uncovered
            crop = transfer_motion(face.photo_crop, face.reference, rendering, flow=flow, residual_weight=keep,
                                   **self.residual)
        if face.uncover is None:
            return crop, None, None
        mask = moved_paste_mask(face.uncover, face.layer.mask_crop, flow, uncovered)
        if uncovered is not None and face.transfer:
            crop = fill_uncovered(crop, rendering, face.uncover, uncovered, flow)
        return crop, mask, outside_taper(face.uncover, uncovered)

    def frame(self, index: int, renderings: Sequence[np.ndarray]) -> np.ndarray:
        """The uint8 video frame ``index`` from each face's rendering."""
        parts = [self.crop(k, r) for k, r in enumerate(renderings)]
        motions = [None if f.head is None else f.head[index] for f in self.faces]
        return compose_frame(self.photo, self.layers, [p[0] for p in parts], motions, masks=[p[1] for p in parts],
                             outside=[p[2] for p in parts])
