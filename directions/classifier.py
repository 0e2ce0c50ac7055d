"""The facial-expression classifier: a small residual CNN for 48×48 grey faces (FER2013 style).

Conventions:

- Network input: float32 ``[N, 1, H, W]`` in [-1, 1] (grey; ``pixel / 127.5 - 1``). The network is
  fully convolutional with global average pooling, so it accepts any H, W ≥ 16; it was trained on
  random 40×40 crops of 48×48 faces, and :class:`EmotionClassifier` feeds it what the shipped
  ``config.json`` says (``eval_crop``: the crop size; a view set: the crops' shifts ``(dy, dx)`` from
  the centre, each with its horizontal mirror, logits averaged).
- View sets (:data:`VIEW_SETS`): ``"fast"`` = the config's ``tta_offsets`` (default the centre only:
  2 views; what library and bulk code use), ``"accurate"`` = its ``accurate_offsets`` (more shifted
  crops chosen on PublicTest by ``scripts/export_classifier.py --search-views``; about V/2 times the
  cost; what ``facelatent classify`` uses by default). A config without ``accurate_offsets`` serves
  the fast set for both. The accurate set may also average more networks: the config's
  ``accurate_members`` lists extra weight files in the model folder (``{"weights": file, "arch": {…}}``),
  each seeing the same views; the fast set is always ``weights.pt`` alone.
- Output: logits / probabilities ``[N, 7]`` in the order of :data:`directions.emotions.EMOTIONS`
  (joy, fear, anger, sadness, disgust, surprise, neutral).
"""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from directions.classifier_config import (  # noqa: F401 (VIEW_SETS, describe_view_sets: this module's API too)
    DEFAULT_MODEL_DIR, VIEW_SETS, describe_view_sets, view_members, view_offsets,
)
from directions.emotions import EMOTIONS
from inversion.common.errors import CheckpointError, FaceLatentError, ImageReadError

#: The architecture trained by scripts/train_classifier.py (the shipped config.json repeats it).
DEFAULT_ARCH = {"widths": [32, 64, 128, 256], "blocks": [0, 1, 2, 1], "dropout": 0.4}

def _conv_bn(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Two 3×3 conv+BN layers with an identity (or 1×1 strided projection) shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, stride)
        self.conv2 = _conv_bn(cout, cout, relu=False)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class EmotionNet(nn.Module):
    """Stem conv at full resolution, then stages of residual blocks; each stage after the first
    halves the resolution in its first block; global average pooling, dropout, linear → 7 logits.

    ``widths[k]`` channels in stage k, ``blocks[k]`` residual blocks (0 allowed: the stem's width
    is ``widths[0]``).
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 256), blocks: Sequence[int] = (0, 1, 2, 1),
                 dropout: float = 0.4, num_classes: int = len(EMOTIONS)) -> None:
        super().__init__()
        if len(widths) != len(blocks) or not widths:
            raise ValueError("widths and blocks must have the same, non-zero length")
        self.stem = _conv_bn(1, widths[0])
        layers: list[nn.Module] = []
        cin = widths[0]
        for stage, (cout, count) in enumerate(zip(widths, blocks)):
            for j in range(count):
                layers.append(ResidualBlock(cin, cout, 2 if (j == 0 and stage > 0) else 1))
                cin = cout
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` float [N, 1, H, W] in [-1, 1] → logits [N, num_classes] (EMOTIONS order)."""
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected [N, 1, H, W] grey input, got {tuple(x.shape)}")
        features = self.body(self.stem(x))
        return self.head(self.dropout(features.mean(dim=(2, 3))))


def build_model(arch: dict | None = None) -> EmotionNet:
    """An untrained :class:`EmotionNet` from an architecture dict (default: :data:`DEFAULT_ARCH`)."""
    arch = dict(DEFAULT_ARCH if arch is None else arch)
    return EmotionNet(arch["widths"], arch["blocks"], float(arch.get("dropout", 0.0)))


def _resolve_model_files(path: str | os.PathLike | None) -> tuple[Path, Path]:
    """(weights.pt, config.json) for a model folder, a weights file, or None (the shipped model)."""
    path = DEFAULT_MODEL_DIR if path is None else Path(path)
    folder, weights = (path, path / "weights.pt") if path.is_dir() or path.suffix != ".pt" else (path.parent, path)
    config = folder / "config.json"
    for needed in (weights, config):
        if not needed.is_file():
            raise CheckpointError(
                f"emotion classifier file missing: {needed} (train one with scripts/train_classifier.py)"
            )
    return weights, config


def _load_network(weights: Path, arch: dict) -> EmotionNet:
    """An :class:`EmotionNet` of ``arch`` with the state dict in ``weights`` (float16 or float32; loaded as
    float32, tensors only: no code runs)."""
    from inversion.checkpoints.safe_load import load_tensors  # noqa: PLC0415

    model = build_model(arch)
    state = load_tensors(weights, "classifier weights file", CheckpointError)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError):
        raise CheckpointError(f"{weights} does not hold the weights of the classifier its config.json describes") from None
    return model


def _to_grey_float(images) -> torch.Tensor:
    """uint8 crops (array H×W, H×W×3 RGB, N×H×W, N×H×W×3, or a list of such of any sizes) →
    float32 [N, 1, 48, 48] in [-1, 1]; grey by OpenCV's RGB→grey weights, area resizing."""
    import cv2  # noqa: PLC0415 (only needed for uint8 input)

    if isinstance(images, np.ndarray) and (images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (3, 4))):
        images = [images]
    out = []
    for img in images:
        img = np.asarray(img)
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or min(img.shape[:2]) < 1:
            raise ImageReadError(f"expected uint8 H×W or H×W×3 face crops, got {img.dtype} {img.shape}")
        if img.ndim == 3:
            code = cv2.COLOR_RGBA2GRAY if img.shape[2] == 4 else cv2.COLOR_RGB2GRAY
            img = cv2.cvtColor(np.ascontiguousarray(img), code) if img.shape[2] in (3, 4) else img[..., 0]
        if img.shape != (48, 48):
            img = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)
        out.append(torch.from_numpy(img.astype(np.float32) / 127.5 - 1.0))
    if not out:
        raise ImageReadError("no face crops given")
    return torch.stack(out).unsqueeze(1)


class EmotionClassifier:
    """A trained :class:`EmotionNet` with its preprocessing (resize to 48, test-time crops and mirrors).

    ``views`` names the view set (:data:`VIEW_SETS`; ``self.views`` is the one used after the fallback,
    ``self.tta_offsets`` its crop shifts).

    ``predict`` returns probabilities [N, 7] in EMOTIONS order; it is differentiable with respect to
    float tensor input (parameters are frozen), for adversarial attacks and for judging generator
    outputs.
    """

    def __init__(self, model: EmotionNet, config: dict, device: torch.device | str = "cpu",
                 views: str = "fast", members: Sequence[EmotionNet] = ()) -> None:
        self.views, self.tta_offsets = view_offsets(config, views)  # the set used, after any fallback
        self.device = torch.device(device)
        self.networks = [net.to(self.device).eval() for net in (model, *members)]
        self.model = self.networks[0]
        for net in self.networks:
            for p in net.parameters():
                p.requires_grad_(False)
        self.config = config
        self.input_size = int(config.get("input_size", 48))
        self.eval_crop = int(config.get("eval_crop", self.input_size))
        self.emotions: tuple[str, ...] = tuple(config.get("emotions", EMOTIONS))
        if self.emotions != EMOTIONS:
            raise CheckpointError(f"classifier emotions {self.emotions} differ from the project's {EMOTIONS}")

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, device: torch.device | str = "cpu",
             views: str = "fast") -> "EmotionClassifier":
        """Load from a folder with weights.pt + config.json (or the weights file); None = the shipped model.

        ``views``: "fast" (the config's ``tta_offsets``) or "accurate" (its ``accurate_offsets``, else the
        fast set); see :data:`VIEW_SETS`. The set actually used is ``self.views``.
        """
        view_offsets({}, views)  # a bad name fails before any file is read
        weights, config_path = _resolve_model_files(path)
        try:
            config = json.loads(config_path.read_text())
            model = _load_network(weights, config["arch"])
            members = [_load_network(weights.parent / m["weights"], m["arch"]) for m in view_members(config, views)]
        except CheckpointError as err:  # already one line in the project's words (inversion.checkpoints.safe_load)
            raise CheckpointError(f"cannot load the emotion classifier from {weights.parent}: {err}") from None
        except (OSError, ValueError, KeyError, RuntimeError, TypeError, EOFError, pickle.UnpicklingError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
            raise CheckpointError(f"cannot load the emotion classifier from {weights.parent}: {first}") from None
        return cls(model, config, device, views, members)

    def prepare(self, images) -> torch.Tensor:
        """Any accepted input → float32 [N, 1, 48, 48] in [-1, 1] on the classifier's device.

        Float tensors ``[N, 1 or 3, H, W]`` in [-1, 1] (RGB averaged to grey with luma weights) are
        resized differentiably (area when shrinking, bilinear otherwise); uint8 crops as in
        :func:`_to_grey_float`.
        """
        if not torch.is_tensor(images):
            return _to_grey_float(images).to(self.device)
        x = images.to(self.device)
        if not x.is_floating_point() or x.ndim != 4 or x.shape[1] not in (1, 3):
            raise FaceLatentError(f"expected a float tensor [N, 1|3, H, W] in [-1, 1], got {x.dtype} {tuple(x.shape)}")
        if x.shape[1] == 3:
            luma = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            x = (x * luma).sum(1, keepdim=True)
        size = self.input_size
        if x.shape[-2:] != (size, size):
            shrink = x.shape[-1] > size and x.shape[-2] > size
            x = F.interpolate(x, size=(size, size), mode="area" if shrink else "bilinear",
                              **({} if shrink else {"align_corners": False}))
        return x.float()

    def view_logits(self, images, offsets: Sequence[Sequence[int]] | None = None) -> torch.Tensor:
        """Logits [V, N, 7] of each test-time view: for each network (``self.networks``: weights.pt, then
        any ensemble members of the view set), for each ``(dy, dx)`` in ``offsets`` (default: the
        loaded view set's shifts, ``self.tta_offsets``), the ``eval_crop`` crop moved by that many pixels
        down/right from the centre (kept inside the face), then its mirror image; V = networks × 2 × offsets,
        network-major. Views are batched about 64 images a network call (a batch of 64 faces: one call per
        view; one face: all views at once): much larger batches ran 2-3× slower per face on the CPU."""
        x = self.prepare(images)
        c, size = self.eval_crop, x.shape[-1]
        centre = (size - c) // 2
        views = []
        for dy, dx in (self.tta_offsets if offsets is None else offsets):
            top, left = (min(max(centre + int(d), 0), size - c) for d in (dy, dx))
            crop = x[..., top:top + c, left:left + c] if c < size else x
            views += [crop, crop.flip(-1)]
        per_call = max(1, 64 // x.shape[0])
        out = [net(torch.cat(views[i:i + per_call])) for net in self.networks for i in range(0, len(views), per_call)]
        return torch.cat(out).view(len(self.networks) * len(views), x.shape[0], -1)

    def logits(self, images) -> torch.Tensor:
        """Logits [N, 7] averaged over the test-time views (:meth:`view_logits`; differentiable for tensors)."""
        return self.view_logits(images).mean(0)

    def predict(self, images) -> torch.Tensor:
        """Probabilities [N, 7] in EMOTIONS order.

        ``images``: float32 tensor [N, 1, 48, 48] (or [N, 1|3, H, W]) in [-1, 1] — differentiable —
        or uint8 crops (one array H×W / H×W×3 RGB, a stack, or a list of any sizes).
        """
        return torch.softmax(self.logits(images), dim=1)


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images of the same shape (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def targeted_attack(clf: EmotionClassifier, image: np.ndarray, target: str,
                    budgets: Sequence[int] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64),
                    steps: int = 10) -> tuple[np.ndarray, dict]:
    """A minimally changed copy of ``image`` that ``clf`` labels ``target`` (deterministic).

    ``image``: uint8 H×W (grey) or H×W×3 (RGB) face crop, any size. For each L∞ budget ε (in grey
    levels, increasing) runs ``steps`` signed-gradient steps of size ε/4 on the cross-entropy to
    ``target`` through the differentiable resize, projecting onto the ε-ball and [0, 255]; it stops
    at the first rounded uint8 image that the classifier's uint8 path (what ``classify`` would read
    back) labels ``target``. Returns ``(adversarial uint8, info)`` with ``linf`` (grey levels),
    ``psnr`` (dB), ``target_prob``, ``source`` (the original label). Raises FaceLatentError when
    even the largest budget fails.
    """
    if target not in EMOTIONS:
        raise FaceLatentError(f"unknown emotion '{target}': choose one of {', '.join(EMOTIONS)}")
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise FaceLatentError(f"the attack needs a uint8 grey or RGB image, got {image.dtype} {image.shape}")
    k = EMOTIONS.index(target)
    with torch.no_grad():
        probs = clf.predict(image)[0]
    source = EMOTIONS[int(probs.argmax())]
    if source == target:
        return image.copy(), {"target": target, "source": source, "linf": 0, "epsilon": 0,
                              "psnr": float("inf"), "target_prob": float(probs[k])}
    grey = image.ndim == 2
    x0 = torch.tensor(image, dtype=torch.float32, device=clf.device)
    x0 = x0[None, None] if grey else x0.permute(2, 0, 1)[None]
    label = torch.tensor([k], device=clf.device)
    delta = torch.zeros_like(x0)
    for eps in budgets:
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = F.cross_entropy(clf.logits((x0 + delta) / 127.5 - 1.0), label)
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = (delta - eps / 4.0 * grad.sign()).clamp(-eps, eps)
                delta = (x0 + delta).clamp(0, 255) - x0
                adv = (x0 + delta).round()
                if int(clf.logits(adv / 127.5 - 1.0).argmax(1)[0]) != k:
                    continue  # the cheap float check fails: no need to read it back as uint8
                out = adv.to(torch.uint8)[0, 0] if grey else adv.to(torch.uint8)[0].permute(1, 2, 0)
                out = out.cpu().numpy()
                probs = clf.predict(out)[0]
            if int(probs.argmax()) == k:
                linf = int(np.abs(out.astype(np.int16) - image.astype(np.int16)).max())
                return out, {"target": target, "source": source, "linf": linf, "epsilon": eps,
                             "psnr": psnr_uint8(out, image), "target_prob": float(probs[k])}
    raise FaceLatentError(f"could not make the classifier see '{target}' within an L∞ budget of {budgets[-1]} grey levels")
