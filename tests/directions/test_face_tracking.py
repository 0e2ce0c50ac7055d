"""directions.face_tracking: ids follow faces from sample to sample by box overlap."""

from __future__ import annotations

from directions.face_tracking import MIN_IOU, FaceTracker, assign_ids


def test_ids_follow_the_best_overlap_and_new_faces_get_new_ids():
    tracker = FaceTracker()
    assert tracker.assign([[0, 0, 10, 10], [20, 0, 30, 10]]) == [0, 1]
    # Listed in the other order and moved a little: each keeps its id.
    assert tracker.assign([[21, 0, 31, 10], [1, 0, 11, 10]]) == [1, 0]
    # Face 0 left, a new face came: the new one gets id 2, face 1 keeps its id.
    assert tracker.assign([[50, 50, 60, 60], [22, 0, 32, 10]]) == [2, 1]
    assert tracker.assign([]) == [] and tracker.assign([[22, 0, 32, 10]]) == [3]


def test_an_overlap_below_the_threshold_is_a_new_face_and_ids_are_used_once():
    previous = {4: [0, 0, 10, 10]}
    far = [[8, 0, 18, 10]]  # IoU 2/18 < MIN_IOU
    assert MIN_IOU > 2 / 18 and assign_ids(far, previous, 5) == ([5], 6)
    # Two faces over one old face: the better overlap keeps the id, the other is new.
    assert assign_ids([[2, 0, 12, 10], [1, 0, 11, 10]], previous, 5) == ([5, 4], 6)
