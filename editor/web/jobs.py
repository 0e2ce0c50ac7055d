"""The job a worker runs: one upload's photo through the warp (:func:`editor.warp_pipeline.animate_with_warp`).

The web app animates with the embedded default, whose motion model is the warp of the photo's own pixels:
no generator runs, so a worker never imports torch.

:func:`run_job` is the whole contract between the web front and a worker (a local process or an RQ
worker on any machine): it gets the data folder and a job id, reads the job's settings and photo from
there, reports progress into the job's ``state.json`` and leaves ``video.mp4`` there. It never raises
for a failed job: the job ends ``failed`` with the pipeline's one-line error. The video is written by
the pipeline to a temporary name and renamed; ``status: done`` is written only after that, and the
front serves a video only for a done job, so a worker killed mid-job never yields a half-written one.

Stages the page shows: ``queued``, ``detecting``, ``planning`` (the warp's expression plan: this
motion model needs no inversion), ``rendering`` (frames, with done/total), ``encoding``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from editor.web.store import Store, checked_id

#: Video size limit for web jobs (long side, pixels); the CLI's default is 3840.
WEB_MAX_SIDE = 1920
#: How often progress is written while rendering (seconds).
PROGRESS_EVERY = 0.25


def emotion_text(settings: dict) -> str:
    """The ``--emotion`` string of a job: ``joy``, or a blend ``joy:0.7,surprise:0.3``."""
    first, second = settings["emotion"], settings.get("blend_with")
    if not second or second == first:
        return first
    mix = float(settings.get("blend", 0.5))  # the share of the second emotion
    mix = min(max(mix, 0.0), 1.0)
    if mix <= 0.0:
        return first
    if mix >= 1.0:
        return second
    return f"{first}:{1 - mix:.2f},{second}:{mix:.2f}"


def options_for(settings: dict):
    """The :class:`AnimateOptions` of a job's settings (raises FaceLatentError, one line, when invalid)."""
    from editor.emotion_spec import parse_emotion_spec  # noqa: PLC0415
    from editor.animate_job import AnimateOptions  # noqa: PLC0415
    from editor.trajectory import validate_timing  # noqa: PLC0415
    from inversion.common.errors import FaceLatentError  # noqa: PLC0415

    spec = parse_emotion_spec(emotion_text(settings))
    validate_timing(settings["duration"], settings["fps"], settings["intensity"])
    faces = settings.get("faces")
    if faces is not None and not faces:
        raise FaceLatentError("choose at least one face to animate")
    return AnimateOptions(emotion=spec, seed=int(settings["seed"]), duration=float(settings["duration"]),
                          fps=float(settings["fps"]), intensity=float(settings["intensity"]),
                          faces=faces, preview_frames=0, max_side=WEB_MAX_SIDE, motion="warp")


class _Progress:
    """``progress(stage, done, total)`` for the pipeline, written to the job's state (throttled)."""

    def __init__(self, store: Store, job_id: str):
        self.store, self.job_id, self.last = store, job_id, 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == "detecting" and done >= total:
            self.store.set_state(self.job_id, stage="planning", done=0, total=0)
        elif stage == "rendering" and done >= total:
            self.store.set_state(self.job_id, stage="encoding", done=done, total=total)
        elif done == 0 or now - self.last >= PROGRESS_EVERY:
            self.store.set_state(self.job_id, stage=stage, done=done, total=total)
        else:
            return
        self.last = now


def run_job(data: str, job_id: str) -> str:
    """Run job ``job_id`` of the data folder ``data``; returns its final status (``done``/``failed``)."""
    from editor.warp_pipeline import animate_with_warp  # noqa: PLC0415 (numpy and OpenCV: no torch)
    from inversion.common.errors import FaceLatentError  # noqa: PLC0415
    from inversion.common.images import read_photo  # noqa: PLC0415

    store = Store(Path(data))
    job_id = checked_id(job_id)
    settings = store.job(job_id) if job_id else None
    if settings is None:
        return "failed"  # expired or unknown: nothing to do
    state = store.state(job_id) or {}
    if state.get("status") in ("done", "failed"):
        return state["status"]
    store.set_state(job_id, status="running", stage="detecting", done=0, total=1, started=time.time(),
                    worker=f"{os.uname().nodename}:{os.getpid()}")
    try:
        options = options_for(settings)
        folder = store.upload_dir(settings["photo"])
        if folder is None:
            raise FaceLatentError("the photo is no longer on the server (expired): upload it again")
        photo = read_photo(folder / "photo")
        result = animate_with_warp(photo, store.jobs / job_id / "video.mp4", options, progress=_Progress(store, job_id))
    except FaceLatentError as err:
        store.fail(job_id, str(err))
        return "failed"
    except Exception as err:  # noqa: BLE001 - any other failure still ends the job, with one line
        store.fail(job_id, f"internal error: {err.__class__.__name__}: {err}")
        return "failed"
    if (store.state(job_id) or {}).get("status") == "failed":  # given up on meanwhile (a restart): stay failed
        (store.jobs / job_id / "video.mp4").unlink(missing_ok=True)
        return "failed"
    store.set_state(job_id, status="done", stage="done", done=result.num_frames, total=result.num_frames,
                    frames=result.num_frames, width=result.size[0], height=result.size[1],
                    animated=result.animated, still=result.still, finished=time.time())
    return "done"


#: The data folder of this worker process (set by ``facelatent worker --data``): RQ jobs carry only the
#: job id, since each machine may mount the shared folder at its own path.
WORKER_DATA = os.environ.get("FACELATENT_DATA", "")


def run_queued(job_id: str) -> str:
    """The RQ entry point: :func:`run_job` in this worker's data folder."""
    if not WORKER_DATA:
        raise RuntimeError("this worker has no data folder: start it with `facelatent worker --data DIR`")
    return run_job(WORKER_DATA, job_id)
