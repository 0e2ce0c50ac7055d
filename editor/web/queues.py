"""Where jobs run: local worker processes, or RQ on Redis for many machines.

Both run :func:`editor.web.jobs.run_job` on a job id and report through the data folder, so the web
front reads a job's state the same way in both.

* :class:`LocalQueue` (``facelatent serve`` without ``--broker``): up to ``workers`` jobs at a time,
  each in its own process forked from a ``forkserver`` that has loaded the pipeline and its weights
  once (:mod:`editor.web.preload`: a job starts warm, not after the seconds the weights take); further
  jobs wait in order. No service to install for one machine. A job whose process dies (killed, out of
  memory) ends failed; on restart, jobs that were queued are queued again and jobs that were running
  end failed.
* :class:`RedisQueue` (``--broker redis://HOST:PORT/DB``): the jobs go to the RQ queue
  ``facelatent`` and ``facelatent worker --broker … --data …`` processes on any machine run them. RQ
  marks a job whose work horse died as failed; :meth:`RedisQueue.reconcile` carries that into the
  job's state. The data folder must be shared (NFS, SMB...) by the front and every worker.
"""

from __future__ import annotations

import collections
import multiprocessing
import threading
import time
from typing import Optional

from editor.web.store import FINAL, Store
from inversion.common.errors import FaceLatentError

QUEUE_NAME = "facelatent"
#: RQ: the longest a job may run, and how long RQ keeps its record (seconds).
JOB_TIMEOUT = 1800
RECORD_TTL = 7 * 24 * 3600


class LocalQueue:
    """``workers`` forked processes at a time, fed in order by a dispatcher thread."""

    def __init__(self, store: Store, workers: int):
        if workers < 1:
            raise FaceLatentError(f"--workers must be at least 1, got {workers}")
        self.store, self.workers = store, workers
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["editor.web.preload"])
        self._pending: collections.deque[str] = collections.deque()
        self._running: dict[str, multiprocessing.process.BaseProcess] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Queue again what was queued before a restart, fail what was running, start dispatching."""
        for _, job_id, state in self.store.unfinished_jobs():
            if state.get("status") == "running":
                self.store.fail(job_id, "the server stopped while this job was running: generate it again")
            else:
                self._pending.append(job_id)
        self._thread = threading.Thread(target=self._dispatch, name="facelatent-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop dispatching; running jobs are stopped and queued again (they run after a restart)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for job_id, process in list(self._running.items()):
                process.terminate()
                process.join(timeout=5)
                if process.is_alive():
                    process.kill()
                    process.join()
                for part in (self.store.jobs / job_id).glob(".*.part*"):
                    part.unlink(missing_ok=True)
                self.store.set_state(job_id, status="queued", stage="queued", done=0, total=0)
            self._running.clear()

    def submit(self, job_id: str) -> None:
        with self._lock:
            self._pending.append(job_id)

    def position(self, job_id: str) -> Optional[int]:
        """1 for the next job to start, 2 for the one after...; 0 when running; None otherwise."""
        with self._lock:
            if job_id in self._running:
                return 0
            try:
                return self._pending.index(job_id) + 1
            except ValueError:
                return None

    def reconcile(self, job_id: str, state: dict) -> dict:
        return state  # the dispatcher fails a job whose process died, as soon as it sees it

    def _dispatch(self) -> None:
        from multiprocessing import forkserver  # noqa: PLC0415

        from editor.web.jobs import run_job  # noqa: PLC0415
        forkserver.ensure_running()  # load the pipeline now, not when the first job comes
        while not self._stop.is_set():
            with self._lock:
                self._reap()
                ready = len(self._running) < self.workers and bool(self._pending)
                job_id = self._pending.popleft() if ready else None
            if job_id is None:
                self._stop.wait(0.1)
                continue
            process = self._context.Process(target=run_job, args=(str(self.store.root), job_id),
                                            name=f"facelatent-job-{job_id[:8]}", daemon=True)
            process.start()  # outside the lock: submit() and position() never wait for a fork
            with self._lock:
                self._running[job_id] = process

    def _reap(self) -> None:
        for job_id, process in list(self._running.items()):
            if process.is_alive():
                continue
            process.join()
            del self._running[job_id]
            state = self.store.state(job_id)
            if state is not None and state.get("status") not in FINAL:
                self.store.fail(job_id, f"the worker process stopped unexpectedly (exit code {process.exitcode}) "
                                        "before the video was finished: generate it again")


class RedisQueue:
    """Jobs on the RQ queue ``facelatent`` of the Redis at ``url``."""

    def __init__(self, store: Store, url: str):
        from redis import Redis  # noqa: PLC0415
        from redis.exceptions import RedisError  # noqa: PLC0415
        from rq import Queue  # noqa: PLC0415

        self.store, self.url = store, url
        try:
            self.redis = Redis.from_url(url, socket_connect_timeout=5)
            self.redis.ping()
        except (RedisError, ValueError) as err:
            raise FaceLatentError(f"--broker {url}: cannot reach Redis ({' '.join(str(err).split())})") from None
        self.queue = Queue(QUEUE_NAME, connection=self.redis)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self.redis.close()

    def submit(self, job_id: str) -> None:
        self.queue.enqueue("editor.web.jobs.run_queued", job_id, job_id=job_id, job_timeout=JOB_TIMEOUT,
                           result_ttl=RECORD_TTL, failure_ttl=RECORD_TTL, description=f"facelatent job {job_id}")

    def _job(self, job_id: str):
        from rq.exceptions import NoSuchJobError  # noqa: PLC0415
        from rq.job import Job  # noqa: PLC0415
        try:
            return Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            return None

    def position(self, job_id: str) -> Optional[int]:
        job = self._job(job_id)
        if job is None:
            return None
        index = job.get_position()
        if index is not None:
            return index + 1
        return 0 if job.get_status() == "started" else None

    def reconcile(self, job_id: str, state: dict) -> dict:
        """Carry RQ's verdict into an unfinished job's state: a job RQ lost or saw fail ends failed."""
        if state.get("status") in FINAL:
            return state
        job = self._job(job_id)
        if job is None:
            return self.store.fail(job_id, "the queue lost this job (Redis was reset?): generate it again")
        status = job.get_status(refresh=True)
        status = str(getattr(status, "value", status))
        if status in ("failed", "stopped", "canceled"):
            fresh = self.store.state(job_id) or state  # the job may have ended between the two reads
            if fresh.get("status") in FINAL:
                return fresh
            lines = [line for line in (job.exc_info or "").strip().splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else status
            return self.store.fail(job_id, f"the worker stopped before the video was finished ({reason}): "
                                           "generate it again")
        return state


def run_worker(url: str, data: str, burst: bool = False) -> None:
    """``facelatent worker``: run jobs from the broker's ``facelatent`` queue, forever (or until empty)."""
    from redis import Redis  # noqa: PLC0415
    from redis.exceptions import RedisError  # noqa: PLC0415
    from rq import Queue, Worker  # noqa: PLC0415

    import editor.web.jobs as jobs  # noqa: PLC0415
    import editor.web.preload  # noqa: F401, PLC0415 - loaded before forking, so work horses start warm

    Store(data)  # the data folder must exist (shared with the front)
    jobs.WORKER_DATA = str(data)
    try:
        redis = Redis.from_url(url, socket_connect_timeout=5)
        redis.ping()
    except (RedisError, ValueError) as err:
        raise FaceLatentError(f"--broker {url}: cannot reach Redis ({' '.join(str(err).split())})") from None
    worker = Worker([Queue(QUEUE_NAME, connection=redis)], connection=redis, job_monitoring_interval=5)
    worker.work(burst=burst, logging_level="WARNING")
