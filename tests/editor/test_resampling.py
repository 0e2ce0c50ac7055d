"""editor.resampling: the windowed-sinc upsampler the warp reads the photo from."""

import cv2
import numpy as np
import pytest

from editor.resampling import sinc_kernel, upsample


def _texture(shape, seed=0):
    rng = np.random.default_rng(seed)
    noise = rng.normal(128, 40, shape).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 0.8), 0, 255)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_whole_pixels_are_the_image_exactly(factor):
    image = _texture((37, 52, 3)).astype(np.uint8)
    fine = upsample(image, factor)
    assert fine.shape == (36 * factor + 1, 51 * factor + 1, 3) and fine.dtype == np.uint8
    assert np.array_equal(fine[::factor, ::factor], image)


def test_grey_float_and_flat_stay_flat():
    grey = _texture((20, 30))
    assert upsample(grey, 2).shape == (39, 59)
    flat = np.full((16, 16, 3), 77, np.uint8)
    assert np.array_equal(upsample(flat, 2), np.full((31, 31, 3), 77, np.uint8))


def test_kernel_taps_sum_to_one_and_are_symmetric_at_half():
    taps = sinc_kernel(0.5, 8)
    assert taps.shape == (16,) and abs(float(taps.sum()) - 1.0) < 1e-6
    assert np.allclose(taps, taps[::-1], atol=1e-7)


def test_midpoints_of_a_band_limited_wave_are_its_values():
    """A sine at 0.3 cycles per pixel: the in-between samples are the wave's own values, within a grey
    level away from the mirrored borders; bicubic from the image is off by several."""
    x = np.arange(64, dtype=np.float64)
    wave = lambda t: 100 + 80 * np.sin(2 * np.pi * 0.3 * t)  # noqa: E731
    image = np.tile(wave(x)[None], (24, 1)).astype(np.float32)
    between = (x[:-1] + 0.5)[10:-10]
    sinc_error = np.abs(upsample(image, 2)[12, 1::2][10:-10] - wave(between)).max()
    rows = np.full((1, between.size), 12, np.float32)
    cubic = cv2.remap(image, between.astype(np.float32)[None], rows, cv2.INTER_CUBIC)
    cubic_error = np.abs(cubic[0] - wave(between)).max()
    assert sinc_error < 1.0 < 3.0 < cubic_error


def test_half_pixel_shift_keeps_detail():
    """Read back at a half-pixel diagonal shift (as a warp frame does): the sinc copy keeps far more
    Laplacian variance than bicubic from the image itself."""
    image = _texture((96, 96))
    h, w = image.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    fine = upsample(image, 2)
    shifted = cv2.remap(fine, 2 * (gx + 0.5), 2 * (gy + 0.5), cv2.INTER_CUBIC)[8:-8, 8:-8]
    direct = cv2.remap(image, gx + 0.5, gy + 0.5, cv2.INTER_CUBIC)[8:-8, 8:-8]
    detail = lambda a: cv2.Laplacian(a.astype(np.float64), cv2.CV_64F).var()  # noqa: E731
    kept_sinc = detail(shifted) / detail(image[8:-8, 8:-8])
    kept_cubic = detail(direct) / detail(image[8:-8, 8:-8])
    assert 0.9 < kept_sinc < 1.05 and kept_sinc > kept_cubic + 0.1


def test_bad_arguments():
    with pytest.raises(ValueError):
        upsample(np.zeros((4, 4), np.uint8), 0)
