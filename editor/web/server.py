"""The FastAPI app: the page (``static/``) and the JSON API it uses (documented in the README).

``create_app(settings)`` builds the app; ``facelatent serve`` runs it under uvicorn. Nothing heavy
runs on the event loop: uploads are checked and their faces detected in the thread pool, jobs run in
worker processes (:mod:`editor.web.queues`). Every error is JSON ``{"error": "one line"}`` with a
4xx status. Ids in URLs are checked to be UUIDs before they come near a path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from editor.web.photos import MAX_BYTES, MAX_PIXELS, UploadRefused, save_upload
from editor.web.store import FINAL, Store

STATIC = Path(__file__).resolve().parent / "static"
EMOTIONS = ("joy", "fear", "anger", "sadness", "disgust", "surprise")
SEED_MAX = 2**32 - 1


@dataclass
class Settings:
    """What ``facelatent serve`` configures (see its --help)."""

    data: Path
    workers: int = 2
    broker: Optional[str] = None
    max_bytes: int = MAX_BYTES
    max_pixels: int = MAX_PIXELS
    retention_s: float = 24 * 3600.0
    sweep_every_s: float = 600.0


class JobRequest(BaseModel):
    """``POST /api/jobs``: what to make of an uploaded photo."""

    photo: str
    faces: Optional[list[int]] = None
    emotion: str = "joy"
    blend_with: Optional[str] = None
    blend: float = Field(0.5, ge=0.0, le=1.0)
    intensity: float = Field(0.7, ge=0.0, le=1.0)
    duration: float = Field(4.0, ge=2.0, le=10.0)
    fps: float = Field(30.0, ge=5.0, le=60.0)
    seed: Optional[int] = Field(None, ge=0, le=SEED_MAX)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def make_queue(store: Store, settings: Settings):
    from editor.web.queues import LocalQueue, RedisQueue  # noqa: PLC0415
    if settings.broker:
        return RedisQueue(store, settings.broker)
    return LocalQueue(store, settings.workers)


def safe_name(settings: dict) -> str:
    """The download name: ``facelatent_joy_seed42.mp4`` (a blend: ``joy70-surprise30``), ASCII only."""
    label = settings.get("emotion", "video")
    if settings.get("blend_with") and settings["blend_with"] != label:
        mix = round(float(settings.get("blend", 0.5)) * 100)
        label = f"{label}{100 - mix}-{settings['blend_with']}{mix}"
    label = re.sub(r"[^a-z0-9-]+", "", label.lower())[:40] or "video"
    return f"facelatent_{label}_seed{int(settings.get('seed', 0))}.mp4"


def create_app(settings: Settings) -> FastAPI:
    """The app: the page, the API (:data:`api`), one-line JSON errors, and a lifespan that starts the
    queue (:func:`make_queue`) and the retention sweep and stops them."""
    store = Store(settings.data)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        queue = make_queue(store, settings)
        queue.start()
        app.state.queue = queue
        stop = threading.Event()
        threading.Thread(target=_sweep_loop, args=(store, settings, stop), daemon=True).start()
        try:
            yield
        finally:
            stop.set()
            queue.stop()

    app = FastAPI(title="facelatent", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.store, app.state.settings = store, settings
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.include_router(api)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _invalid(request: Request, exc: RequestValidationError):
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return error(422, f"{where}: {first.get('msg', 'invalid value')}" if where else "invalid request")


async def _http_error(request: Request, exc: StarletteHTTPException):
    return error(exc.status_code, str(exc.detail))


api = APIRouter()
NO_PHOTO = "no such photo (it may have expired)"
NO_JOB = "no such job (it may have expired)"


@api.get("/", include_in_schema=False)
async def page():
    return FileResponse(STATIC / "index.html", media_type="text/html")


@api.get("/api/config")
async def config(request: Request):
    settings = request.app.state.settings
    return {"emotions": EMOTIONS, "duration": [2, 10], "fps": [5, 60], "max_bytes": settings.max_bytes,
            "max_pixels": settings.max_pixels, "seed_max": SEED_MAX, "retention_s": settings.retention_s}


@api.post("/api/photos", status_code=201)
async def upload(request: Request):
    """The request body is the image's bytes; counted against the limit as they arrive, to a temporary file."""
    store, settings = request.app.state.store, request.app.state.settings
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_bytes:
        return error(413, _too_large(settings.max_bytes))
    received = store.uploads / f".{uuid.uuid4().hex}.part"
    size = 0
    try:
        with received.open("wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > settings.max_bytes:
                    raise UploadRefused(413, _too_large(settings.max_bytes))
                out.write(chunk)
        if size == 0:
            raise UploadRefused(400, "the upload is empty: send the photo's bytes as the request body")
        record = await run_in_threadpool(save_upload, store, received, settings.max_pixels)
    except UploadRefused as err:
        return error(err.status, err.message)
    finally:
        received.unlink(missing_ok=True)
    if not record["faces"]:
        record["warning"] = "no face found in this photo: try one where faces are clearly visible"
    return _photo_view(record)


@api.get("/api/photos/{photo_id}")
async def photo(photo_id: str, request: Request):
    record = request.app.state.store.upload_info(photo_id)
    return _photo_view(record) if record else error(404, NO_PHOTO)


@api.get("/api/photos/{photo_id}/preview")
async def preview(photo_id: str, request: Request):
    folder = request.app.state.store.upload_dir(photo_id)
    return FileResponse(folder / "preview.jpg", media_type="image/jpeg") if folder else error(404, NO_PHOTO)


@api.post("/api/jobs", status_code=202)
async def start_job(body: JobRequest, request: Request):
    from editor.web.jobs import options_for  # noqa: PLC0415
    from inversion.common.errors import FaceLatentError  # noqa: PLC0415

    store, queue = request.app.state.store, request.app.state.queue
    record = store.upload_info(body.photo)
    if record is None:
        return error(404, NO_PHOTO + ": upload it again")
    for name in (body.emotion, body.blend_with):
        if name is not None and name not in EMOTIONS:
            return error(422, f"unknown emotion {name!r}: choose one of {', '.join(EMOTIONS)}")
    chosen, refusal = _chosen_faces(record["faces"], body.faces)
    if refusal:
        return error(400, refusal)
    job = body.model_dump()
    job["faces"] = chosen
    job["seed"] = secrets.randbelow(SEED_MAX + 1) if body.seed is None else body.seed
    try:
        options_for(job)
    except FaceLatentError as err:
        return error(400, str(err))
    job_id = store.create_job(job)
    queue.submit(job_id)
    return _job_view(store, queue, job_id)


def _chosen_faces(faces: list[dict], wanted: Optional[list[int]]) -> tuple[list[int], Optional[str]]:
    """(the face indices to animate, None) or ([], the one-line reason they cannot be)."""
    if not faces:
        return [], "no face found in this photo: nothing to animate"
    chosen = wanted if wanted is not None else [f["index"] for f in faces if not f["too_small"]]
    bad = [i for i in chosen if not 0 <= i < len(faces)]
    if bad:
        return [], f"face {bad[0] + 1} does not exist: the photo has {len(faces)} face(s)"
    if not chosen:
        return [], "choose at least one face to animate"
    small = [i for i in chosen if faces[i]["too_small"]]
    if small:
        return [], f"face {small[0] + 1} is {faces[small[0]]['reason']}"
    return sorted(set(chosen)), None


@api.get("/api/jobs/{job_id}")
async def job_status(job_id: str, request: Request):
    store = request.app.state.store
    if store.job_dir(job_id) is None:
        return error(404, NO_JOB)
    return await run_in_threadpool(_job_view, store, request.app.state.queue, job_id)


@api.get("/api/jobs/{job_id}/events")
async def job_events(job_id: str, request: Request):
    store = request.app.state.store
    if store.job_dir(job_id) is None:
        return error(404, NO_JOB)
    return StreamingResponse(_events(store, request.app.state.queue, job_id, request),
                             media_type="text/event-stream", headers={"Cache-Control": "no-cache",
                                                                      "X-Accel-Buffering": "no"})


@api.get("/api/jobs/{job_id}/video")
async def video(job_id: str, request: Request, download: bool = False):
    store = request.app.state.store
    path = store.video(job_id)
    if path is None:
        if store.job_dir(job_id) is None:
            return error(404, NO_JOB)
        return error(409, "this job has no video (it is not finished, or it failed)")
    return FileResponse(path, media_type="video/mp4", filename=safe_name(store.job(job_id)),
                        content_disposition_type="attachment" if download else "inline")


def _too_large(limit: int) -> str:
    return f"the file is larger than the limit of {limit / 1024 / 1024:g} MB: upload a smaller photo"


def _photo_view(record: dict) -> dict:
    return dict(record, preview=f"/api/photos/{record['id']}/preview")


def _job_view(store: Store, queue, job_id: str) -> dict:
    settings = store.job(job_id) or {}
    state = queue.reconcile(job_id, store.state(job_id) or {})
    view = {"id": job_id, "settings": {k: settings.get(k) for k in ("photo", "faces", "emotion", "blend_with",
                                                                     "blend", "intensity", "duration", "fps", "seed")},
            "status": state.get("status"), "stage": state.get("stage"), "done": state.get("done", 0),
            "total": state.get("total", 0), "error": state.get("error"), "position": None, "video": None}
    if view["status"] not in FINAL:
        view["position"] = queue.position(job_id)
    if view["status"] == "done":
        view["video"] = f"/api/jobs/{job_id}/video"
        view["download"] = f"/api/jobs/{job_id}/video?download=1"
        view["filename"] = safe_name(settings)
    return view


async def _events(store: Store, queue, job_id: str, request: Request):
    """Server-sent events: the job's view each time it changes, until it is done or failed."""
    last, quiet = None, time.monotonic()
    while True:
        view = await run_in_threadpool(_job_view, store, queue, job_id)
        text = json.dumps(view)
        if text != last:
            last, quiet = text, time.monotonic()
            yield f"data: {text}\n\n"
        elif time.monotonic() - quiet > 15:
            quiet = time.monotonic()
            yield ": still working\n\n"
        if view["status"] in FINAL or await request.is_disconnected():
            return
        await asyncio.sleep(0.25)


def _sweep_loop(store: Store, settings: Settings, stop: threading.Event) -> None:
    while True:
        with contextlib.suppress(OSError):
            store.sweep(settings.retention_s)
        if stop.wait(settings.sweep_every_s):
            return
