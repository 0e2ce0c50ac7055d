"""Motion transfer: the photo's detail moves with the generator's low-resolution motion."""

from __future__ import annotations

import cv2
import numpy as np

from editor.motion_transfer import generator_flow, transfer_motion, warp_with_flow

S, R = 128, 64


def detailed_crop(seed: int = 0) -> np.ndarray:
    """Texture with detail at every scale (fine detail the 64 px generator cannot hold)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((S, S, 3), np.float32)
    for cells, amp in [(8, 60.0), (32, 40.0), (128, 25.0)]:
        noise = rng.uniform(-1, 1, (cells, cells, 3)).astype(np.float32)
        out += amp * cv2.resize(noise, (S, S), interpolation=cv2.INTER_CUBIC)
    return np.clip(out + 128, 0, 255).astype(np.uint8)


def bump_flow(size: int, shift: float) -> np.ndarray:
    """A smooth local motion: the centre of the crop moves right by ``shift`` px (backward flow)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2
    weight = np.exp(-((xx - c) ** 2 + (yy - c) ** 2) / (2 * (size / 5) ** 2))
    return np.stack([-shift * weight, np.zeros_like(weight)], -1).astype(np.float32)


def down(image):
    return cv2.resize(np.asarray(image, np.float32), (R, R), interpolation=cv2.INTER_AREA)


def test_no_motion_returns_the_photo_crop():
    photo = detailed_crop()
    ref = down(photo)
    out = transfer_motion(photo, ref, ref.copy())
    assert out.shape == (S, S, 3) and out.dtype == np.float32
    assert np.abs(out - photo).max() < 1.0


def test_flow_is_recovered_and_warp_scales_it():
    photo = detailed_crop(1)
    truth = bump_flow(R, 2.0)
    ref = down(photo)
    frame = warp_with_flow(ref, truth)
    flow = generator_flow(ref, frame)
    centre = slice(R // 2 - 6, R // 2 + 6)
    assert np.abs(flow[centre, centre] - truth[centre, centre]).mean() < 0.4
    # A flow at R applied to an S image moves it by S / R times as many pixels.
    moved = warp_with_flow(photo, np.full((R, R, 2), [1.0, 0.0], np.float32))
    np.testing.assert_allclose(moved[:, 10:-10], photo[:, 12:-8].astype(np.float32), atol=1e-3)


def test_detail_comes_from_the_photo_and_motion_from_the_generator():
    photo = detailed_crop(2)
    truth_s = bump_flow(S, 4.0)
    target = warp_with_flow(photo, truth_s)  # the photo's face as it should look after the edit
    ref, frame = down(photo), down(target)  # what a 64 px generator renders
    out = transfer_motion(photo, ref, frame)
    upsampled = cv2.resize(frame, (S, S), interpolation=cv2.INTER_CUBIC)
    inner = slice(16, S - 16)
    err_transfer = np.abs(out - target)[inner, inner].mean()
    err_paste = np.abs(upsampled - target)[inner, inner].mean()
    assert err_transfer < 0.6 * err_paste, (err_transfer, err_paste)
    # And it did move: the unmoved photo is further from the target than the transfer.
    assert err_transfer < 0.6 * np.abs(photo.astype(np.float32) - target)[inner, inner].mean()


def test_new_content_comes_from_the_generator():
    photo = detailed_crop(3)
    ref = down(photo)
    frame = ref.copy()
    frame[40:48, 24:40] = 10.0  # "teeth": content the photo does not have
    out = transfer_motion(photo, ref, frame)
    assert out[84:92, 52:76].mean() < 40
    far = np.abs(out - photo)[:48, :48]
    assert far.mean() < 3.0
