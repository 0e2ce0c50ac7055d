"""The animate pipeline's stages on the fixture generator, with labelled landmarks (no detector run)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from directions.random_rule import random_rule_directions
from editor.composite import touched_region
from editor.emotion_spec import parse_emotion_spec
from editor.animate_job import AnimateOptions
from editor.face_edit import crop_size_for, finish_faces, full_noise, prepare_face, render_latents
from editor.pipeline import direction_for, plan_paths
from editor.render import FrameCompositor, render_frames, uses_motion_transfer
from inversion.checkpoints import load_generator
from inversion.common.errors import FaceLatentError
from inversion.faces.detection import read_imglab_xml
from inversion.common.images import read_photo

PHOTO = "2008_001322.jpg"


@functools.lru_cache(maxsize=None)
def _load(path: str):
    return load_generator(path, "cpu")


@pytest.fixture
def generator(shared):
    return _load(str(shared("fixtures", "stylegan2-ada_64_random.pkl")))


def labelled_faces(shared, G, photo):
    """The photo's three faces from the labelled XML, prepared and given the generator's average latent."""
    labels = read_imglab_xml(shared("data", "photos", "training_with_face_landmarks.xml"))[PHOTO]
    labels = sorted(labels, key=lambda lab: lab.box[0] + lab.box[2])
    faces = [prepare_face(photo, i, lab.box, lab.landmarks, "ffhq", G.img_resolution) for i, lab in enumerate(labels)]
    for f in faces:
        f.latent = G.mapping.w_avg.reshape(1, -1).repeat(G.num_ws, 1).clone()
        f.noise = full_noise(G, None)
    finish_faces(G, faces)
    return faces


def test_crop_size_follows_the_face(shared, generator):
    photo = read_photo(shared("data", "photos", PHOTO))
    faces = labelled_faces(shared, generator, photo)
    for f in faces:
        assert generator.img_resolution <= f.crop_size <= 1024 and f.crop_size % 2 == 0
        assert f.photo_crop.shape == (f.crop_size, f.crop_size, 3)
    assert crop_size_for(faces[0].landmarks * 0.05, "ffhq", 64) == 64  # a tiny face: never below R
    assert crop_size_for(faces[0].landmarks * 40, "ffhq", 64) == 1024  # a huge one: capped


def test_batched_rendering_holds_noise_and_matches_single_renders(shared, generator):
    photo = read_photo(shared("data", "photos", PHOTO))
    faces = labelled_faces(shared, generator, photo)[:2]
    g1 = torch.Generator().manual_seed(1)
    faces[1].noise = {k: torch.randn(v.shape, generator=g1) for k, v in faces[1].noise.items()}
    finish_faces(generator, faces)
    g = torch.Generator().manual_seed(2)
    paths = [f.latent[None].repeat(7, 1, 1) + 0.3 * torch.randn(7, *f.latent.shape, generator=g) for f in faces]
    paths[0][3] = paths[0][0]  # the same latent twice gives the same image: noise is constant per face
    frames = list(render_frames(generator, faces, paths, chunk=3))
    assert len(frames) == 7 and all(len(fr) == 2 for fr in frames)
    assert np.array_equal(frames[0][0], frames[3][0])
    for k, f in enumerate(faces):
        single = render_latents(generator, paths[k][5:6], f.noise)
        expect = ((single[0].clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy()
        assert np.abs(frames[5][k].astype(float) - expect).max() <= 1
    assert not np.array_equal(frames[5][0], frames[5][1])
    import editor.render as render  # noqa: PLC0415  (calls of at most 2 images give the same frames)
    limit = render.MAX_BATCH_PIXELS
    try:
        render.MAX_BATCH_PIXELS = 2 * 64 * 64
        small = list(render_frames(generator, faces, paths, chunk=3))
    finally:
        render.MAX_BATCH_PIXELS = limit
    assert all(np.abs(a.astype(int) - b).max() <= 1 for fa, fb in zip(frames, small) for a, b in zip(fa, fb))


def test_compositor_keeps_far_pixels_and_starts_from_the_photo(shared, generator):
    photo = read_photo(shared("data", "photos", PHOTO))
    faces = labelled_faces(shared, generator, photo)
    assert all(uses_motion_transfer(generator, f) for f in faces)  # 64 px generator, faces of ~200 px crops
    head = np.tile(np.eye(3), (2, 1, 1))
    head[1, 0, 2] = 3.0  # frame 1: face 0 moved 3 px right
    compositor = FrameCompositor(generator, photo, faces, [head, None, None])
    still = compositor.frame(0, [f.reference for f in faces])
    moved = compositor.frame(1, [255 - f.reference for f in faces])
    touched = touched_region(photo.shape, compositor.layers)
    assert 0.05 < touched.mean() < 0.8
    assert np.array_equal(moved[~touched], photo[~touched])
    diff_still = np.abs(still.astype(int) - photo).mean()
    diff_moved = np.abs(moved.astype(int) - photo).mean()
    assert diff_still < 0.5 < diff_moved  # the unedited frame is the photo up to resampling


def test_paths_start_at_the_latent_and_faces_are_not_in_step(shared, generator):
    photo = read_photo(shared("data", "photos", PHOTO))
    faces = labelled_faces(shared, generator, photo)
    directions = random_rule_directions(generator)
    options = AnimateOptions(emotion=parse_emotion_spec("joy:0.7,surprise:0.3"), seed=4, duration=2, fps=30)
    motions, paths, heads = plan_paths(faces, directions, options)
    assert [p.shape for p in paths] == [(60, generator.num_ws, generator.w_dim)] * 3
    for face, path, head in zip(faces, paths, heads):
        assert torch.equal(path[0], face.latent) and np.allclose(head[0], np.eye(3))
        assert float((path[-1] - path[0]).norm()) > 0.3 * float(direction_for(directions, options.emotion).norm())
    halves = sorted(m.half_strength_time() for m in motions)
    assert min(np.diff(halves)) >= 0.05
    again = plan_paths(faces, directions, options)[1]
    assert all(torch.equal(a, b) for a, b in zip(paths, again))
    # The latent noise stays in the span of the emotion directions (identity is left alone).
    basis = torch.stack([directions.offset(e).reshape(-1) for e in directions.emotions]).double()
    q, _ = torch.linalg.qr(basis.T)
    edit = direction_for(directions, options.emotion).reshape(-1).double()
    residual = (paths[0] - paths[0][:1]).reshape(60, -1).double()
    outside = residual - (residual @ q) @ q.T
    assert float(outside.abs().max()) < 1e-4 and float(residual.abs().max()) > 0
    assert edit.norm() > 0


def test_missing_directions(generator):
    directions = random_rule_directions(generator)
    partial = type(directions)(generator=directions.generator, space=directions.space, num_ws=directions.num_ws,
                               w_dim=directions.w_dim, directions={"joy": directions.directions["joy"]})
    with pytest.raises(FaceLatentError, match="no direction for fear"):
        direction_for(partial, parse_emotion_spec("fear"))


def test_small_faces_are_pasted_colour_matched(shared, generator):
    import cv2  # noqa: PLC0415
    big = read_photo(shared("data", "photos", PHOTO))
    photo = cv2.resize(big, (150, 113), interpolation=cv2.INTER_AREA)  # faces of ~25 px: crops below 64 px
    faces = labelled_faces(shared, generator, big)
    scale = np.array([150 / 500, 113 / 375])
    small = [prepare_face(photo, f.index, tuple(np.array(f.box) * np.tile(scale, 2)), (f.landmarks + 0.5) * scale - 0.5,
                          "ffhq", 64) for f in faces]
    for f in small:
        f.latent, f.noise = faces[0].latent, faces[0].noise
    finish_faces(generator, small)
    assert all(f.crop_size == 64 and not uses_motion_transfer(generator, f) for f in small)
    compositor = FrameCompositor(generator, photo, small)
    assert all(c.layer.colour is not None for c in compositor.faces)
    frame = compositor.frame(0, [f.reference for f in small])
    touched = touched_region(photo.shape, compositor.layers)
    assert np.array_equal(frame[~touched], photo[~touched])
    assert np.abs(frame.astype(int) - photo)[touched].mean() > 1.0  # the generator's face replaced the photo's
    # Colour matching: the pasted faces' mean colour is the photo's own there, not the rendering's.
    inside = np.abs(frame.astype(int) - photo).max(axis=-1) > 0
    assert np.abs(frame[inside].mean(0) - photo[inside].mean(0)).max() < 25


def test_motion_transfer_residual_keeps_strong_new_content_and_drops_faint_shading():
    from editor.motion_transfer import transfer_motion  # noqa: PLC0415
    reference = np.full((64, 64, 3), 100.0, np.float32)
    frame = reference.copy()
    frame[8:28, 8:28] += 5.0    # faint shading change
    frame[36:56, 36:56] += 60.0  # strong new content (teeth, say)
    photo_crop = np.full((128, 128, 3), 80.0, np.float32)
    plain = transfer_motion(photo_crop, reference, frame)
    kept = transfer_motion(photo_crop, reference, frame, residual_sigma=1.0, residual_shrink=12.0)
    faint, strong = (slice(30, 40), slice(30, 40)), (slice(90, 100), slice(90, 100))
    assert np.allclose(plain[faint], 85, atol=1) and np.allclose(plain[strong], 140, atol=1)
    assert np.allclose(kept[faint], 80, atol=0.5) and np.allclose(kept[strong], 128, atol=1)


def test_blinks_only_with_a_blink_direction(shared, generator):
    from directions.direction_file import DirectionSet, EmotionDirection  # noqa: PLC0415
    from editor.pipeline import BLINK_RATE_HZ, blink_offset  # noqa: PLC0415

    photo = read_photo(shared("data", "photos", PHOTO))
    faces = labelled_faces(shared, generator, photo)[:1]
    plain = random_rule_directions(generator)
    options = AnimateOptions(emotion=parse_emotion_spec("joy"), seed=2, duration=10, fps=20)
    assert blink_offset(plain) is None
    motions, paths, _ = plan_paths(faces, plain, options)
    assert float(motions[0].blink.max()) == 0.0
    vector = torch.zeros(generator.num_ws, generator.w_dim)
    vector[3:6, 0] = 1.0
    vector /= vector.norm()
    blink = EmotionDirection("blink", vector, "ridge-ear", tuple(range(generator.num_ws)), strength=4.0)
    blinking = DirectionSet(generator=plain.generator, space=plain.space, num_ws=plain.num_ws, w_dim=plain.w_dim,
                            directions=plain.directions, extras={"blink": blink})
    assert torch.allclose(blink_offset(blinking), 4.0 * vector)
    motions_b, paths_b, _ = plan_paths(faces, blinking, options)
    curve = motions_b[0].blink
    assert curve[0] == 0.0 and curve.max() > 0.99  # closes fully at least once in 10 s at 0.3 Hz
    assert 1 <= int(np.sum(np.diff((curve > 0.5).astype(int)) == 1)) <= 10 * BLINK_RATE_HZ * 4
    # The path is the blink-free path plus blink(t) x the closed-eyes offset, frame by frame.
    expected = paths_b[0] - torch.from_numpy(curve).float()[:, None, None] * (4.0 * vector)
    again = plan_paths(faces, blinking, options)[1][0]
    assert torch.equal(again, paths_b[0])  # same seed, same path
    emotion_span = torch.stack([blinking.offset(e).reshape(-1) for e in blinking.emotions]).double()
    q, _ = torch.linalg.qr(emotion_span.T)
    residual = (expected - expected[:1]).reshape(len(curve), -1).double()
    assert float((residual - (residual @ q) @ q.T).abs().max()) < 1e-4  # only the blink leaves the span
    with_blink = (paths_b[0] - paths_b[0][:1]).reshape(len(curve), -1).double()
    assert float((with_blink - (with_blink @ q) @ q.T).abs().max()) > 1.0
