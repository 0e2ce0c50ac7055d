"""Building and loading the compiled kernels: lazily, once, cached on disk, never retried on failure.

The C++ CPU module is built from ``csrc/ops_cpu.cpp``; the CUDA module from ``csrc/ops_cuda.cpp`` +
``csrc/ops_cuda.cu``; both include the shared ``csrc/*.h``. A build runs ninja through
:func:`torch.utils.cpp_extension.load` in a private temporary folder under the cache root and is
then moved into place with one atomic ``os.rename`` into ``<root>/<kind>-<key>/``, where ``key``
hashes the sources, the flags and the toolchain (torch, python, compiler, CPU, CUDA). Concurrent
processes may both build; the first rename wins and the others use its result. A later call or
process imports the cached shared library directly, without running ninja.

The default root is ``$FACELATENT_HOME/ops`` (``~/.cache/facelatent/ops``). ``-march=native`` is in
the CPU flags, so the key includes the CPU model and flags: a cache shared between machines
never hands one machine's build to another.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

SOURCE_DIR = Path(__file__).resolve().parent / "csrc"
KINDS = ("cpp", "cuda")
CPP_CFLAGS = ["-O3", "-fopenmp-simd", "-march=native"]
CUDA_HOST_CFLAGS = ["-O3"]
CUDA_CFLAGS = ["-O3", "--use_fast_math"]
MARKER = "BUILD_OK"


class OpsUnavailableError(RuntimeError):
    """A compiled implementation was forced (impl= or FACELATENT_OPS) but cannot run here."""


class OpsBuildError(RuntimeError):
    """A kernel that could not be built or loaded; ``str()`` says why in one line."""


def default_cache_root() -> Path:
    """``$FACELATENT_HOME/ops``, default ``~/.cache/facelatent/ops``."""
    home = os.environ.get("FACELATENT_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "facelatent")
    return Path(home) / "ops"


def _sources(kind: str, source_dir: Path) -> list[Path]:
    names = ["ops_cpu.cpp"] if kind == "cpp" else ["ops_cuda.cpp", "ops_cuda.cu"]
    return [source_dir / name for name in names]


def _compiler_version() -> str:
    compiler = os.environ.get("CXX", "c++")
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
        return compiler + ":" + out.stdout.splitlines()[0] if out.stdout else compiler
    except (OSError, subprocess.SubprocessError):
        return compiler + ":missing"


def _cpu_identity() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(lines)))


def build_key(kind: str, source_dir: Path) -> str:
    """Hash of everything a ``kind`` build depends on: its sources, the headers, flags, toolchain, CPU."""
    h = hashlib.sha256()
    headers = sorted(p for p in source_dir.iterdir() if p.suffix == ".h")
    for path in headers + _sources(kind, source_dir):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    flags = CPP_CFLAGS if kind == "cpp" else CUDA_HOST_CFLAGS + CUDA_CFLAGS
    toolchain = [kind, torch.__version__, str(torch.version.cuda), sys.version, _compiler_version(),
                 " ".join(flags), _cpu_identity()]
    h.update("\n".join(toolchain).encode())
    return h.hexdigest()[:16]


def why_not_buildable(kind: str) -> Optional[str]:
    """Why ``kind`` cannot even be attempted here (no ninja, compiler, CUDA), else ``None``."""
    from torch.utils import cpp_extension  # lazy: importing it takes ~0.2 s (setuptools), needed only to build

    if shutil.which("ninja") is None and not cpp_extension.is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        return "no C++ compiler found (install g++ or set CXX)"
    if kind == "cuda":
        if torch.version.cuda is None:
            return f"this torch ({torch.__version__}) is built without CUDA"
        if cpp_extension.CUDA_HOME is None:
            return "no CUDA toolkit (nvcc) found; set CUDA_HOME"
        if not torch.cuda.is_available():
            return "no CUDA GPU is available"
    return None


def _import_library(name: str, path: Path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path, loader=importlib.machinery.ExtensionFileLoader(name, str(path)))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


@dataclass
class OpsBuilder:
    """Builds (or loads from the cache) each kind of kernel module once per process.

    ``cache_root``/``source_dir`` default to :func:`default_cache_root` and ``cuda_ops/csrc``; a
    test can point them elsewhere (e.g. at a broken copy of the sources). After a failure,
    :meth:`get` returns ``None`` (warning once) and :meth:`require` raises, without building again.
    """

    cache_root: Optional[Path] = None
    source_dir: Path = SOURCE_DIR
    verbose: bool = False
    modules: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    build_attempts: dict = field(default_factory=dict)
    built: dict = field(default_factory=dict)       # kind -> True if this process compiled it
    seconds: dict = field(default_factory=dict)     # kind -> seconds spent building or loading
    _keys: dict = field(default_factory=dict)
    _warned: set = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def root(self) -> Path:
        return Path(self.cache_root) if self.cache_root is not None else default_cache_root()

    def get(self, kind: str, warn: bool = True):
        """The module for ``kind``, or ``None`` if it cannot be built (one warning per kind)."""
        try:
            return self.require(kind)
        except OpsUnavailableError as err:
            if warn and kind not in self._warned:
                self._warned.add(kind)
                warnings.warn(f"cuda_ops: {err}; using the PyTorch reference instead", RuntimeWarning, stacklevel=4)
            return None

    def require(self, kind: str):
        """The module for ``kind``; :class:`OpsUnavailableError` saying why when it cannot be built."""
        if kind not in KINDS:
            raise ValueError(f"unknown kernel kind '{kind}': use one of {', '.join(KINDS)}")
        with self._lock:
            if kind not in self.modules and kind not in self.failures:
                start = time.perf_counter()
                try:
                    self.modules[kind] = self._build_or_load(kind)
                except OpsBuildError as err:
                    self.failures[kind] = str(err)
                self.seconds[kind] = time.perf_counter() - start
            if kind in self.failures:
                raise OpsUnavailableError(f"the {kind} kernels are unavailable: {self.failures[kind]}")
            return self.modules[kind]

    def status(self, kind: str) -> tuple[bool, str]:
        """``(available, description)`` without raising; builds on first call."""
        try:
            self.require(kind)
        except OpsUnavailableError as err:
            return False, str(err)
        how = "built" if self.built.get(kind) else "loaded from cache"
        return True, f"{how} in {self.seconds.get(kind, 0.0):.1f} s ({self.final_dir(kind)})"

    def key(self, kind: str) -> str:
        """:func:`build_key` of ``kind`` for this builder's sources (computed once)."""
        if kind not in self._keys:
            self._keys[kind] = build_key(kind, self.source_dir)
        return self._keys[kind]

    def final_dir(self, kind: str) -> Path:
        """Where the finished build of ``kind`` lives in the cache."""
        return self.root() / f"{kind}-{self.key(kind)}"

    def _build_or_load(self, kind: str):
        reason = why_not_buildable(kind)
        if reason is not None:
            raise OpsBuildError(reason)
        name = f"facelatent_ops_{kind}_{self.key(kind)}"
        final = self.final_dir(kind)
        library = final / f"{name}.so"
        if (final / MARKER).exists() and library.exists():
            self.built[kind] = False
            return self._import(name, library)
        final.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(final.parent / f".{final.name}.lock"):
            # Another process may have finished the same build while this one waited.
            if (final / MARKER).exists() and library.exists():
                self.built[kind] = False
                return self._import(name, library)
            self.build_attempts[kind] = self.build_attempts.get(kind, 0) + 1
            module = self._compile(kind, name, final)
        self.built[kind] = True
        return module

    def _import(self, name: str, library: Path):
        try:
            return _import_library(name, library)
        except ImportError as err:
            raise OpsBuildError(f"cannot load {library}: {err}") from err

    def _compile(self, kind: str, name: str, final: Path):
        """Build in a private temporary folder, import the result, then rename the folder into place."""
        from torch.utils import cpp_extension  # lazy: importing it takes ~0.2 s (setuptools), needed only to build

        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            for path in self.source_dir.iterdir():
                if path.suffix in (".cpp", ".cu", ".h"):
                    shutil.copy2(path, tmp / path.name)
            sources = [str(tmp / p.name) for p in _sources(kind, self.source_dir)]
            cuda = kind == "cuda"
            try:
                module = cpp_extension.load(
                    name=name, sources=sources, build_directory=str(tmp), verbose=self.verbose,
                    extra_cflags=CUDA_HOST_CFLAGS if cuda else CPP_CFLAGS,
                    extra_cuda_cflags=CUDA_CFLAGS if cuda else None, is_python_module=True,
                    with_cuda=cuda)
            except (RuntimeError, OSError, subprocess.SubprocessError) as err:
                raise OpsBuildError(_first_error_line(err)) from err
            (tmp / MARKER).write_text(name + "\n")
            try:
                os.rename(tmp, final)  # atomic; fails if another process got there first
            except OSError:
                if not (final / MARKER).exists():
                    raise OpsBuildError(f"cannot move the build into {final}")
            sys.modules[name] = module
            return module
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """Hold an advisory lock so that concurrent processes build one at a time (the rename stays
    the guarantee where locks are not supported)."""
    if fcntl is None:  # not POSIX: rely on the atomic rename alone
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _first_error_line(err: Exception) -> str:
    text = str(err)
    for line in text.splitlines():
        if "error" in line.lower() and "Error building extension" not in line:
            return "build failed: " + line.strip()[:300]
    return "build failed: " + (text.splitlines()[0] if text else type(err).__name__)[:300]


_DEFAULT: Optional[OpsBuilder] = None


def default_builder() -> OpsBuilder:
    """The process-wide builder used by the ops (cache under ``$FACELATENT_HOME/ops``)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = OpsBuilder()
    return _DEFAULT


def get_plugin(kind: str, warn: bool = True):
    """The compiled module for ``kind`` (``cpp``/``cuda``), or ``None`` when it cannot be built."""
    return default_builder().get(kind, warn=warn)


def require_plugin(kind: str):
    """The compiled module for ``kind``; raises :class:`OpsUnavailableError` when it cannot be built."""
    return default_builder().require(kind)
