"""Wrinkle lines: where they lie, how far the skin across them is compressed, and that nothing shows at rest."""

from __future__ import annotations

import numpy as np

from directions.expression_basis import load_default
from editor.creases import LINE_MAX, Crease, compression_across, crease_darkening, face_creases, line_mask
from editor.emotion_spec import parse_emotion_spec
from editor.keypoint_warp import combine_fields
from editor.warp_compositor import WarpCompositor
from editor.warp_pipeline import SKIN_CARRY, carry_skin, plan_warp_faces

BOX = (0, 0, 120, 100)
MODEL = load_default()


def face_landmarks(centre=(120.0, 110.0), scale=70.0):
    """The expression model's neutral mean shape as a face ``scale`` px between the outer eye corners."""
    return MODEL.mean_shape * scale + np.asarray(centre)


def squeeze_x(box, centre_x: float, amount: float) -> np.ndarray:
    """A forward field ``[h, w, 2]`` over ``box`` pulling every point towards x = centre_x by ``amount`` of
    its distance: the skin is compressed across any vertical line by ``amount``, along it not at all."""
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1, dtype=np.float32)[None, :].repeat(y1 - y0, axis=0)
    return np.stack([-amount * (xs - centre_x), np.zeros_like(xs)], axis=-1)


def squeeze_y(box, centre_y: float, amount: float) -> np.ndarray:
    """As :func:`squeeze_x`, towards the row y = centre_y: compressed across any horizontal line."""
    return squeeze_x((box[1], box[0], box[3], box[2]), centre_y, amount).transpose(1, 0, 2)[..., ::-1]


def test_a_line_mask_peaks_on_the_line_tapers_to_its_ends_and_is_zero_away_from_it():
    mask = line_mask(np.array([[20.0, 50.0], [100.0, 50.0]]), BOX, sigma=1.5)
    assert mask.dtype == np.float32 and mask.shape == (100, 120)
    assert mask[50, 60] > 0.95  # the middle of the line
    assert mask[50, 60] > mask[50, 30] > mask[50, 22] > 0  # tapering towards an end
    assert mask[53, 60] < 0.2 * mask[50, 60]  # two sigmas across
    assert mask[50, 10] == 0 and mask[70, 60] < 1e-6  # beyond the end, far across


def test_compression_across_a_line_is_read_across_it_not_along_it():
    field = squeeze_x(BOX, 60.0, 0.2)
    nowhere = (np.zeros((0, 0), np.float32), slice(0, 0), slice(0, 0))
    vertical = Crease("v", *nowhere, np.array([[60.0, y] for y in (30, 40, 50)]), np.array([1.0, 0.0]), span=3.0)
    horizontal = Crease("h", *nowhere, np.array([[x, 50.0] for x in (40, 60, 80)]), np.array([0.0, 1.0]), span=3.0)
    assert abs(compression_across(vertical, field, BOX) - 0.2) < 1e-4
    assert abs(compression_across(horizontal, field, BOX)) < 1e-6
    stretch = squeeze_x(BOX, 60.0, -0.3)  # pulled apart: negative compression, no line
    assert compression_across(vertical, stretch, BOX) < 0


def test_lines_show_only_where_the_skin_across_them_is_compressed_and_never_beyond_the_bound():
    lm = face_landmarks(centre=(120.0, 120.0), scale=70.0)
    box = (0, 0, 240, 260)
    creases = face_creases(lm, box)
    assert {c.name for c in creases} == {"nose root", "nasolabial", "crow's feet"}
    rest = crease_darkening(creases, np.zeros((260, 240, 2), np.float32), box)
    assert not rest.any()  # nothing drawn at rest
    nose_root = sum(c.over_box((260, 240)) for c in creases if c.name == "nose root")
    brows_down = crease_darkening(creases, squeeze_y(box, float(lm[27, 1]), 0.5), box)
    assert 0 < brows_down.max() <= LINE_MAX + 1e-6
    assert brows_down[nose_root > 0.9].min() > 0.5 * LINE_MAX  # across them: squeezed
    sideways = crease_darkening(creases, squeeze_x(box, float(lm[27, 0]), 0.5), box)
    assert sideways[nose_root > 0.9].max() < 0.05  # along them: not


def test_the_nose_roots_skin_follows_a_share_of_inner_brows_that_come_down_not_of_brows_that_rise():
    lm = face_landmarks()
    regions = np.zeros((3, 68, 2))
    regions[0, [21, 22]] = [[1.0, 4.0], [-1.0, 4.0]]  # inner brows down and together
    regions[2, 57] = [0.0, 3.0]
    carried = carry_skin(regions, lm)
    for point, (_, share) in SKIN_CARRY.items():
        assert np.allclose(carried[0, point], [0.0, 4.0 * share])
        assert np.allclose(carried[1:, point], 0.0)
    untouched = [i for i in range(68) if i not in SKIN_CARRY]
    assert np.array_equal(carried[:, untouched], regions[:, untouched])
    regions[0, [21, 22]] *= -1.0  # raised: the nose root stays
    assert np.array_equal(carry_skin(regions, lm), regions)


def test_an_angry_face_gets_lines_at_its_nose_root_and_a_still_face_none():
    photo = np.full((260, 240, 3), 170, np.uint8)  # flat skin: any darkening is a crease
    lm = face_landmarks()
    faces = plan_warp_faces(photo, [lm], MODEL, parse_emotion_spec("anger"), seed=3, duration=2.0, fps=15,
                            intensity=0.7)
    face = faces[0]
    last = len(face.plan.times) - 1
    forward = combine_fields(face.fields, face.plan.coefficients[last])
    lines = crease_darkening(list(face.creases), forward, face.basis.box)
    nose_root = [c for c in face.creases if c.name == "nose root"][0].over_box(forward.shape[:2])
    assert lines[nose_root > 0.9].max() > 0.05
    frame = WarpCompositor(photo, faces).frame(last)
    x0, y0 = face.basis.box[:2]
    ys, xs = np.nonzero(nose_root > 0.9)
    assert frame[ys.mean().astype(int) + y0 - 3:ys.mean().astype(int) + y0 + 4, int(xs.mean()) + x0].min() < 165
    assert np.array_equal(WarpCompositor(photo, faces).frame(0), photo)
