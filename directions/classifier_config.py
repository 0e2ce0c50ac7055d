"""The shipped classifier's folder and what its ``config.json`` says of its view sets, read without torch.

A view set is a list of crop shifts ``(dy, dx)`` from the centre, each seen with its horizontal mirror
(:mod:`directions.classifier`): ``"fast"`` = the config's ``tta_offsets`` (default the centre only),
``"accurate"`` = its ``accurate_offsets`` and the extra networks of ``accurate_members``, falling back to
the fast set where the config has none. ``facelatent classify --help`` reads them from here.
"""

from __future__ import annotations

from pathlib import Path

from inversion.common.errors import FaceLatentError

#: Where the shipped classifier lives (weights.pt, config.json, MODEL_CARD.md).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "classifier"

#: Test-time view sets: name → the config key holding its crop shifts.
VIEW_SETS = {"fast": "tta_offsets", "accurate": "accurate_offsets"}


def view_offsets(config: dict, views: str = "fast") -> tuple[str, list[tuple[int, int]]]:
    """``(name of the set used, its crop shifts (dy, dx))`` for ``views`` in :data:`VIEW_SETS`.

    "accurate" falls back to "fast" when the config has no ``accurate_offsets``; the fast set
    defaults to the centre only. Anything else raises :class:`FaceLatentError`.
    """
    if views not in VIEW_SETS:
        raise FaceLatentError(f"unknown classifier view set '{views}': choose one of {', '.join(VIEW_SETS)}")
    if VIEW_SETS[views] not in config:
        views = "fast"
    return views, [(int(o[0]), int(o[1])) for o in config.get(VIEW_SETS[views], [[0, 0]])]


def describe_view_sets(config: dict) -> dict[str, dict]:
    """What a model folder's config says of each view set it has: ``{name: {"views": V, "accuracy":
    PrivateTest accuracy or None, "ms_per_face": measured at export or None}}`` (fast first)."""
    out = {}
    for name, metrics_key in (("fast", "metrics"), ("accurate", "metrics_accurate")):
        if name == "accurate" and VIEW_SETS[name] not in config:
            continue
        private = config.get(metrics_key, {}).get("PrivateTest", {})
        out[name] = {"views": 2 * len(view_offsets(config, name)[1]), "networks": len(view_members(config, name)) + 1,
                     "accuracy": private.get("accuracy"), "ms_per_face": config.get("ms_per_face", {}).get(name)}
    return out


def view_members(config: dict, views: str) -> list[dict]:
    """The extra networks (``{"weights": file name, "arch": {…}}``) a view set averages with weights.pt:
    the config's ``accurate_members`` for the accurate set (when it has ``accurate_offsets``), none else."""
    if views != "accurate" or VIEW_SETS["accurate"] not in config:
        return []
    return list(config.get("accurate_members", []))
