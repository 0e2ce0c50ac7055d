"""Imported once by the process that forks the workers (local forkserver, RQ worker): loads the
modules a job runs (the warp, detection; no torch: the web app's jobs use the warp motion model) and the
weights every job needs (MTCNN, dlib's 68-point predictor, the expression basis), so a forked job starts
warm instead of spending seconds loading them. Nothing here runs a network or starts threads (forking
stays safe); a weight that cannot be loaded is left for the job to report, in its own one-line error.
"""

from __future__ import annotations

import contextlib

import editor.warp_pipeline  # noqa: F401
import editor.web.jobs  # noqa: F401
import inversion.faces.detection  # noqa: F401

with contextlib.suppress(Exception):
    from inversion.faces.mtcnn import load_mtcnn
    load_mtcnn()
with contextlib.suppress(Exception):
    from inversion.faces.landmarks import load_shape_predictor
    load_shape_predictor()
with contextlib.suppress(Exception):
    from directions.expression_basis import load_default
    load_default()
