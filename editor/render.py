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
continuous warp of the photo itself, so a moving head uncovers no hole; the crop's own pixels
outside the photo were painted by the generator at inversion (masked projection). Pixels outside
every face's mask and deformation support are the photo's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from editor.composite import FaceLayer, compose_frame, prepare_face_layer, tensors_to_images
from editor.face_edit import EditableFace
from editor.motion_transfer import transfer_motion

#: Mask options for animated faces: room for an open mouth or a lifted brow.
MASK_OPTIONS = {"forehead": 0.5, "erode": 0.02, "feather": 0.03, "grow": 0.06}
#: Motion transfer: how the generator's residual (what the flow cannot explain) is added: its share,
#: its low-pass in generator pixels and its soft threshold in grey levels (see transfer_motion).
RESIDUAL = {"residual_gain": 1.0, "residual_sigma": 1.0, "residual_shrink": 12.0}
#: The most output pixels one synthesis call makes (bounds memory for large generators).
MAX_BATCH_PIXELS = 1 << 22


def _synthesise(net: nn.Module, ws: torch.Tensor, noise: dict) -> np.ndarray:
    out = torch.func.functional_call(net, noise, (ws,), {"noise_mode": "const"}, strict=False)
    return tensors_to_images(out.clamp(-1, 1))


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
    """What the compositor keeps per face: its layer, its mode, its photo crop and head motion [T, 3, 3]."""

    layer: FaceLayer
    transfer: bool
    photo_crop: np.ndarray
    reference: np.ndarray
    head: Optional[np.ndarray]


class FrameCompositor:
    """Composite each frame's face renderings into the photo (see the module docstring).

    ``faces`` with their ``reference`` set; ``heads[k]`` face k's per-frame head motion
    ``[T, 3, 3]`` (photo -> frame, :func:`editor.trajectory.head_transforms`) or None.
    """

    def __init__(self, G: nn.Module, photo: np.ndarray, faces: Sequence[EditableFace],
                 heads: Optional[Sequence[Optional[np.ndarray]]] = None, mask_options: Optional[dict] = None,
                 residual: Optional[dict] = None):
        self.photo = photo
        self.residual = dict(RESIDUAL if residual is None else residual)
        options = dict(MASK_OPTIONS if mask_options is None else mask_options)
        heads = list(heads) if heads is not None else [None] * len(faces)
        self.faces: list[FaceComposite] = []
        for face, head in zip(faces, heads):
            transfer = uses_motion_transfer(G, face)
            layer = prepare_face_layer(photo, face.forward, face.landmarks, face.crop_size,
                                       reconstruction=None if transfer else face.reference, **options)
            self.faces.append(FaceComposite(layer, transfer, face.photo_crop.astype(np.float32),
                                            face.reference, head))

    @property
    def layers(self) -> list[FaceLayer]:
        return [f.layer for f in self.faces]

    def crop(self, k: int, rendering: np.ndarray) -> np.ndarray:
        """Face k's crop for a frame from its rendering (motion-transferred photo crop, or the rendering)."""
        face = self.faces[k]
        if face.transfer:
            return transfer_motion(face.photo_crop, face.reference, rendering, **self.residual)
        return rendering

    def frame(self, index: int, renderings: Sequence[np.ndarray]) -> np.ndarray:
        """The uint8 video frame ``index`` from each face's rendering."""
        crops = [self.crop(k, r) for k, r in enumerate(renderings)]
        motions = [None if f.head is None else f.head[index] for f in self.faces]
        return compose_frame(self.photo, self.layers, crops, motions)
