"""Expression model in landmark space: a small per-region basis of dlib-68 displacement patterns.

Conventions
-----------
* ``landmarks``: dlib's 68 points, float ``[68, 2]`` (or ``[N, 68, 2]`` where noted), **photo
  pixels, x right, y down** (as :func:`inversion.faces.landmarks.predict_landmarks` returns them).
* **Canonical frame**: the face mapped by a similarity (scale, rotation, translation) onto the mean
  shape, fitted on the :data:`ANCHORS` (nose 27-35 and the four eye corners), which no basis vector
  moves. The mean shape is mirror-symmetric about x = 0, eyes level, outer eye corners (36, 45) about
  one unit apart (0.98): canonical lengths are in **inter-ocular distances (IOD)**.
* A face's **shape** is its canonical landmarks, mirror-symmetrised (averaged with their left-right
  mirror, :data:`MIRROR`), with the head-pose proxies (:func:`pose_proxies`) regressed out, minus the
  neutral mean.
* **Coefficients** ``e``: float ``[K]``, grouped by region (:data:`REGIONS`; ``model.region_of[k]``
  is the region of coefficient k). ``e = 0`` is the neutral mean; units are standard deviations of
  the spread among neutral faces (identity, pose, detector noise) along each discriminant direction.
* **Displacement**: ``displacement(landmarks, e_from, e_to)`` is ``[68, 2]`` photo pixels, the
  *forward change of landmark positions* (new position = ``landmarks + displacement``), i.e.
  ``B (e_to - e_from)`` rotated and scaled from the canonical frame into the photo. It is linear in
  ``e_to - e_from``, zero when they are equal, and exactly zero on the nose (27-35), the eye corners
  and the face contour outside the lower jaw (0-4, 12-16): those are identity and never move.
* Regions: ``brows`` (17-26), ``lids`` (37, 38, 40, 41, 43, 44, 46, 47: the lids without the eye
  corners), ``mouth`` (48-67 with the lower jaw 5-11).

Typical use (the editor's warp)::

    model = load_default()
    e0 = model.coefficients(points)               # the face's own expression, shrunk and clamped
    parts = model.region_displacements(points, e0, model.target("fear"))  # [3, 68, 2], REGIONS order
    # stagger in time: points + sum_r w_r(t) * parts[r]

Fitted by ``scripts/fit_expression_basis.py``; the data and figures are in the model card beside
the weights (``directions/models/expression_basis/MODEL_CARD.md``).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from directions.emotions import EMOTIONS
from inversion.common.errors import CheckpointError, FaceLatentError
from inversion.common.output_files import atomic_write_text

FORMAT = "facelatent-expression-basis/1"
DEFAULT_DIR = Path(__file__).resolve().parent / "models" / "expression_basis"

#: Left-right mirror permutation of dlib's 68 points: point i of a face is point MIRROR[i] of its mirror.
MIRROR = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30, 35, 34, 33, 32, 31]
                  + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
                  + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65])
#: Points the similarity is fitted on: the nose and the four eye corners (never moved by the basis).
ANCHORS = np.array([27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])
REGIONS: tuple[str, ...] = ("brows", "lids", "mouth")
REGION_POINTS: dict[str, np.ndarray] = {
    "brows": np.arange(17, 27),
    "lids": np.array([37, 38, 40, 41, 43, 44, 46, 47]),
    "mouth": np.concatenate([np.arange(5, 12), np.arange(48, 68)]),
}
_FIELDS = ("mean_shape", "pose_mean", "pose_coef", "basis", "projector", "region_of", "shrink", "low", "high",
           "targets", "noise_std")


def mirror(shapes: np.ndarray) -> np.ndarray:
    """Left-right mirror of canonical shapes ``[..., 68, 2]`` (x -> -x, points relabelled)."""
    out = np.asarray(shapes, dtype=np.float64)[..., MIRROR, :].copy()
    out[..., 0] *= -1
    return out


def symmetrise(shapes: np.ndarray) -> np.ndarray:
    """Average of canonical shapes with their mirror (idempotent)."""
    return 0.5 * (np.asarray(shapes, dtype=np.float64) + mirror(shapes))


def _complex(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points[..., 0] + 1j * points[..., 1]


def _real(z: np.ndarray) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=-1)


def similarity(landmarks: np.ndarray, mean_shape: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity photo -> canonical on the anchors: ``canonical = a (z - zc) + mc`` in
    complex form (``a`` = scale x rotation). Returns ``(a, zc, mc)``, each of the batch shape."""
    z, m = _complex(landmarks)[..., ANCHORS], _complex(mean_shape)[ANCHORS]
    zc, mc = z.mean(-1), m.mean()
    dz = z - zc[..., None]
    a = (np.conj(dz) * (m - mc)).sum(-1) / (np.abs(dz) ** 2).sum(-1)
    return a, zc, np.broadcast_to(mc, a.shape)


def to_canonical(landmarks: np.ndarray, mean_shape: np.ndarray) -> np.ndarray:
    """Photo landmarks ``[..., 68, 2]`` -> canonical frame (see the module docstring)."""
    a, zc, mc = similarity(landmarks, mean_shape)
    return _real(a[..., None] * (_complex(landmarks) - zc[..., None]) + mc[..., None])


def pose_proxies(canonical: np.ndarray) -> np.ndarray:
    """Head-pose proxies of canonical shapes ``[..., 68, 2]`` -> ``[..., 3]``: yaw (nose tip x from the
    eye-corner midline), pitch (nose tip y below the eye corners), yaw squared; in IOD."""
    corners = canonical[..., [36, 39, 42, 45], :].mean(-2)
    yaw, pitch = canonical[..., 30, 0] - corners[..., 0], canonical[..., 30, 1] - corners[..., 1]
    return np.stack([yaw, pitch, yaw ** 2], axis=-1)


@dataclass(frozen=True)
class ExpressionBasis:
    """The fitted model (arrays as saved in ``basis.npz``; K coefficients, R = len(REGIONS)):
    ``mean_shape`` [68, 2] canonical neutral mean; ``pose_mean`` [3], ``pose_coef`` [3, 68, 2] the pose
    regression; ``basis`` [K, 68, 2] canonical displacement per unit coefficient; ``projector`` [K, 68, 2]
    (``e_k = <projector_k, shape>``, ``<projector_j, basis_k> = delta_jk``); ``region_of`` [K];
    ``shrink`` [K] noise shrinkage factors; ``low``, ``high`` [K] clamp range; ``targets`` [7, K] per
    emotion (EMOTIONS order); ``noise_std`` [K] landmark noise of one detection, in coefficient units."""

    mean_shape: np.ndarray
    pose_mean: np.ndarray
    pose_coef: np.ndarray
    basis: np.ndarray
    projector: np.ndarray
    region_of: np.ndarray
    shrink: np.ndarray
    low: np.ndarray
    high: np.ndarray
    targets: np.ndarray
    noise_std: np.ndarray

    def shape(self, landmarks: np.ndarray) -> np.ndarray:
        """Photo landmarks ``[..., 68, 2]`` -> expression shape ``[..., 68, 2]`` (canonical, symmetrised,
        pose regressed out, minus the neutral mean)."""
        canonical = to_canonical(landmarks, self.mean_shape)
        pose = pose_proxies(canonical) - self.pose_mean
        return symmetrise(canonical) - self.mean_shape - np.tensordot(pose, self.pose_coef, axes=1)

    def project(self, landmarks: np.ndarray) -> np.ndarray:
        """Raw coefficients ``[..., K]`` (no shrinkage, no clamp)."""
        return np.tensordot(self.shape(landmarks), self.projector, axes=([-2, -1], [1, 2]))

    def coefficients(self, landmarks: np.ndarray) -> np.ndarray:
        """A face's own expression ``e`` ``[..., K]``: raw coefficients shrunk toward the neutral mean by
        the landmark-noise ratio, then clamped to the 1st-99th percentile seen on real faces."""
        return np.clip(self.project(landmarks) * self.shrink, self.low, self.high)

    def target(self, emotion: str) -> np.ndarray:
        """Target coefficients ``e*`` ``[K]`` of an emotion in :data:`directions.emotions.EMOTIONS`."""
        if emotion not in EMOTIONS:
            raise FaceLatentError(f"unknown emotion '{emotion}' (expected one of {', '.join(EMOTIONS)})")
        return self.targets[EMOTIONS.index(emotion)].copy()

    def region_displacements(self, landmarks: np.ndarray, e_from: np.ndarray, e_to: np.ndarray) -> np.ndarray:
        """Per-region forward displacements ``[R, 68, 2]`` in photo pixels (REGIONS order; they sum to
        :meth:`displacement`); each is zero outside its region."""
        delta = np.asarray(e_to, dtype=np.float64) - np.asarray(e_from, dtype=np.float64)
        a, _, _ = similarity(np.asarray(landmarks, dtype=np.float64), self.mean_shape)
        out = np.zeros((len(REGIONS), 68, 2))
        for r in range(len(REGIONS)):
            keep = self.region_of == r
            canonical = np.tensordot(delta[keep], self.basis[keep], axes=1)
            out[r] = _real(_complex(canonical) / a)  # canonical -> photo: undo scale and rotation
        return out

    def displacement(self, landmarks: np.ndarray, e_from: np.ndarray, e_to: np.ndarray) -> np.ndarray:
        """Forward landmark displacement ``[68, 2]`` in photo pixels taking expression ``e_from`` to ``e_to``."""
        return self.region_displacements(landmarks, e_from, e_to).sum(0)

    def save(self, directory: Path) -> None:
        """Write ``basis.npz`` and ``config.json`` (format, regions, emotions, SHA-256 of the npz)."""
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(directory / "basis.npz", **{k: np.asarray(getattr(self, k), np.float32)
                                                        if k != "region_of" else self.region_of for k in _FIELDS})
        digest = hashlib.sha256((directory / "basis.npz").read_bytes()).hexdigest()
        config = {"format": FORMAT, "regions": list(REGIONS), "emotions": list(EMOTIONS), "sha256": digest}
        (directory / "config.json").write_text(json.dumps(config, indent=1) + "\n")


def load(directory: str | Path) -> ExpressionBasis:
    """Load a model saved by :meth:`ExpressionBasis.save`; :class:`CheckpointError` (one line) if the
    files are missing, altered or malformed. Never unpickles."""
    directory = Path(directory)
    try:
        config = json.loads((directory / "config.json").read_text())
        data = (directory / "basis.npz").read_bytes()
    except (OSError, ValueError) as err:
        raise CheckpointError(f"cannot read the expression basis in {directory}: {err.__class__.__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or tuple(config.get("regions", ())) != REGIONS \
            or tuple(config.get("emotions", ())) != EMOTIONS:
        raise CheckpointError(f"{directory / 'config.json'}: not a {FORMAT} model for this version")
    if hashlib.sha256(data).hexdigest() != config.get("sha256"):
        raise CheckpointError(f"{directory / 'basis.npz'}: checksum mismatch (the file was altered or truncated)")
    try:
        import io

        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in _FIELDS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{directory / 'basis.npz'}: malformed ({err.__class__.__name__})") from None
    k = arrays["basis"].shape[0]
    shapes = {"mean_shape": (68, 2), "pose_mean": (3,), "pose_coef": (3, 68, 2), "basis": (k, 68, 2),
              "projector": (k, 68, 2), "region_of": (k,), "shrink": (k,), "low": (k,), "high": (k,),
              "targets": (len(EMOTIONS), k), "noise_std": (k,)}
    for name, shape in shapes.items():
        if arrays[name].shape != shape or not np.all(np.isfinite(arrays[name])):
            raise CheckpointError(f"{directory / 'basis.npz'}: '{name}' has shape {arrays[name].shape} or non-finite "
                                  f"values, expected {shape}")
    arrays = {n: (v.astype(np.int64) if n == "region_of" else v.astype(np.float64)) for n, v in arrays.items()}
    return ExpressionBasis(**arrays)


def load_default() -> ExpressionBasis:
    """The shipped model (``directions/models/expression_basis``)."""
    return load(DEFAULT_DIR)


#: Expression targets that do not come from the data's means, one JSON file per source: "generator" (what the
#: generator's emotion edits do to landmarks, ``scripts/bakeoff_targets.py``) and "classifier" (the
#: coefficients the shipped classifier reads best on training faces, ``scripts/search_targets.py``).
TARGET_FILES = {"generator": "generator_targets.json", "classifier": "classifier_targets.json"}


def _targets_format(source: str) -> str:
    return f"facelatent-{source}-targets/1"


def save_targets(directory: Path, source: str, targets: dict, provenance: dict) -> Path:
    """Write ``{emotion: e* [K]}`` from ``source`` (a :data:`TARGET_FILES` key) as JSON, atomically."""
    record = {"format": _targets_format(source), **provenance,
              "targets": {name: [float(v) for v in np.asarray(vec).reshape(-1)] for name, vec in targets.items()}}
    return atomic_write_text(Path(directory) / TARGET_FILES[source], json.dumps(record, indent=1) + "\n")


def load_targets(source: str, directory: str | Path = DEFAULT_DIR) -> dict:
    """``{emotion: e* [K]}`` saved by :func:`save_targets` (the emotions the file has, each an EMOTIONS name);
    :class:`CheckpointError` (one line) when the file is missing or malformed. Plain JSON: nothing is executed."""
    path = Path(directory) / TARGET_FILES[source]
    try:
        record = json.loads(path.read_text())
        targets = {name: np.asarray(vec, np.float64) for name, vec in record["targets"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f"cannot read the {source}-driven targets {path}: {err.__class__.__name__}") from None
    sizes = {v.shape for v in targets.values()}
    finite = all(np.all(np.isfinite(v)) for v in targets.values())
    if record.get("format") != _targets_format(source) or not targets or not set(targets) <= set(EMOTIONS) \
            or len(sizes) != 1 or len(next(iter(sizes))) != 1 or not finite:
        raise CheckpointError(f"{path}: not a {_targets_format(source)} file of finite vectors")
    return targets


def fit(landmarks: np.ndarray, labels: np.ndarray, strong: np.ndarray, jitter: tuple[np.ndarray, np.ndarray],
        dims: tuple[int, ...] = (3, 2, 3), reg: float = 0.1) -> ExpressionBasis:
    """Fit the model on photo landmarks ``[N, 68, 2]`` with ``labels`` [N] (EMOTIONS index, -1 unknown;
    the neutral faces give the mean shape, the pose regression and the within-class spread W; every
    emotion's mean gives the between-class scatter), ``strong`` bool [N] (faces whose annotators agree:
    the targets, taken relative to the strong neutral faces' mean so that a dataset's own offset cancels), ``jitter`` two ``[M, 68, 2]`` detections of the same M faces (the noise), ``dims``
    coefficients per region and ``reg`` the ridge added to W (times its mean eigenvalue)."""
    landmarks, labels = np.asarray(landmarks, np.float64), np.asarray(labels)
    neutral = labels == EMOTIONS.index("neutral")
    mean = landmarks[np.flatnonzero(neutral)[0]]
    for _ in range(5):  # generalised Procrustes on the neutral faces, kept symmetric and IOD = 1
        mean = symmetrise(to_canonical(landmarks[neutral], mean).mean(0))
        mean = (mean - mean[ANCHORS].mean(0)) / np.linalg.norm(mean[45] - mean[36])
    canonical = to_canonical(landmarks, mean)
    pose, sym = pose_proxies(canonical), symmetrise(canonical)
    pose_mean = pose[neutral].mean(0)
    design = pose[neutral] - pose_mean
    flat = (sym[neutral] - sym[neutral].mean(0)).reshape(neutral.sum(), -1)
    coef = np.linalg.solve(design.T @ design + 1e-6 * np.eye(3), design.T @ flat).reshape(3, 68, 2)
    mean_shape = sym[neutral].mean(0)
    model = ExpressionBasis(mean_shape, pose_mean, coef, np.zeros((0, 68, 2)), np.zeros((0, 68, 2)),
                            np.zeros(0, np.int64), *(np.zeros(0),) * 3, np.zeros((len(EMOTIONS), 0)), np.zeros(0))
    shapes = model.shape(landmarks)
    basis, projector, region_of = [], [], []
    for r, name in enumerate(REGIONS):
        idx = REGION_POINTS[name]
        x = shapes[:, idx].reshape(len(shapes), -1)
        within = np.cov(x[neutral].T)
        within += reg * np.trace(within) / (0.5 * len(within)) * np.eye(len(within))  # half the dims: symmetric
        means = np.stack([x[labels == e].mean(0) for e in range(len(EMOTIONS))])
        between = np.cov(means.T, bias=True)
        chol = np.linalg.cholesky(within)
        inv = np.linalg.inv(chol)
        values, vectors = np.linalg.eigh(inv @ between @ inv.T)
        for j in np.argsort(values)[::-1][:dims[r]]:
            v = inv.T @ vectors[:, j]  # v' W v = 1
            b = within @ v  # the displacement pattern: <v, b> = 1
            v, b = (v, b) if np.abs(b).max() == b.max() else (-v, -b)
            full_b, full_v = np.zeros((68, 2)), np.zeros((68, 2))
            full_b[idx], full_v[idx] = b.reshape(-1, 2), v.reshape(-1, 2)
            basis.append(full_b), projector.append(full_v), region_of.append(r)
    basis, projector = np.stack(basis), np.stack(projector)
    raw = np.tensordot(shapes, projector, axes=([-2, -1], [1, 2]))
    diff = (np.tensordot(model.shape(jitter[0]) - model.shape(jitter[1]), projector, axes=([-2, -1], [1, 2])))
    noise_var = diff.var(0) / 2
    signal_var = np.maximum((raw ** 2).mean(0) - noise_var, 1e-12)
    shrink = signal_var / (signal_var + noise_var)
    low, high = np.percentile(raw * shrink, [1, 99], axis=0)
    targets = np.stack([raw[strong & (labels == e)].mean(0) for e in range(len(EMOTIONS))])
    targets -= targets[EMOTIONS.index("neutral")]  # relative to the strong neutrals: no dataset offset
    return ExpressionBasis(mean_shape, pose_mean, coef, basis, projector, np.array(region_of), shrink, low, high,
                           targets, np.sqrt(noise_var))
