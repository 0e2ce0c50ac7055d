"""MTCNN face detection (Zhang et al. 2016), the three-network cascade, written for this project in numpy.

The networks have the layer names of the ``facenet-pytorch`` state dicts (``mtcnn-pnet``,
``mtcnn-rnet``, ``mtcnn-onet`` through :func:`inversion.assets.resolve_asset`, read without torch by
:func:`inversion.assets.legacy_state.read_legacy_state`), and the cascade follows facenet-pytorch
2.6.0's ``detect_face`` step for step so that it finds the same faces:

1. P-Net, fully convolutional, over an image pyramid (scales ``12 / min_face_size * factor**k``
   while the shorter side stays >= 12 px; each level resized with area interpolation to
   ``int(h * s + 1) x int(w * s + 1)``); candidate windows with face probability >= ``thresholds[0]``;
   NMS (IoU 0.5) per level, then NMS (IoU 0.7) over all levels; box regression; squared.
2. R-Net on 24x24 area-resized crops (crop clipped to the photo, not padded); probability >
   ``thresholds[1]``; NMS (IoU 0.7); box regression; squared.
3. O-Net on 48x48 crops; probability > ``thresholds[2]``; five keypoints; box regression; NMS with
   the "min" overlap (intersection / smaller area, 0.7).

The networks are small (P-Net has 7k weights), so numpy with one BLAS call per layer runs them as
fast as torch on the CPU, and detection does not have to import torch (3 s of a job's start-up).
"Area" interpolation is torch's: each output cell averages the input cells
``[floor(i * n / m), ceil((i + 1) * n / m))``, done as two averaging matrices.

Input pixels are RGB ``uint8`` (or float 0..255), normalised as ``(x - 127.5) / 128``. Output
coordinates are photo pixels, x right, y down, pixel centres at integers (the keypoints); boxes are
``[x0, y0, x1, y1]`` exactly as facenet-pytorch reports them (so they can be compared with it).
Keypoint order: left eye, right eye, nose, left mouth corner, right mouth corner (image left/right).
Images are resized as float32 ``[N, C, H, W]``; the networks' activations are ``[N, H, W, C]``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from inversion.assets import resolve_asset
from inversion.assets.legacy_state import read_legacy_state
from inversion.common.errors import CheckpointError

DEFAULT_THRESHOLDS = (0.6, 0.7, 0.7)
DEFAULT_FACTOR = 0.709
DEFAULT_MIN_FACE = 20
_BATCH = 512

#: Each network's layers: (kind, name, arguments). conv: (in, out, kernel); pool: (kernel, stride);
#: dense: (in, out). Every conv and dense layer but the heads is followed by a PReLU of its name.
_PNET = [("conv", "conv1", (3, 10, 3)), ("pool", None, (2, 2)), ("conv", "conv2", (10, 16, 3)),
         ("conv", "conv3", (16, 32, 3))]
_RNET = [("conv", "conv1", (3, 28, 3)), ("pool", None, (3, 2)), ("conv", "conv2", (28, 48, 3)),
         ("pool", None, (3, 2)), ("conv", "conv3", (48, 64, 2)), ("flatten", None, ()),
         ("dense", "dense4", (576, 128))]
_ONET = [("conv", "conv1", (3, 32, 3)), ("pool", None, (3, 2)), ("conv", "conv2", (32, 64, 3)),
         ("pool", None, (3, 2)), ("conv", "conv3", (64, 64, 3)), ("pool", None, (2, 2)),
         ("conv", "conv4", (64, 128, 2)), ("flatten", None, ()), ("dense", "dense5", (1152, 256))]


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Valid (unpadded) stride-1 convolution: ``x`` [N, H, W, C], ``weight`` [O, C, kh, kw] -> [N, H', W', O].

    The shifted inputs are stacked along the channels (``[N, H', W', kh·kw·C]``, offset-major) and
    multiplied by the matching ``[kh·kw·C, O]`` weights in one matrix product.
    """
    kh, kw = weight.shape[2:]
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    columns = np.concatenate([x[:, dy:dy + h, dx:dx + w, :] for dy in range(kh) for dx in range(kw)], axis=3)
    out = columns @ weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])
    out += bias
    return out


def prelu(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """PReLU with one slope per channel (the last axis): ``x`` where positive, ``slope · x`` where negative.

    As ``min(x, 0) · slope + max(x, 0)``, exactly the same values: a masked multiply (``where=``) over a
    broadcast slope took three times as long (17 against 6 ms on ``[1, 300, 300, 16]``; the cascade on the
    512 px astronaut, 0.42 against 0.37 s).
    """
    out = np.minimum(x, 0)
    out *= slope
    out += np.maximum(x, 0)
    return out


def max_pool(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Max pooling of [N, H, W, C] with torch's ``ceil_mode=True`` (a last, partial window is kept)."""
    h, w = x.shape[1:3]
    oh, ow = (-(-(h - kernel) // stride) + 1, -(-(w - kernel) // stride) + 1)
    # torch drops a last window that would start outside the input (padding 0)
    oh, ow = oh - ((oh - 1) * stride >= h), ow - ((ow - 1) * stride >= w)
    ph, pw = (oh - 1) * stride + kernel, (ow - 1) * stride + kernel
    padded = np.full((x.shape[0], max(ph, h), max(pw, w), x.shape[3]), -np.inf, dtype=x.dtype)
    padded[:, :h, :w] = x
    out = None
    for dy in range(kernel):
        for dx in range(kernel):
            part = padded[:, dy:dy + stride * (oh - 1) + 1:stride, dx:dx + stride * (ow - 1) + 1:stride]
            out = part.copy() if out is None else np.maximum(out, part, out=out)
    return out


@functools.lru_cache(maxsize=256)
def _area_matrix(n: int, m: int) -> np.ndarray:
    """float32 ``[m, n]``: row i averages input cells ``[floor(i n / m), ceil((i + 1) n / m))``."""
    out = np.zeros((m, n), np.float32)
    for i in range(m):
        start, end = (i * n) // m, -(-((i + 1) * n) // m)
        out[i, start:end] = 1.0 / (end - start)
    return out


def area_resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """torch's ``F.interpolate(x, size, mode="area")`` (adaptive average pooling) of [N, C, H, W]."""
    rows, cols = _area_matrix(x.shape[2], size[0]), _area_matrix(x.shape[3], size[1])
    return np.ascontiguousarray(np.matmul(np.matmul(rows, x), cols.T))


def _softmax_second(logits: np.ndarray) -> np.ndarray:
    """Probability of class 1 from two logits on the last axis."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e[..., 1] / e.sum(axis=-1)


@dataclass(frozen=True)
class MTCNNNets:
    """The three networks' weights: ``{"pnet": {layer name: float32 array}, "rnet": ..., "onet": ...}``."""

    weights: dict

    def _trunk(self, net: str, layers, x: np.ndarray) -> np.ndarray:
        w = self.weights[net]
        for kind, name, args in layers:
            if kind == "conv":
                x = prelu(conv2d(x, w[f"{name}.weight"], w[f"{name}.bias"]), w[name.replace("conv", "prelu") + ".weight"])
            elif kind == "pool":
                x = max_pool(x, *args)
            elif kind == "flatten":  # the weights were converted from Caffe/TF: flatten in (W, H, C) order
                x = x.transpose(0, 2, 1, 3).reshape(x.shape[0], -1)
            else:
                x = prelu(x @ w[f"{name}.weight"].T + w[f"{name}.bias"], w[name.replace("dense", "prelu") + ".weight"])
        return x

    def pnet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x`` [N,H,W,3] normalised -> (box regression [N,h,w,4], face probability [N,h,w])."""
        w = self.weights["pnet"]
        x = self._trunk("pnet", _PNET, x)
        return (conv2d(x, w["conv4_2.weight"], w["conv4_2.bias"]),
                _softmax_second(conv2d(x, w["conv4_1.weight"], w["conv4_1.bias"])))

    def rnet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x`` [N,24,24,3] -> (box regression [N,4], face probability [N])."""
        w = self.weights["rnet"]
        x = self._trunk("rnet", _RNET, x)
        return (x @ w["dense5_2.weight"].T + w["dense5_2.bias"],
                _softmax_second(x @ w["dense5_1.weight"].T + w["dense5_1.bias"]))

    def onet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``x`` [N,48,48,3] -> (regression [N,4], keypoints [N,10] as 5 x then 5 y in 0..1, prob [N])."""
        w = self.weights["onet"]
        x = self._trunk("onet", _ONET, x)
        return (x @ w["dense6_2.weight"].T + w["dense6_2.bias"], x @ w["dense6_3.weight"].T + w["dense6_3.bias"],
                _softmax_second(x @ w["dense6_1.weight"].T + w["dense6_1.bias"]))


def _expected_shapes(layers, heads) -> dict[str, tuple]:
    shapes = {}
    for kind, name, args in layers:
        if kind == "conv":
            shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (args[1], args[0], args[2], args[2]), (args[1],)
            shapes[name.replace("conv", "prelu") + ".weight"] = (args[1],)
        elif kind == "dense":
            shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (args[1], args[0]), (args[1],)
            shapes[name.replace("dense", "prelu") + ".weight"] = (args[1],)
    for name, shape in heads.items():
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = shape, shape[:1]
    return shapes


_SHAPES = {
    "pnet": _expected_shapes(_PNET, {"conv4_1": (2, 32, 1, 1), "conv4_2": (4, 32, 1, 1)}),
    "rnet": _expected_shapes(_RNET, {"dense5_1": (2, 128), "dense5_2": (4, 128)}),
    "onet": _expected_shapes(_ONET, {"dense6_1": (2, 256), "dense6_2": (4, 256), "dense6_3": (10, 256)}),
}


@functools.lru_cache(maxsize=1)
def load_mtcnn() -> MTCNNNets:
    """The cascade with the facenet-pytorch weights (resolved by name, read without torch), loaded once."""
    weights = {}
    for name, shapes in _SHAPES.items():
        path = resolve_asset(f"mtcnn-{name}")
        state = read_legacy_state(path)
        wrong = sorted(k for k, shape in shapes.items() if k not in state or state[k].shape != shape)
        extra = sorted(set(state) - set(shapes))
        if wrong or extra:
            raise CheckpointError(f"MTCNN weights {path} do not fit the {name.upper()} network: "
                                  f"{'missing or misshapen ' + ', '.join(wrong) if wrong else 'unexpected ' + ', '.join(extra)}")
        weights[name] = {k: v.astype(np.float32) for k, v in state.items()}
    return MTCNNNets(weights)


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


def _nms_per_image(boxes: np.ndarray, image_ids: np.ndarray, threshold: float, mode: str) -> np.ndarray:
    """NMS done separately for each image of the batch; boxes [N, >=5] with the score in column 4."""
    keep = []
    for b in np.unique(image_ids):
        where = np.flatnonzero(image_ids == b)
        keep.append(where[nms(boxes[where, :4], boxes[where, 4], threshold, mode)])
    return np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (side = the longer side)."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply box regression offsets (fractions of the +1 width/height) to columns 0..3."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] = boxes[:, :4] + reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return boxes


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x - np.float32(127.5)) * np.float32(0.0078125)


def _pyramid_scales(h: int, w: int, min_face_size: float, factor: float) -> list[float]:
    scale = 12.0 / min_face_size
    shortest = min(h, w) * scale
    scales = []
    while shortest >= 12:
        scales.append(scale)
        scale *= factor
        shortest *= factor
    return scales


def _stage_one(nets: MTCNNNets, images: np.ndarray, min_face_size: float, factor: float,
               threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """P-Net over the pyramid -> squared candidate boxes [N,5] (x0,y0,x1,y1,score) and image ids."""
    h, w = images.shape[2:]
    found, ids = [], []
    for scale in _pyramid_scales(h, w, min_face_size, factor):
        level = area_resize(images, (int(h * scale + 1), int(w * scale + 1)))
        reg, prob = nets.pnet(_normalise(level.transpose(0, 2, 3, 1)))
        mask = prob >= threshold
        where = np.argwhere(mask)
        if len(where) == 0:
            continue
        cell = where[:, 1:][:, ::-1].astype(np.float32)  # (x, y) of each window on the level
        q0 = np.floor((2 * cell + 1) / np.float32(scale))
        q1 = np.floor((2 * cell + 12) / np.float32(scale))
        offsets = reg[mask]
        boxes = np.concatenate([q0, q1, prob[mask][:, None], offsets], axis=1)
        pick = _nms_per_image(boxes, where[:, 0], 0.5, "union")
        found.append(boxes[pick])
        ids.append(where[pick, 0])
    if not found:
        return np.zeros((0, 5), np.float32), np.zeros(0, dtype=np.int64)
    boxes, ids = np.concatenate(found), np.concatenate(ids)
    pick = _nms_per_image(boxes, ids, 0.7, "union")
    boxes, ids = boxes[pick], ids[pick]
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    refined = boxes[:, :4] + boxes[:, 5:9] * np.stack([bw, bh, bw, bh], axis=1)
    return _square(np.concatenate([refined, boxes[:, 4:5]], axis=1)), ids


def _crops(images: np.ndarray, boxes: np.ndarray, ids: np.ndarray, size: int):
    """Area-resized ``size`` crops of each box, clipped to the image (facenet-pytorch's ``pad``).

    Returns the normalised crops [M,size,size,3] and the indices of the boxes they belong to
    (boxes that lie wholly outside the image are left out).
    """
    h, w = images.shape[2:]
    corners = np.trunc(boxes[:, :4]).astype(np.int64)
    crops, valid = [], []
    for k, (x0, y0, x1, y1) in enumerate(corners):
        x0, y0, x1, y1 = max(x0, 1), max(y0, 1), min(x1, w), min(y1, h)
        if y1 > y0 - 1 and x1 > x0 - 1:
            patch = images[ids[k]:ids[k] + 1, :, y0 - 1:y1, x0 - 1:x1]
            crops.append(area_resize(patch, (size, size)))
            valid.append(k)
    if not crops:
        return np.zeros((0, size, size, 3), np.float32), np.zeros(0, dtype=np.int64)
    return _normalise(np.concatenate(crops).transpose(0, 2, 3, 1)), np.asarray(valid, dtype=np.int64)


def _run_batched(net, x: np.ndarray) -> tuple[np.ndarray, ...]:
    outs = [net(x[i:i + _BATCH]) for i in range(0, len(x), _BATCH)]
    return tuple(np.concatenate(parts) for parts in zip(*outs))


def _stage_two(nets, images, boxes, ids, threshold):
    """R-Net refinement of the P-Net candidates."""
    crops, valid = _crops(images, boxes, ids, 24)
    if len(valid) == 0:
        return boxes[:0], ids[:0]
    boxes, ids = boxes[valid], ids[valid]
    reg, prob = _run_batched(nets.rnet, crops)
    keep = prob > threshold
    boxes = np.concatenate([boxes[keep, :4], prob[keep][:, None]], axis=1)
    ids, reg = ids[keep], reg[keep]
    pick = _nms_per_image(boxes, ids, 0.7, "union")
    return _square(_regress(boxes[pick], reg[pick])), ids[pick]


def _stage_three(nets, images, boxes, ids, threshold):
    """O-Net: final probability, box regression and keypoints."""
    crops, valid = _crops(images, boxes, ids, 48)
    if len(valid) == 0:
        return boxes[:0], ids[:0], np.zeros((0, 5, 2), np.float32)
    boxes, ids = boxes[valid], ids[valid]
    reg, marks, prob = _run_batched(nets.onet, crops)
    keep = prob > threshold
    boxes = np.concatenate([boxes[keep, :4], prob[keep][:, None]], axis=1)
    ids, reg, marks = ids[keep], reg[keep], marks[keep]
    bw = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    bh = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    px = bw * marks[:, :5] + boxes[:, 0:1] - 1
    py = bh * marks[:, 5:] + boxes[:, 1:2] - 1
    points = np.stack([px, py], axis=2)
    boxes = _regress(boxes, reg)
    pick = _nms_per_image(boxes, ids, 0.7, "min")
    return boxes[pick], ids[pick], points[pick]


def detect_mtcnn(nets: MTCNNNets, images, min_face_size: float = DEFAULT_MIN_FACE,
                 thresholds=DEFAULT_THRESHOLDS, factor: float = DEFAULT_FACTOR) -> list[MTCNNResult]:
    """Run the cascade on a batch of same-size RGB images.

    ``images``: ``uint8`` ``[H,W,3]`` or ``[B,H,W,3]`` (RGB, 0..255). Returns one
    :class:`MTCNNResult` per image, faces in order of decreasing score, coordinates in that
    image's pixels (see the module docstring for the conventions).
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected RGB images [B,H,W,3], got shape {tuple(x.shape)}")
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
    boxes, ids = _stage_one(nets, x, min_face_size, factor, thresholds[0])
    points = np.zeros((0, 5, 2), np.float32)
    if len(boxes):
        boxes, ids = _stage_two(nets, x, boxes, ids, thresholds[1])
    if len(boxes):
        boxes, ids, points = _stage_three(nets, x, boxes, ids, thresholds[2])
    else:
        boxes = np.zeros((0, 5), np.float32)
    results = []
    boxes, points = boxes.astype(np.float64), points.astype(np.float64)
    for b in range(x.shape[0]):
        mine = np.flatnonzero(ids == b)
        mine = mine[np.argsort(-boxes[mine, 4], kind="stable")]
        results.append(MTCNNResult(boxes[mine, :4].copy(), boxes[mine, 4].copy(), points[mine].copy()))
    return results
