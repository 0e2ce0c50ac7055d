"""Follow faces from one sample of a video (or camera) to the next by box overlap.

Boxes are ``[x0, y0, x1, y1]`` pixels. Each face of a sample takes the id of the previous sample's
face it overlaps most (intersection over union at least :data:`MIN_IOU`, each id used once, the
best overlaps matched first); a face that matches none gets a new id (0, 1, 2, ... in order).

Example::

    >>> tracker = FaceTracker()
    >>> tracker.assign([[0, 0, 10, 10], [20, 0, 30, 10]])
    [0, 1]
    >>> tracker.assign([[21, 0, 31, 10], [50, 50, 60, 60]])
    [1, 2]
"""

from __future__ import annotations

from typing import Sequence

from inversion.faces.landmarks import box_iou

#: The least overlap (IoU) for a face to keep the id of a face of the previous sample.
MIN_IOU = 0.3


def assign_ids(boxes: Sequence, previous: dict[int, Sequence], next_id: int) -> tuple[list[int], int]:
    """(An id per box, the next free id): ids of ``previous`` ({id: box}) by overlap, else new ones."""
    pairs = sorted(((box_iou(box, old), fi, tid) for fi, box in enumerate(boxes) for tid, old in previous.items()),
                   reverse=True)
    ids: dict[int, int] = {}
    used_ids = set()
    for score, fi, tid in pairs:
        if score >= MIN_IOU and fi not in ids and tid not in used_ids:
            ids[fi] = tid
            used_ids.add(tid)
    for fi in range(len(boxes)):
        if fi not in ids:
            ids[fi] = next_id
            next_id += 1
    return [ids[fi] for fi in range(len(boxes))], next_id


class FaceTracker:
    """Ids for the faces of successive samples (see the module docstring)."""

    def __init__(self) -> None:
        self.tracks: dict[int, Sequence] = {}
        self.next_id = 0

    def assign(self, boxes: Sequence) -> list[int]:
        """The ids of this sample's ``boxes``; they become the faces the next sample is matched to."""
        ids, self.next_id = assign_ids(boxes, self.tracks, self.next_id)
        self.tracks = {i: box for i, box in zip(ids, boxes)}
        return ids
