"""Helpers for the web tests: a free port, a running `facelatent serve`, the example photo."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
#: The CLI, as a command (the console script may not be on PATH).
FACELATENT = [sys.executable, "-c", "from editor.cli.app import main; main()"]
ASTRONAUT = REPO / "docs" / "examples" / "astronaut.jpg"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_job(client, job_id: str, until, timeout: float = 120.0) -> dict:
    """Poll ``/api/jobs/ID`` until ``until(view)`` holds; the last view. Fails the test after ``timeout`` s."""
    end = time.monotonic() + timeout
    view = None
    while time.monotonic() < end:
        view = client.get(f"/api/jobs/{job_id}").json()
        if until(view):
            return view
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached the state asked for: {view}")


def wait_for_url(url: str, timeout: float = 60.0, process=None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


class Server:
    """``facelatent serve`` in a subprocess on 127.0.0.1 (stopped with SIGINT, then killed)."""

    def __init__(self, data: Path, *args: str, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.log = open(log or data.parent / f"serve-{self.port}.log", "wb")
        self.process = subprocess.Popen([*FACELATENT, "serve", "--port", str(self.port),
                                         "--data", str(data), *args], cwd=REPO, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_url(self.url + "/api/config", process=self.process)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def astronaut_bytes() -> bytes:
    return ASTRONAUT.read_bytes()
