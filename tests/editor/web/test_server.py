"""The JSON API through FastAPI's TestClient, with the real pipeline in local worker processes."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from editor.web.server import Settings, create_app  # noqa: E402
from editor.web.store import Store  # noqa: E402

from .conftest import wait_for_job  # noqa: E402

FAST = {"emotion": "joy", "duration": 2, "fps": 10, "seed": 7}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("web-data")


@pytest.fixture(scope="module")
def client(data):
    app = create_app(Settings(data=data, workers=1, max_bytes=2 * 1024 * 1024, max_pixels=4_000_000))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def photo_id(client, astronaut_bytes) -> str:
    response = client.post("/api/photos", content=astronaut_bytes, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def events(client, job_id: str, timeout: float = 120.0) -> list[dict]:
    """Every server-sent event of a job until it ends."""
    seen, end = [], time.monotonic() + timeout
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
            assert time.monotonic() < end, "the job did not finish in time"
    return seen




def leftovers(data: Path) -> set:
    return {p.name for p in (data / "uploads").iterdir()}


def test_upload_finds_the_astronaut(client, photo_id):
    record = client.get(f"/api/photos/{photo_id}").json()
    assert uuid.UUID(record["id"]).version == 4
    assert (record["width"], record["height"]) == (512, 512)
    assert len(record["faces"]) == 1
    face = record["faces"][0]
    assert face["index"] == 0 and face["too_small"] is False and face["reason"] is None
    x0, y0, x1, y1 = face["box"]
    assert 150 < x0 < x1 < 300 and 30 < y0 < y1 < 200
    preview = client.get(record["preview"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"


def test_job_streams_stages_and_serves_the_video(client, photo_id, data):
    response = client.post("/api/jobs", json={"photo": photo_id, **FAST})
    assert response.status_code == 202, response.text
    job = response.json()
    assert uuid.UUID(job["id"]).version == 4 and job["status"] == "queued" and job["position"] == 1
    seen = events(client, job["id"])
    stages = [v["stage"] for v in seen]
    assert "detecting" in stages or "planning" in stages or "rendering" in stages, stages
    final = seen[-1]
    assert final["status"] == "done", final
    assert final["settings"]["seed"] == 7 and final["settings"]["faces"] == [0]
    video = client.get(final["download"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.headers["content-disposition"] == 'attachment; filename="facelatent_joy_seed7.mp4"'
    assert video.content[4:8] == b"ftyp"
    state = json.loads((data / "jobs" / job["id"] / "state.json").read_text())
    assert state["frames"] == 20
    inline = client.get(final["video"])
    assert inline.headers["content-disposition"].startswith("inline")
    ranged = client.get(final["video"], headers={"Range": "bytes=0-99"})  # browsers seek with ranges
    assert ranged.status_code == 206 and len(ranged.content) == 100


def test_a_random_seed_is_drawn_and_shown(client, photo_id):
    settings = dict(FAST, seed=None, emotion="surprise", blend_with="joy", blend=0.3)
    job = client.post("/api/jobs", json={"photo": photo_id, **settings}).json()
    assert 0 <= job["settings"]["seed"] <= 2**32 - 1
    view = wait_for_job(client, job["id"], lambda v: v["status"] in ("done", "failed"))
    assert view["status"] == "done", view
    assert view["filename"] == f"facelatent_surprise70-joy30_seed{job['settings']['seed']}.mp4"


@pytest.mark.parametrize("body, status, words", [
    (b"this is not an image", 415, "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 415, "not an image"),
    (b"", 400, "empty"),
])
def test_bad_uploads_are_refused_in_one_line(client, photo_id, data, body, status, words):
    before = leftovers(data)
    response = client.post("/api/photos", content=body)
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert words in message and "\n" not in message
    assert leftovers(data) == before


def test_truncated_images_are_refused(client, photo_id, data, astronaut_bytes):
    from PIL import Image
    buffer = io.BytesIO()
    Image.open(io.BytesIO(astronaut_bytes)).save(buffer, "PNG")
    before = leftovers(data)
    for body in (astronaut_bytes[: len(astronaut_bytes) // 2], buffer.getvalue()[: buffer.tell() // 2]):
        response = client.post("/api/photos", content=body)
        assert response.status_code == 400 and "truncated" in response.json()["error"], response.text
    assert leftovers(data) == before


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` pixels in a few bytes (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    idat = zlib.compress(b"\x00" * 4096, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height, words", [
    (60000, 60000, "far more pixels than the limit of 4 megapixels"),  # over Pillow's own bomb limit
    (3000, 2000, "3000x2000 pixels, over the limit of 4 megapixels"),  # over the server's limit
])
def test_decompression_bomb_and_pixel_limit_give_413(client, photo_id, data, width, height, words):
    before = leftovers(data)
    response = client.post("/api/photos", content=png_header(width, height))
    assert response.status_code == 413, response.text
    assert words in response.json()["error"]
    assert leftovers(data) == before


def test_upload_over_the_size_limit_gives_413(client, photo_id, data):
    before = leftovers(data)
    response = client.post("/api/photos", content=b"\xff" * (2 * 1024 * 1024 + 1))
    assert response.status_code == 413 and "larger than the limit of 2 MB" in response.json()["error"]

    def chunks():  # no Content-Length: the limit is counted while streaming
        for _ in range(40):
            yield b"\xff" * 65536
    response = client.post("/api/photos", content=chunks())
    assert response.status_code == 413
    assert leftovers(data) == before


def test_other_formats_are_refused(client, photo_id):
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "GIF")
    response = client.post("/api/photos", content=buffer.getvalue())
    assert response.status_code == 415 and "GIF" in response.json()["error"]


@pytest.mark.parametrize("path", ["/api/jobs/..%2F..%2Fetc%2Fpasswd/video", "/api/jobs/not-a-uuid",
                                  f"/api/jobs/{uuid.uuid4()}/video", f"/api/photos/{uuid.uuid4()}/preview",
                                  "/api/photos/..%2Fjobs/preview", f"/api/jobs/{str(uuid.uuid4()).upper()}"])
def test_only_ids_reach_files(client, path):
    response = client.get(path)
    assert response.status_code == 404 and "error" in response.json()


@pytest.mark.parametrize("change, status, words", [
    ({"emotion": "boredom"}, 422, "unknown emotion"),
    ({"duration": 11}, 422, "duration"),
    ({"duration": 1}, 422, "duration"),
    ({"intensity": 2}, 422, "intensity"),
    ({"seed": 2**32}, 422, "seed"),
    ({"faces": [3]}, 400, "face 4 does not exist"),
    ({"faces": []}, 400, "at least one face"),
    ({"photo": str(uuid.uuid4())}, 404, "no such photo"),
    ({"photo": "../../etc"}, 404, "no such photo"),
])
def test_bad_job_requests(client, photo_id, change, status, words):
    response = client.post("/api/jobs", json={"photo": photo_id, **FAST, **change})
    assert response.status_code == status, response.text
    assert words in response.json()["error"] and "\n" not in response.json()["error"]


def test_a_too_small_face_is_refused(client, data):
    store = Store(data)
    upload = store.uploads / str(uuid.uuid4())
    upload.mkdir()
    faces = [{"index": 0, "box": [10, 10, 30, 34], "too_small": True, "reason": "too small to animate: 24 px, "
              "at least 28 px needed"}]
    (upload / "photo.json").write_text(json.dumps({"id": upload.name, "width": 64, "height": 64, "faces": faces}))
    response = client.post("/api/jobs", json={"photo": upload.name, **FAST, "faces": [0]})
    assert response.status_code == 400 and response.json()["error"] == ("face 1 is too small to animate: 24 px, "
                                                                         "at least 28 px needed")
    response = client.post("/api/jobs", json={"photo": upload.name, **FAST})
    assert response.status_code == 400 and "at least one face" in response.json()["error"]


def test_a_failing_job_ends_failed_with_one_line(client, data, astronaut_bytes):
    upload = client.post("/api/photos", content=astronaut_bytes).json()
    (data / "uploads" / upload["id"] / "photo").write_bytes(b"broken")  # the worker cannot read it now
    job = client.post("/api/jobs", json={"photo": upload["id"], **FAST}).json()
    final = events(client, job["id"])[-1]
    assert final["status"] == "failed"
    assert "not an image" in final["error"] and "\n" not in final["error"]
    assert client.get(f"/api/jobs/{job['id']}/video").status_code == 409


def test_a_killed_worker_never_yields_a_half_written_video(client, photo_id, data):
    job = client.post("/api/jobs", json={"photo": photo_id, **FAST, "duration": 10, "fps": 60}).json()
    wait_for_job(client, job["id"], lambda v: v["stage"] == "rendering" and v["done"] > 5)
    state = json.loads((data / "jobs" / job["id"] / "state.json").read_text())
    os.kill(int(state["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    view = wait_for_job(client, job["id"], lambda v: v["status"] in ("done", "failed"))
    assert view["status"] == "failed" and "stopped unexpectedly" in view["error"], view
    assert sorted(p.name for p in (data / "jobs" / job["id"]).iterdir()) == ["job.json", "state.json"]
    assert client.get(f"/api/jobs/{job['id']}/video").status_code == 409


def test_results_survive_a_restart_and_queued_jobs_run(client, photo_id, data):
    job = client.post("/api/jobs", json={"photo": photo_id, **FAST}).json()
    assert wait_for_job(client, job["id"], lambda v: v["status"] in ("done", "failed"))["status"] == "done"
    store = Store(data)
    waiting = store.create_job({"photo": photo_id, **FAST, "faces": [0], "blend_with": None, "blend": 0.5,
                                "intensity": 0.7})  # queued while no server ran
    with TestClient(create_app(Settings(data=data, workers=1))) as again:
        assert again.get(f"/api/jobs/{job['id']}/video").status_code == 200
        assert wait_for_job(again, waiting, lambda v: v["status"] in ("done", "failed"))["status"] == "done"


def test_retention_removes_old_uploads_and_results_but_not_running_jobs(tmp_path):
    store = Store(tmp_path)
    upload = store.uploads / str(uuid.uuid4())
    upload.mkdir()
    (upload / "photo.json").write_text("{}")
    done = store.create_job({"photo": upload.name})
    store.set_state(done, status="done")
    running = store.create_job({"photo": upload.name})
    store.set_state(running, status="running")
    stray = store.uploads / ".0123abcd.part"
    stray.write_bytes(b"x")
    assert store.sweep(24 * 3600) == 0 and upload.exists()
    assert store.sweep(24 * 3600, now=time.time() + 25 * 3600) == 2
    assert not upload.exists() and store.job_dir(done) is None and store.job_dir(running) is not None
    assert not stray.exists()
