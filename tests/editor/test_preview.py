"""Contact sheets: layout, labels, resizing, streaming collection and atomic PNG writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from editor.preview import PreviewCollector, contact_sheet, preview_indices, write_png
from inversion.common.errors import FaceLatentError


def solid(value: int, h: int = 30, w: int = 40) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_indices_spread_over_clip():
    assert preview_indices(120, 8) == [0, 17, 34, 51, 68, 85, 102, 119]
    assert preview_indices(3, 8) == [0, 1, 2]
    assert preview_indices(10, 1) == [0]
    assert preview_indices(0, 4) == []


def test_grid_layout_without_labels():
    frames = [solid(v) for v in (10, 50, 90, 130, 170)]
    sheet = contact_sheet(frames, columns=3, gap=2)
    assert sheet.shape == (2 * 30 + 2, 3 * 40 + 2 * 2, 3) and sheet.dtype == np.uint8
    assert (sheet[:30, :40] == 10).all() and (sheet[:30, 42:82] == 50).all()
    assert (sheet[32:, 42:82] == 170).all()
    assert (sheet[32:, 84:] == 0).all()  # the empty sixth cell
    assert (sheet[30:32] == 0).all()  # the gap


def test_labels_and_resize():
    frames = [(i, solid(200, 60, 80)) for i in (0, 59, 119)]
    sheet = contact_sheet(frames, columns=3, tile_width=40, gap=0)
    assert sheet.shape == (30, 120, 3)
    tile = sheet[:, :40]
    assert (tile[:8, :10] < 200).any()  # a label box sits in the corner
    assert (tile[-5:, -5:] == 200).all()  # the rest of the tile is the frame
    with pytest.raises(ValueError):
        contact_sheet([solid(1)], labels=["a", "b"])
    with pytest.raises(ValueError):
        contact_sheet([])
    with pytest.raises(TypeError):
        contact_sheet([np.zeros((4, 4, 3), np.float32)])


def test_collector_keeps_only_chosen_frames_and_writes_png(tmp_path):
    collector = PreviewCollector(num_frames=30, count=4, fps=60)
    for i in range(30):
        collector.offer(i, solid(i * 8))
    assert sorted(collector.kept) == [0, 10, 19, 29]
    path = collector.write(tmp_path / "sheet.png", columns=2)
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]
    back = np.asarray(Image.open(path))
    assert back.shape == (2 * 30 + 4, 2 * 40 + 4, 3)
    assert back[-1, -1, 0] == 29 * 8  # the last frame, bottom right


def test_write_png_errors_leave_nothing(tmp_path):
    with pytest.raises(FaceLatentError):
        write_png(tmp_path / "missing" / "x.png", solid(1))
    with pytest.raises(TypeError):
        write_png(tmp_path / "x.png", np.zeros((4, 4, 3), np.float64))
    assert list(tmp_path.iterdir()) == []
