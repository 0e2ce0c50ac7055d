"""read_photo: formats, EXIF orientation, colour modes and every kind of bad file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inversion.common.errors import ImageReadError
from inversion.common.images import read_photo


def _pattern(h: int = 24, w: int = 40) -> np.ndarray:
    """A smooth RGB test pattern (smooth so that lossy formats stay close)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 90)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("ext,fmt,tol", [("png", "PNG", 0), ("bmp", "BMP", 0), ("webp", "WEBP", 0),
                                         ("jpg", "JPEG", 12)])
def test_formats_round_trip(tmp_path, ext, fmt, tol):
    pixels = _pattern()
    path = tmp_path / f"p.{ext}"
    kwargs = {"lossless": True} if fmt == "WEBP" else ({"quality": 95} if fmt == "JPEG" else {})
    Image.fromarray(pixels).save(path, fmt, **kwargs)
    out = read_photo(path)
    assert out.dtype == np.uint8 and out.shape == (24, 40, 3)
    assert np.abs(out.astype(int) - pixels).max() <= tol


def test_exif_orientation_is_applied(tmp_path):
    pixels = _pattern(20, 30)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rot.jpg"
    image.save(path, "JPEG", quality=95, exif=exif)
    out = read_photo(path)
    assert out.shape == (30, 20, 3)
    expected = np.rot90(pixels, k=-1)  # clockwise
    assert np.abs(out.astype(int) - expected).mean() < 4


def test_grey_and_16bit_grey(tmp_path):
    grey = _pattern()[:, :, 0]
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    out = read_photo(tmp_path / "g.png")
    assert out.shape == (24, 40, 3) and (out == grey[:, :, None]).all()
    g16 = grey.astype(np.uint16) * 257
    Image.fromarray(g16).save(tmp_path / "g16.png")
    out16 = read_photo(tmp_path / "g16.png")
    assert np.abs(out16[:, :, 1].astype(int) - grey).max() <= 1


def test_cmyk_jpeg(tmp_path):
    pixels = _pattern()
    path = tmp_path / "c.jpg"
    Image.fromarray(pixels).convert("CMYK").save(path, "JPEG", quality=98)
    out = read_photo(path)
    assert out.shape == (24, 40, 3)
    assert np.abs(out.astype(int) - pixels).mean() < 6


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :4, 3] = 255  # left half opaque red-ish, right half fully transparent
    rgba[:, 4:6, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_photo(tmp_path / "a.png")
    assert (out[:, :4] == [200, 0, 0]).all()
    assert (out[:, 6:] == 255).all()
    half = 128 / 255
    assert np.abs(out[0, 4].astype(float) - [200 * half + 255 * (1 - half), 255 * (1 - half), 255 * (1 - half)]).max() <= 1
    la = np.stack([np.full((4, 4), 10, np.uint8), np.zeros((4, 4), np.uint8)], axis=2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert (read_photo(tmp_path / "la.png") == 255).all()


def test_palette_with_transparency(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 255] + [255, 0, 0] * 255)
    image.info["transparency"] = 0
    image.putpixel((0, 0), 1)
    image.save(tmp_path / "p.png", transparency=0)
    out = read_photo(tmp_path / "p.png")
    assert (out[0, 0] == [255, 0, 0]).all() and (out[1, 1] == 255).all()


def _bad(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_files_give_one_line(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(_pattern(64, 64)).save(good, "JPEG")
    blob = good.read_bytes()
    png = tmp_path / "good.png"
    Image.fromarray(_pattern(64, 64)).save(png)
    cases = {
        "empty.jpg": b"",
        "text.jpg": b"this is not an image at all\n",
        "truncated.jpg": blob[: len(blob) // 2],
        "truncated.png": png.read_bytes()[: len(png.read_bytes()) // 2],
        "corrupt.png": png.read_bytes()[:40] + b"\x00" * 200,
    }
    for name, data in cases.items():
        with pytest.raises(ImageReadError) as info:
            read_photo(_bad(tmp_path, name, data))
        message = str(info.value)
        assert name in message and "\n" not in message, (name, message)
    with pytest.raises(ImageReadError, match="no such file"):
        read_photo(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="folder"):
        read_photo(tmp_path)
