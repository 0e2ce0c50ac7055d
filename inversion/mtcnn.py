"""MTCNN face detection (Zhang et al. 2016), the three-network cascade, written for this project.

The networks have the layer names of the ``facenet-pytorch`` state dicts (``mtcnn-pnet``,
``mtcnn-rnet``, ``mtcnn-onet`` through :func:`inversion.assets.resolve_asset`), and the cascade
follows facenet-pytorch 2.6.0's ``detect_face`` step for step so that it finds the same faces:

1. P-Net, fully convolutional, over an image pyramid (scales ``12 / min_face_size * factor**k``
   while the shorter side stays >= 12 px; each level resized with area interpolation to
   ``int(h * s + 1) x int(w * s + 1)``); candidate windows with face probability >= ``thresholds[0]``;
   NMS (IoU 0.5) per level, then NMS (IoU 0.7) over all levels; box regression; squared.
2. R-Net on 24x24 area-resized crops (crop clipped to the photo, not padded); probability >
   ``thresholds[1]``; NMS (IoU 0.7); box regression; squared.
3. O-Net on 48x48 crops; probability > ``thresholds[2]``; five keypoints; box regression; NMS with
   the "min" overlap (intersection / smaller area, 0.7).

Input pixels are RGB ``uint8`` (or float 0..255), normalised as ``(x - 127.5) / 128``. Output
coordinates are photo pixels, x right, y down, pixel centres at integers (the keypoints); boxes are
``[x0, y0, x1, y1]`` exactly as facenet-pytorch reports them (so they can be compared with it).
Keypoint order: left eye, right eye, nose, left mouth corner, right mouth corner (image left/right).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inversion.common.errors import AssetMissingError, CheckpointError

DEFAULT_THRESHOLDS = (0.6, 0.7, 0.7)
DEFAULT_FACTOR = 0.709
DEFAULT_MIN_FACE = 20
_BATCH = 512


class PNet(nn.Module):
    """Proposal network: fully convolutional, 12x12 receptive field, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` [N,3,H,W] normalised -> (box regression [N,4,h,w], face probability [N,h,w])."""
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement network on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` [N,3,24,24] -> (box regression [N,4], face probability [N])."""
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(x))
        # The weights were converted from Caffe/TF: flatten in (W, H, C) order.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)[:, 1]


class ONet(nn.Module):
    """Output network on 48x48 crops: probability, box regression and five keypoints."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` [N,3,48,48] -> (regression [N,4], keypoints [N,10] as 5 x then 5 y in 0..1, prob [N])."""
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)[:, 1]


class MTCNNNets(nn.Module):
    """The three networks together (``pnet``, ``rnet``, ``onet``), in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        self.eval()


@functools.lru_cache(maxsize=4)
def load_mtcnn(device: str = "cpu") -> MTCNNNets:
    """The cascade with the facenet-pytorch weights (resolved by name), cached per device."""
    from inversion.assets import resolve_asset

    nets = MTCNNNets()
    for name in ("pnet", "rnet", "onet"):
        path = resolve_asset(f"mtcnn-{name}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            getattr(nets, name).load_state_dict(state)
        except (RuntimeError, OSError, KeyError) as err:
            raise CheckpointError(f"MTCNN weights {path} do not fit the {name.upper()} network: "
                                  f"{str(err).splitlines()[0]}") from None
    return nets.to(torch.device(device)).requires_grad_(False)


@dataclass
class MTCNNResult:
    """Faces found in one image: ``boxes`` [N,4] (x0,y0,x1,y1), ``scores`` [N], ``keypoints`` [N,5,2]."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first.

    ``mode="union"``: overlap = IoU with areas ``(x1 - x0) * (y1 - y0)`` (torchvision's ``nms``);
    ``mode="min"``: overlap = intersection / smaller area with ``+1`` pixel areas (the MTCNN
    reference's "Min"). A box is dropped when its overlap with a kept one is > ``threshold``.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64)
    plus = 1.0 if mode == "min" else 0.0
    x0, y0, x1, y1 = boxes.T
    area = (x1 - x0 + plus) * (y1 - y0 + plus)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + plus)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + plus)
        inter = w * h
        if mode == "min":
            overlap = inter / np.minimum(area[i], area[rest])
        elif mode == "union":
            overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        else:
            raise ValueError(f"nms mode must be 'union' or 'min', not {mode!r}")
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _nms_per_image(boxes: torch.Tensor, image_ids: torch.Tensor, threshold: float, mode: str) -> torch.Tensor:
    """NMS done separately for each image of the batch; boxes [N, >=5] with the score in column 4."""
    keep = []
    array = boxes.detach().cpu().numpy()
    ids = image_ids.cpu().numpy()
    for b in np.unique(ids):
        where = np.flatnonzero(ids == b)
        keep.append(where[nms(array[where, :4], array[where, 4], threshold, mode)])
    flat = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    return torch.as_tensor(flat, dtype=torch.long, device=boxes.device)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (side = the longer side)."""
    boxes = boxes.clone()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Apply box regression offsets (fractions of the +1 width/height) to columns 0..3."""
    boxes = boxes.clone()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] = boxes[:, :4] + reg[:, :4] * torch.stack([w, h, w, h], dim=1)
    return boxes


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _pyramid_scales(h: int, w: int, min_face_size: float, factor: float) -> list[float]:
    scale = 12.0 / min_face_size
    shortest = min(h, w) * scale
    scales = []
    while shortest >= 12:
        scales.append(scale)
        scale *= factor
        shortest *= factor
    return scales


def _stage_one(nets: MTCNNNets, images: torch.Tensor, min_face_size: float, factor: float,
               threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """P-Net over the pyramid -> squared candidate boxes [N,5] (x0,y0,x1,y1,score) and image ids."""
    h, w = images.shape[2:]
    found, ids = [], []
    for scale in _pyramid_scales(h, w, min_face_size, factor):
        level = F.interpolate(images, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
        reg, prob = nets.pnet(_normalise(level))
        mask = prob >= threshold
        where = mask.nonzero()
        if where.numel() == 0:
            continue
        cell = where[:, 1:].to(reg.dtype).flip(1)  # (x, y) of each window on the level
        q0 = ((2 * cell + 1) / scale).floor()
        q1 = ((2 * cell + 12) / scale).floor()
        offsets = reg.permute(0, 2, 3, 1)[mask]
        boxes = torch.cat([q0, q1, prob[mask].unsqueeze(1), offsets], dim=1)
        pick = _nms_per_image(boxes, where[:, 0], 0.5, "union")
        found.append(boxes[pick])
        ids.append(where[pick, 0])
    if not found:
        return images.new_zeros((0, 5)), torch.zeros(0, dtype=torch.long)
    boxes, ids = torch.cat(found), torch.cat(ids)
    pick = _nms_per_image(boxes, ids, 0.7, "union")
    boxes, ids = boxes[pick], ids[pick]
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    refined = boxes[:, :4] + boxes[:, 5:9] * torch.stack([bw, bh, bw, bh], dim=1)
    return _square(torch.cat([refined, boxes[:, 4:5]], dim=1)), ids


def _crops(images: torch.Tensor, boxes: torch.Tensor, ids: torch.Tensor, size: int):
    """Area-resized ``size`` crops of each box, clipped to the image (facenet-pytorch's ``pad``).

    Returns the crops [M,3,size,size] and the indices of the boxes they belong to (boxes that lie
    wholly outside the image are left out).
    """
    h, w = images.shape[2:]
    corners = boxes[:, :4].trunc().to(torch.int64).cpu().numpy()
    crops, valid = [], []
    for k, (x0, y0, x1, y1) in enumerate(corners):
        x0, y0, x1, y1 = max(x0, 1), max(y0, 1), min(x1, w), min(y1, h)
        if y1 > y0 - 1 and x1 > x0 - 1:
            patch = images[ids[k], :, y0 - 1:y1, x0 - 1:x1].unsqueeze(0)
            crops.append(F.interpolate(patch, size=(size, size), mode="area"))
            valid.append(k)
    if not crops:
        return images.new_zeros((0, 3, size, size)), torch.zeros(0, dtype=torch.long)
    return _normalise(torch.cat(crops)), torch.as_tensor(valid, dtype=torch.long)


def _run_batched(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    outs = [net(x[i:i + _BATCH]) for i in range(0, len(x), _BATCH)]
    return tuple(torch.cat(parts) for parts in zip(*outs))


def _stage_two(nets, images, boxes, ids, threshold):
    """R-Net refinement of the P-Net candidates."""
    crops, valid = _crops(images, boxes, ids, 24)
    if len(valid) == 0:
        return boxes[:0], ids[:0]
    boxes, ids = boxes[valid], ids[valid]
    reg, prob = _run_batched(nets.rnet, crops)
    keep = prob > threshold
    boxes = torch.cat([boxes[keep, :4], prob[keep].unsqueeze(1)], dim=1)
    ids, reg = ids[keep], reg[keep]
    pick = _nms_per_image(boxes, ids, 0.7, "union")
    return _square(_regress(boxes[pick], reg[pick])), ids[pick]


def _stage_three(nets, images, boxes, ids, threshold):
    """O-Net: final probability, box regression and keypoints."""
    crops, valid = _crops(images, boxes, ids, 48)
    if len(valid) == 0:
        return boxes[:0], ids[:0], boxes.new_zeros((0, 5, 2))
    boxes, ids = boxes[valid], ids[valid]
    reg, marks, prob = _run_batched(nets.onet, crops)
    keep = prob > threshold
    boxes = torch.cat([boxes[keep, :4], prob[keep].unsqueeze(1)], dim=1)
    ids, reg, marks = ids[keep], reg[keep], marks[keep]
    bw = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
    bh = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
    px = bw * marks[:, :5] + boxes[:, 0:1] - 1
    py = bh * marks[:, 5:] + boxes[:, 1:2] - 1
    points = torch.stack([px, py], dim=2)
    boxes = _regress(boxes, reg)
    pick = _nms_per_image(boxes, ids, 0.7, "min")
    return boxes[pick], ids[pick], points[pick]


@torch.no_grad()
def detect_mtcnn(nets: MTCNNNets, images, min_face_size: float = DEFAULT_MIN_FACE,
                 thresholds=DEFAULT_THRESHOLDS, factor: float = DEFAULT_FACTOR) -> list[MTCNNResult]:
    """Run the cascade on a batch of same-size RGB images.

    ``images``: ``uint8`` ``[H,W,3]`` or ``[B,H,W,3]`` (numpy or tensor, RGB, 0..255). Returns one
    :class:`MTCNNResult` per image, faces in order of decreasing score, coordinates in that
    image's pixels (see the module docstring for the conventions).
    """
    device = next(nets.parameters()).device
    if isinstance(images, torch.Tensor):
        x = images.to(device)
    else:
        x = torch.from_numpy(np.array(images, copy=True)).to(device)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected RGB images [B,H,W,3], got shape {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).to(torch.float32)
    boxes, ids = _stage_one(nets, x, min_face_size, factor, thresholds[0])
    points = x.new_zeros((0, 5, 2))
    if len(boxes):
        boxes, ids = _stage_two(nets, x, boxes, ids, thresholds[1])
    if len(boxes):
        boxes, ids, points = _stage_three(nets, x, boxes, ids, thresholds[2])
    else:
        boxes = x.new_zeros((0, 5))
    results = []
    boxes, points, ids = boxes.cpu().double().numpy(), points.cpu().double().numpy(), ids.cpu().numpy()
    for b in range(x.shape[0]):
        mine = np.flatnonzero(ids == b)
        mine = mine[np.argsort(-boxes[mine, 4], kind="stable")]
        results.append(MTCNNResult(boxes[mine, :4].copy(), boxes[mine, 4].copy(), points[mine].copy()))
    return results
