"""A worker's job on its own, in a fresh interpreter: upload, detection and the warp, without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import ASTRONAUT

#: Run in a fresh interpreter: what a forked worker has loaded (the preload), then one upload and one job
#: as the front and the worker make them; prints the job's status, its video's size and whether torch came in.
WORKER = """
import json, shutil, sys, tempfile
from pathlib import Path
import editor.web.preload
from editor.web.jobs import run_job
from editor.web.photos import save_upload
from editor.web.store import Store
data = Path(sys.argv[1])
store = Store(data)
received = Path(tempfile.mkdtemp(dir=data)) / "upload"
shutil.copy(sys.argv[2], received)
photo = save_upload(store, received)
job = store.create_job({"photo": photo["id"], "faces": [0], "emotion": "surprise", "blend_with": None,
                        "blend": 0.5, "intensity": 0.7, "duration": 2.0, "fps": 10.0, "seed": 4})
status = run_job(str(data), job)
video = store.video(job)
print(json.dumps({"status": status, "bytes": video.stat().st_size if video else 0,
                  "error": store.state(job).get("error"), "torch": "torch" in sys.modules}))
"""


def test_a_worker_runs_a_job_without_importing_torch(tmp_path: Path):
    # The web app animates with the embedded default: its jobs run the warp, which needs neither a
    # generator nor torch, so a worker process does not pay torch's start-up and memory.
    data = tmp_path / "data"
    data.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", WORKER, str(data), str(ASTRONAUT)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "done", report
    assert report["bytes"] > 10_000
    assert report["torch"] is False
