"""``facelatent serve`` (the web app) and ``facelatent worker`` (runs its jobs from a Redis broker).

``serve`` runs the page and JSON API of :mod:`editor.web.server` under uvicorn on 127.0.0.1:8000. Without
``--broker`` it runs the jobs itself in ``--workers`` local processes; with ``--broker redis://…`` the
web front runs alone and ``facelatent worker`` processes, on this or other machines, run the jobs from
that Redis (RQ). Front and workers share the ``--data`` folder (uploads, job states, videos).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from editor.cli.common import handle_user_errors, info
from inversion.common.errors import FaceLatentError

LOOPBACK = ("127.0.0.1", "localhost", "::1")

DataOption = Annotated[Path, typer.Option("--data", help="Folder for uploads, job states and videos "
                       "(made if missing). With --broker it must be shared by the front and every worker.")]
BrokerOption = Annotated[Optional[str], typer.Option("--broker", help="Redis URL such as redis://HOST:6379/0: "
                         "jobs go to its RQ queue 'facelatent' for `facelatent worker` processes.")]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker)


def _check_broker(broker: Optional[str]) -> None:
    if broker is not None and not broker.startswith(("redis://", "rediss://", "unix://")):
        raise FaceLatentError(f"--broker {broker}: give a Redis URL such as redis://127.0.0.1:6379/0")


@handle_user_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on. The default is this machine "
                    "only; 0.0.0.0 lets anyone on the network use it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Jobs run at once in local "
                       "processes (without --broker); further jobs wait in the queue.")] = 2,
    data: DataOption = Path("facelatent-data"),
    broker: BrokerOption = None,
    retention: Annotated[float, typer.Option("--retention", min=0.01, help="Hours that uploads and "
                         "results are kept.")] = 24.0,
    max_mb: Annotated[float, typer.Option("--max-mb", min=0.1, help="Largest upload, in MB.")] = 20.0,
    max_megapixels: Annotated[float, typer.Option("--max-megapixels", min=0.1, help="Largest photo, in "
                              "megapixels.")] = 40.0,
) -> None:
    """Run the web app: upload a photo, pick faces and an emotion, watch progress, play or download."""
    import uvicorn  # noqa: PLC0415

    from editor.web.server import Settings, create_app  # noqa: PLC0415

    _check_broker(broker)
    settings = Settings(data=data.resolve(), workers=workers, broker=broker, retention_s=retention * 3600,
                        max_bytes=int(max_mb * 1024 * 1024), max_pixels=int(max_megapixels * 1e6))
    app = create_app(settings)
    if host not in LOOPBACK:
        info(f"warning: listening on {host}: anyone who can reach this machine on port {port} can upload "
             "photos and run jobs (there is no login)")
    where = f"jobs on the broker {broker} (start `facelatent worker --broker {broker} --data DIR`)" if broker \
        else f"{workers} local worker process(es)"
    info(f"facelatent serve: http://{'[' + host + ']' if ':' in host else host}:{port}/ , data in "
         f"{settings.data}, {where}; Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


@handle_user_errors
def worker(
    broker: Annotated[str, typer.Option("--broker", help="Redis URL of the queue, as given to "
                      "`facelatent serve --broker`.")],
    data: DataOption = Path("facelatent-data"),
    burst: Annotated[bool, typer.Option("--burst", help="Stop when the queue is empty.")] = False,
) -> None:
    """Run jobs of `facelatent serve --broker` from the Redis queue; start as many as you like, anywhere."""
    from editor.web.queues import run_worker  # noqa: PLC0415

    _check_broker(broker)
    info(f"facelatent worker: jobs from {broker}, data in {data.resolve()}; Ctrl-C stops")
    run_worker(broker, str(data.resolve()), burst=burst)
