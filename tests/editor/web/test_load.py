"""Twenty concurrent uploads and jobs against a real `facelatent serve --workers 2` on 127.0.0.1.

Every job must finish (or be refused cleanly), with its own settings, its own video, and the server's
memory (the whole process tree: front, forkserver, workers) bounded. Figures go to stdout (-s).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

from .conftest import ASTRONAUT, Server  # noqa: E402

JOBS = 20
TIME_LIMIT_S = 240
MEMORY_LIMIT_MB = 6000


def call(url: str, body: bytes | None = None, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def follow(url: str) -> dict:
    """Read the job's event stream to its end; the last event."""
    last, positions = None, []
    with urllib.request.urlopen(url, timeout=TIME_LIMIT_S) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data: "):
                last = json.loads(line[6:])
                positions.append(last["position"])
    return dict(last, positions=positions)


def small_astronaut() -> bytes:
    """The example photo at 256 px (one face of about 45 px): small, fast jobs."""
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.open(ASTRONAUT).resize((256, 256), Image.LANCZOS).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError):
                pass
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to measure memory")
def test_twenty_concurrent_jobs_with_two_workers(tmp_path):
    server = Server(tmp_path / "data", "--workers", "2")
    peak, stop = [0.0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_mb(server.process.pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    photo = small_astronaut()

    def one(seed: int) -> dict:
        status, record = call(server.url + "/api/photos", photo, "image/jpeg")
        if status != 201:
            return {"seed": seed, "refused": status, "error": record.get("error")}
        settings = {"photo": record["id"], "emotion": ("joy", "surprise", "fear")[seed % 3], "duration": 2,
                    "fps": 10, "seed": seed, "intensity": 0.5 + (seed - 100) / 50}
        status, job = call(server.url + "/api/jobs", json.dumps(settings).encode())
        if status != 202:
            return {"seed": seed, "refused": status, "error": job.get("error")}
        final = follow(f"{server.url}/api/jobs/{job['id']}/events")
        return {"seed": seed, "settings": settings, "job": job, "final": final}

    start = time.monotonic()
    try:
        with ThreadPoolExecutor(JOBS) as pool:
            results = list(pool.map(one, range(100, 100 + JOBS)))
        elapsed = time.monotonic() - start
        videos = {}
        for result in results:
            assert "refused" not in result or 400 <= result["refused"] < 600, result
            if "refused" in result:
                continue
            final, settings = result["final"], result["settings"]
            assert final["status"] == "done", final
            assert final["id"] == result["job"]["id"]
            for key in ("photo", "emotion", "seed", "intensity", "duration", "fps"):
                assert final["settings"][key] == settings[key], (key, final, settings)
            assert final["filename"] == f"facelatent_{settings['emotion']}_seed{settings['seed']}.mp4"
            with urllib.request.urlopen(server.url + final["video"]) as response:
                videos[result["seed"]] = response.read()
        done = len(videos)
        waited = max((p or 0) for r in results if "final" in r for p in r["final"]["positions"])
    finally:
        stop.set()
        sampler.join()
        server.stop()
    refused = JOBS - done
    reasons = sorted({str(r.get('error')) for r in results if 'refused' in r})
    print(f"\nload: {JOBS} uploads+jobs, 2 workers: {done} done, {refused} refused, {elapsed:.1f} s, "
          f"peak memory of the server's process tree {peak[0]:.0f} MB, largest queue position seen {waited}" + (f"; refused: {reasons}" if reasons else ""))
    assert done + refused == JOBS and done >= JOBS // 2
    assert len({v for v in videos.values()}) == done  # every job its own video (seeds differ)
    assert all(v[4:8] == b"ftyp" for v in videos.values())
    assert waited >= 2  # some jobs waited behind others, and the stream said where they stood
    assert elapsed < TIME_LIMIT_S
    assert peak[0] < MEMORY_LIMIT_MB
    leftover = [p for p in (tmp_path / "data").rglob("*.part")]
    assert not leftover, leftover
