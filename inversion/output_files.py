"""Files the project writes: checked before any work, written atomically, removed on any stop.

One mechanism for every output (videos, previews, annotated photos, latents, direction files,
generated images):

* :func:`check_output_file` / :func:`check_output_folder` refuse, before any work, a path whose
  folder is missing or not writable, a file name that is an existing folder (or a device), with
  one line naming the user's own path (never a temporary name).
* :func:`atomic_output` yields a temporary name ``.NAME.HEX.part`` in the destination folder; the
  writer creates the file there, and on success it is renamed onto the destination. On any
  exception (including Ctrl-C and the signals below) the temporary file is removed. Temporary
  names are kept in one registry (:func:`pending_temporaries`), so a last sweep
  (:func:`remove_temporaries`) removes whatever a writer left behind.
* :func:`stop_on_signals` turns SIGTERM and SIGHUP into :class:`Stopped` (a ``KeyboardInterrupt``)
  in the main thread, so the same unwinding that handles Ctrl-C cleans up.

Modes: files are created by ``open`` (never ``mkstemp``'s 0600), so every output follows the
user's umask (``0o666 & ~umask``), like any other program's files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
import threading
from pathlib import Path
from typing import Iterator, Optional, Union

from inversion.common.errors import FaceLatentError

PathLike = Union[str, "os.PathLike[str]"]
_PENDING: set[Path] = set()
_LOCK = threading.Lock()
#: Signals that stop a run cleanly (Ctrl-C, SIGINT, is Python's own KeyboardInterrupt).
STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


class Stopped(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM, SIGHUP); ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def _label(option: Optional[str], path: Path) -> str:
    return f"{option} {path}" if option else str(path)


def temporary_name(path: PathLike, suffix: str = ".part") -> Path:
    """A fresh hidden name beside ``path``: ``.NAME.HEX.part`` (not created, not registered)."""
    path = Path(path)
    return path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"


def register_temporary(tmp: PathLike) -> Path:
    """Add ``tmp`` to the registry swept by :func:`remove_temporaries`."""
    with _LOCK:
        _PENDING.add(Path(tmp))
    return Path(tmp)


def forget_temporary(tmp: PathLike) -> None:
    """Remove ``tmp`` from the registry (it was renamed into place or deleted)."""
    with _LOCK:
        _PENDING.discard(Path(tmp))


def pending_temporaries() -> list[Path]:
    """Temporary files registered and not yet renamed or removed."""
    with _LOCK:
        return sorted(_PENDING)


def remove_temporaries() -> list[Path]:
    """Delete every registered temporary file that still exists; returns the ones deleted."""
    removed = []
    for tmp in pending_temporaries():
        try:
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:
            pass
        except OSError:
            continue
        forget_temporary(tmp)
    return removed


def _probe_folder(folder: Path, shown: str) -> None:
    probe = temporary_name(folder / "write-check", ".probe")
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as err:
        raise FaceLatentError(f"cannot write {shown}: folder {folder} is not writable "
                              f"({(err.strerror or 'error').lower()})") from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(path: PathLike, option: Optional[str] = None) -> Path:
    """Refuse, before any work, an output file that cannot be written; returns it as a Path.

    Its folder must exist, be a folder and be writable (a file is created and removed there to be
    sure); the name itself must not be an existing folder or something other than a regular file.
    ``option`` (e.g. ``"-o"``) is named in the one-line error, with the user's own path.
    """
    path = Path(path)
    shown = _label(option, path)
    if path.is_dir():
        raise FaceLatentError(f"{shown} is an existing folder: name a file to write")
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        raise FaceLatentError(f"{shown} exists and is not a regular file: name a file to write")
    folder = path.parent
    if not folder.exists():
        raise FaceLatentError(f"cannot write {shown}: output folder does not exist ({folder})")
    if not folder.is_dir():
        raise FaceLatentError(f"cannot write {shown}: {folder} is not a folder")
    _probe_folder(folder, shown)
    return path


def check_output_folder(path: PathLike, option: Optional[str] = None, create: bool = True) -> Path:
    """Refuse, before any work, an output folder that cannot be made or written.

    An existing folder must be writable; a missing one (when ``create``) must have an existing,
    writable parent. A path naming an existing file is refused.
    """
    path = Path(path)
    shown = _label(option, path)
    if path.exists() and not path.is_dir():
        raise FaceLatentError(f"{shown} is an existing file, not a folder")
    if path.is_dir():
        _probe_folder(path, shown)
        return path
    if not create:
        raise FaceLatentError(f"{shown}: folder does not exist")
    parent = path.parent
    if not parent.is_dir():
        raise FaceLatentError(f"cannot make {shown}: folder {parent} does not exist")
    _probe_folder(parent, shown)
    return path


@contextlib.contextmanager
def atomic_output(path: PathLike, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The caller creates the file at the yielded path (``open``, ``torch.save``, ``PIL.Image.save``,
    an ffmpeg subprocess...). Any exception, Ctrl-C or :class:`Stopped` removes it and leaves
    ``path`` untouched. ``suffix`` may carry an extension a writer insists on (e.g. ``.npy``).
    """
    path = Path(path)
    tmp = register_temporary(temporary_name(path, suffix))
    try:
        yield tmp
        if not tmp.exists():
            raise FaceLatentError(f"nothing was written for {path}")
        os.replace(tmp, path)
    except IsADirectoryError:
        raise FaceLatentError(f"{path} is an existing folder: name a file to write") from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        forget_temporary(tmp)


def _raise_stopped(signum, frame) -> None:  # noqa: ARG001 - a signal handler's signature
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Stopped` in the main thread; on leaving,
    the previous handlers come back and every registered temporary file is removed.

    Outside the main thread (where Python cannot install handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in STOP_SIGNALS:
        try:
            previous[signum] = signal.signal(signum, _raise_stopped)
        except (OSError, ValueError):
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        remove_temporaries()
