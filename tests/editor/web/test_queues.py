"""Jobs on a real Redis (RQ): a front with --broker, `facelatent worker` processes, a killed work horse.

Starts its own ``redis-server`` on a free 127.0.0.1 port in a temporary folder; skipped, with the
reason, where the binary is not installed (`apt-get install redis-server`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

pytest.importorskip("rq")
pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from editor.web.server import Settings, create_app  # noqa: E402

from .conftest import FACELATENT, REPO, free_port, wait_for_job  # noqa: E402

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (apt-get install redis-server)")

FAST = {"emotion": "joy", "duration": 2, "fps": 10, "seed": 3}


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                                "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    from redis import Redis
    client = Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-data")


@pytest.fixture(scope="module")
def workers(broker, data):
    """Two `facelatent worker` processes (as on two machines sharing the data folder)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    logs = [open(data.parent / f"worker{i}.log", "wb") for i in range(2)]
    procs = [subprocess.Popen([*FACELATENT, "worker", "--broker", broker, "--data", str(data)], cwd=REPO, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True) for log in logs]
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    for log in logs:
        log.close()


@pytest.fixture(scope="module")
def client(broker, data, workers):
    with TestClient(create_app(Settings(data=data, broker=broker))) as test_client:
        yield test_client




def test_workers_run_jobs_from_the_broker(client, astronaut_bytes, data):
    photo = client.post("/api/photos", content=astronaut_bytes).json()
    jobs = [client.post("/api/jobs", json={"photo": photo["id"], **FAST, "seed": seed}).json() for seed in (1, 2, 3)]
    assert all(j["status"] == "queued" for j in jobs)
    assert jobs[2]["position"] in (1, 2, 3)  # ahead of it: what the two workers have not taken yet
    views = [wait_for_job(client, j["id"], lambda v: v["status"] in ("done", "failed")) for j in jobs]
    assert [v["status"] for v in views] == ["done"] * 3, views
    hosts = {json.loads((data / "jobs" / v["id"] / "state.json").read_text())["worker"] for v in views}
    assert len(hosts) >= 2  # three work horses (one process per job)
    videos = [client.get(v["video"]).content for v in views]
    assert all(v[4:8] == b"ftyp" for v in videos) and len({len(v) for v in videos}) >= 2  # three seeds


def test_a_killed_work_horse_ends_failed_without_a_video(client, astronaut_bytes, data):
    photo = client.post("/api/photos", content=astronaut_bytes).json()
    job = client.post("/api/jobs", json={"photo": photo["id"], **FAST, "duration": 10, "fps": 60}).json()
    wait_for_job(client, job["id"], lambda v: v["stage"] == "rendering" and v["done"] > 5)
    state = json.loads((data / "jobs" / job["id"] / "state.json").read_text())
    os.kill(int(state["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    view = wait_for_job(client, job["id"], lambda v: v["status"] in ("done", "failed"), timeout=60)
    assert view["status"] == "failed" and "the worker stopped" in view["error"], view
    assert sorted(p.name for p in (data / "jobs" / job["id"]).iterdir()) == ["job.json", "state.json"]
    assert client.get(f"/api/jobs/{job['id']}/video").status_code == 409
    # the workers go on: the next job runs
    after = client.post("/api/jobs", json={"photo": photo["id"], **FAST}).json()
    assert wait_for_job(client, after["id"], lambda v: v["status"] in ("done", "failed"))["status"] == "done"


def test_an_unreachable_broker_is_one_line(tmp_path):
    from inversion.common.errors import FaceLatentError
    with pytest.raises(FaceLatentError, match=r"--broker redis://127.0.0.1:\d+/0: cannot reach Redis"):
        with TestClient(create_app(Settings(data=tmp_path, broker=f"redis://127.0.0.1:{free_port()}/0"))):
            pass
