"""``facelatent serve``: a web app (FastAPI) over the animate pipeline, with jobs on a queue.

* :mod:`editor.web.store` — the data folder: uploads, jobs, their state files, retention.
* :mod:`editor.web.photos` — checking an upload (size, pixels, format, decoding) and detecting its faces.
* :mod:`editor.web.jobs` — the job function a worker runs (the pipeline, progress into the state file).
* :mod:`editor.web.queues` — where jobs run: local worker processes, or RQ on Redis (``--broker``).
* :mod:`editor.web.server` — the FastAPI app: the JSON API and the page (``static/``).
"""
