"""FER+ votes: reading, vote distributions, aligning them to the shared CSV's rows, mixed targets."""

from __future__ import annotations

import numpy as np
import pytest

from directions.emotions import EMOTIONS
from directions.fer2013 import (FERPLUS_COLUMN_OF_EMOTION, FERPLUS_COLUMNS, FaceDataset, FerPlusVotes,
                                align_ferplus, alignment_agreement, ferplus_targets, read_fer2013,
                                read_ferplus_votes)
from inversion.common.errors import FaceLatentError, ImageReadError

NF = FERPLUS_COLUMNS.index("NF")


def _synthetic(n: int = 400, seed: int = 0):
    """An 'original' file of n rows with votes that mostly agree with the labels; every 37th row is a
    non-face (all NF votes). Returns (labels, usage, votes) in the original order."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    usage = np.array(["Training"] * (n - 100) + ["PublicTest"] * 50 + ["PrivateTest"] * 50)
    counts = np.zeros((n, len(FERPLUS_COLUMNS)), dtype=np.int64)
    for i, label in enumerate(labels):
        agree = rng.random() < 0.75
        col = FERPLUS_COLUMN_OF_EMOTION[label if agree else rng.integers(0, 7)]
        counts[i, col] = 7
        counts[i, rng.integers(0, 9)] += 3
    counts[::37] = 0
    counts[::37, NF] = 10
    return labels, usage, FerPlusVotes(usage.copy(), counts)


def test_read_votes_and_distributions(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("Usage,Image name," + ",".join(FERPLUS_COLUMNS) + "\n"
                    "Training,fer0.png,4,0,0,1,3,2,0,0,0,0\n"
                    "Training,,0,0,0,0,0,0,0,0,0,10\n"
                    "PublicTest,fer2.png,0,5,0,0,0,0,0,3,2,0\n")
    votes = read_ferplus_votes(path)
    assert votes.usage.tolist() == ["Training", "Training", "PublicTest"] and votes.counts.shape == (3, 10)
    dist, usable = votes.distributions()
    assert usable.tolist() == [True, False, True]
    expected = {"neutral": 0.4, "sadness": 0.1, "anger": 0.3, "disgust": 0.2}
    np.testing.assert_allclose(dist[0], [expected.get(e, 0.0) for e in EMOTIONS], atol=1e-6)
    assert dist[1].sum() == 0
    # contempt and unknown dropped, the rest renormalised: all of row 2 is joy
    np.testing.assert_allclose(dist[2], np.eye(7)[EMOTIONS.index("joy")], atol=1e-6)


@pytest.mark.parametrize("content, message", [
    ("a,b,c\n", r"not a FER\+ vote CSV"),
    ("Usage,Image name," + ",".join(FERPLUS_COLUMNS) + "\nTraining,x,1,2,3,4,5,6,7,8,9,q\n", "non-integer"),
    ("Usage,Image name," + ",".join(FERPLUS_COLUMNS) + "\nTraining,x,1,2\n", "2 vote columns"),
    ("Usage,Image name," + ",".join(FERPLUS_COLUMNS) + "\n", "no rows"),
])
def test_bad_vote_files_raise_one_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ImageReadError, match=message) as info:
        read_ferplus_votes(path)
    assert "\n" not in str(info.value)
    with pytest.raises(ImageReadError, match="no such file"):
        read_ferplus_votes(tmp_path / "absent.csv")


def test_alignment_recovers_moved_missing_and_extra_rows():
    """Non-face rows moved to the end, one face row missing, one foreign row inserted: every kept row
    finds its own vote row; the appended and the foreign row stay unplaced."""
    labels, usage, votes = _synthetic()
    non_face = np.flatnonzero(votes.counts[:, NF] == 10)
    missing = 123
    kept = np.setdiff1d(np.arange(len(labels)), np.concatenate([non_face, [missing]]))
    order = np.concatenate([kept[:200], [-1], kept[200:], non_face])  # -1: a foreign row
    new_labels = np.where(order >= 0, labels[np.maximum(order, 0)], 3)
    new_usage = np.where(order >= 0, usage[np.maximum(order, 0)], "Training")
    data = FaceDataset(np.zeros((len(order), 48, 48), np.uint8), new_labels, new_usage)
    placed = align_ferplus(data, votes)
    expected = np.where(np.arange(len(order)) < len(kept) + 1, order, -1)
    np.testing.assert_array_equal(placed, expected)
    assert alignment_agreement(data.labels, votes, placed) > 0.7
    assert alignment_agreement(data.labels, votes, placed, shift=1) < 0.35


def test_targets_mix_votes_and_keep_one_hot_elsewhere():
    labels, usage, votes = _synthetic(200)
    data = FaceDataset(np.zeros((200, 48, 48), np.uint8), labels, usage)
    targets, soft = ferplus_targets(data, votes, 0.4)
    dist, usable = votes.distributions()
    np.testing.assert_allclose(targets.sum(1), 1, atol=1e-6)
    assert soft.tolist() == usable.tolist()
    np.testing.assert_allclose(targets[~soft], np.eye(7)[labels[~soft]])
    np.testing.assert_allclose(targets[soft], 0.6 * np.eye(7)[labels[soft]] + 0.4 * dist[soft], atol=1e-6)
    assert (targets.argmax(1) == labels).all()  # weight <= 0.5 keeps the original label on top
    with pytest.raises(FaceLatentError, match="mixing weight"):
        ferplus_targets(data, votes, 1.5)


def test_alignment_on_the_shared_files(shared):
    """The shared CSV against the FER+ vote file: labels agree with the vote majority far above the
    rate of a one-row shift, in every stretch of the file; the appended rows are FER+'s non-faces."""
    data = read_fer2013(shared("data", "fer2013", "fer2013.csv.gz"))
    votes = read_ferplus_votes(shared("data", "fer2013", "ferplus_votes.csv"))
    placed = align_ferplus(data, votes)
    head = 35710  # the rows before the appended block (Training rows after PrivateTest)
    assert (placed[:head] >= 0).all() and (placed[head:] == -1).all()
    assert len(np.unique(placed[:head])) == head and (np.diff(placed[:head]) > 0).all()
    assert (votes.usage[placed[:head]] == data.usage[:head]).all()
    assert alignment_agreement(data.labels, votes, placed) > 0.6
    for shift in (-1, 1):
        assert alignment_agreement(data.labels, votes, placed, shift) < 0.25
    for start in range(0, head, 5000):  # no stretch is misaligned
        part = np.where(np.arange(len(data)) // 5000 == start // 5000, placed, -1)
        assert alignment_agreement(data.labels, votes, part) > 0.55
    free = np.setdiff1d(np.arange(len(votes)), placed)
    appended = data.usage[head:]
    non_face = votes.counts[free, NF] * 2 > votes.counts[free].sum(1)
    for split in ("Training", "PublicTest", "PrivateTest"):  # one vote row per appended row, but one
        in_split = votes.usage[free] == split
        assert in_split.sum() - (appended == split).sum() == (1 if split == "Training" else 0)
        assert non_face[in_split].mean() > 0.9
