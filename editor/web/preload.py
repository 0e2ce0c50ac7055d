"""Imported once by the process that forks the workers (local forkserver, RQ worker): loads the
pipeline's modules and the weights every job needs (MTCNN, dlib's 68-point predictor, the expression
basis), so a forked job starts warm instead of spending seconds loading them. Nothing here runs a
network or starts threads (forking stays safe); a weight that cannot be loaded is left for the job
to report, in its own one-line error.
"""

from __future__ import annotations

import contextlib

import torch

torch.set_num_threads(1)  # no thread pool in the process that forks (jobs set their own threads)

import editor.pipeline  # noqa: F401, E402
import editor.warp_pipeline  # noqa: F401, E402
import editor.web.jobs  # noqa: F401, E402
import inversion.faces.detection  # noqa: F401, E402

with contextlib.suppress(Exception):
    from inversion.faces.mtcnn import load_mtcnn
    load_mtcnn()
with contextlib.suppress(Exception):
    from inversion.faces.landmarks import load_shape_predictor
    load_shape_predictor()
with contextlib.suppress(Exception):
    from directions.expression_basis import load_default
    load_default()
