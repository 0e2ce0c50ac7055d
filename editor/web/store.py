"""The data folder shared by the web front and the workers.

Layout (every id is a random UUID4 made by the server, never a name from the client)::

    DATA/uploads/<id>/photo        the uploaded bytes, as sent (read back with read_photo)
    DATA/uploads/<id>/preview.jpg  the decoded photo (EXIF orientation applied) the page shows
    DATA/uploads/<id>/photo.json   size and faces (boxes, too-small flags)
    DATA/jobs/<id>/job.json        the settings of a job (written once, before it is queued)
    DATA/jobs/<id>/state.json      status, stage, progress, error, timestamps (rewritten as it runs)
    DATA/jobs/<id>/video.mp4       the result, renamed into place only when complete

Every JSON file is written to a temporary name and renamed, so a reader never sees half a file and a
killed writer leaves at most a ``*.part`` file, which the retention sweep removes. Paths are made
only from :func:`checked_id` ids, so nothing the client sends is joined to a path.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Optional

from inversion.common.errors import FaceLatentError

#: Statuses a job goes through; the last two are final.
STATUSES = ("queued", "running", "done", "failed")
FINAL = ("done", "failed")


def new_id() -> str:
    return str(uuid.uuid4())


def checked_id(value: str) -> Optional[str]:
    """``value`` in canonical UUID form when it is one, else None (never used in a path otherwise)."""
    try:
        parsed = uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        return None
    text = str(parsed)
    return text if text == str(value).lower() else None


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class Store:
    """Uploads and jobs under one data folder (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        try:
            self.uploads.mkdir(parents=True, exist_ok=True)
            self.jobs.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise FaceLatentError(f"--data {root}: cannot make the data folder ({err.strerror or err})") from None

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    # uploads
    def upload_dir(self, upload_id: str) -> Optional[Path]:
        uid = checked_id(upload_id)
        path = self.uploads / uid if uid else None
        return path if path is not None and (path / "photo.json").is_file() else None

    def upload_info(self, upload_id: str) -> Optional[dict]:
        folder = self.upload_dir(upload_id)
        return read_json(folder / "photo.json") if folder else None

    # jobs
    def job_dir(self, job_id: str) -> Optional[Path]:
        jid = checked_id(job_id)
        path = self.jobs / jid if jid else None
        return path if path is not None and (path / "job.json").is_file() else None

    def create_job(self, settings: dict) -> str:
        job_id = new_id()
        folder = self.jobs / job_id
        folder.mkdir()
        now = time.time()
        write_json(folder / "state.json", {"status": "queued", "stage": "queued", "done": 0, "total": 0,
                                           "error": None, "created": now, "updated": now})
        write_json(folder / "job.json", dict(settings, id=job_id, created=now))
        return job_id

    def job(self, job_id: str) -> Optional[dict]:
        folder = self.job_dir(job_id)
        return read_json(folder / "job.json") if folder else None

    def state(self, job_id: str) -> Optional[dict]:
        folder = self.job_dir(job_id)
        return read_json(folder / "state.json") if folder else None

    def set_state(self, job_id: str, **changes) -> dict:
        folder = self.jobs / checked_id(job_id)
        state = read_json(folder / "state.json") or {}
        state.update(changes, updated=time.time())
        write_json(folder / "state.json", state)
        return state

    def fail(self, job_id: str, error: str) -> dict:
        """Mark a job failed with a one-line error, and remove any partial output."""
        folder = self.jobs / checked_id(job_id)
        for part in [*folder.glob("*.part*"), *folder.glob(".*.part*"), folder / "video.mp4"]:
            part.unlink(missing_ok=True)
        return self.set_state(job_id, status="failed", stage="failed", error=" ".join(str(error).split()))

    def video(self, job_id: str) -> Optional[Path]:
        """The finished video of a done job, else None (a running job's partial file is never served)."""
        folder = self.job_dir(job_id)
        state = read_json(folder / "state.json") if folder else None
        if not state or state.get("status") != "done":
            return None
        path = folder / "video.mp4"
        return path if path.is_file() else None

    def unfinished_jobs(self) -> list[tuple[float, str, dict]]:
        """(created, id, state) of every queued or running job, oldest first."""
        found = []
        for folder in self.jobs.iterdir():
            state = read_json(folder / "state.json")
            if state and checked_id(folder.name) and state.get("status") not in FINAL:
                found.append((state.get("created", 0.0), folder.name, state))
        return sorted(found)

    def sweep(self, retention_s: float, now: Optional[float] = None) -> int:
        """Delete uploads and finished jobs older than ``retention_s``, and stray temporary files;
        returns how many folders went. Unfinished jobs are kept whatever their age."""
        now = time.time() if now is None else now
        removed = 0
        for parent in (self.uploads, self.jobs):
            for folder in list(parent.iterdir()):
                if not folder.is_dir() or not checked_id(folder.name):
                    if folder.name.startswith(".") and folder.name.endswith(".part") and \
                            now - _mtime(folder) > 3600:
                        _remove(folder)
                    continue
                state = read_json(folder / "state.json") if parent == self.jobs else None
                if state is not None and state.get("status") not in FINAL:
                    continue
                if now - _mtime(folder) > retention_s:
                    _remove(folder)
                    removed += 1
        return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
