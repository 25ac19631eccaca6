"""Image I/O edge cases: every fixture is built here, in tmp_path, from code."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import sys
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, ImageFile

from restyle.errors import RestyleError
from restyle.media import image as image_mod
from restyle.media.image import (
    MAX_PIXELS,
    SAVE_FORMATS,
    check_output_path,
    load_image,
    read_metadata,
    resize,
    save_image,
    to_pil,
    to_tensor,
)

RED = (255, 0, 0)
WHITE = (255, 255, 255)

# --------------------------------------------------------------------------------------------
# Fixture builders


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _raw_png(width: int, height: int, depth: int, colour_type: int, rows: bytes = b"") -> bytes:
    """A PNG written byte by byte (for layouts Pillow cannot save, or lying headers)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def _png_rgb16(values: np.ndarray) -> bytes:
    """16-bit RGB PNG from a (H, W, 3) uint16 array."""
    h, w, _ = values.shape
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(h))
    return _raw_png(w, h, 16, 2, rows)


def _tiff_rgb16(values: np.ndarray) -> bytes:
    """Baseline little-endian uncompressed 16-bit RGB TIFF from a (H, W, 3) uint16 array."""
    h, w, _ = values.shape
    pixels = values.astype("<u2").tobytes()
    n_entries = 10
    ifd_offset = 8
    ifd_size = 2 + n_entries * 12 + 4
    bits_offset = ifd_offset + ifd_size
    data_offset = bits_offset + 6

    def entry(tag: int, kind: int, count: int, value: int) -> bytes:
        if kind == 3 and count == 1:
            return struct.pack("<HHIHH", tag, kind, count, value, 0)
        return struct.pack("<HHII", tag, kind, count, value)

    entries = [
        entry(256, 4, 1, w),  # ImageWidth
        entry(257, 4, 1, h),  # ImageLength
        entry(258, 3, 3, bits_offset),  # BitsPerSample -> 16,16,16
        entry(259, 3, 1, 1),  # Compression: none
        entry(262, 3, 1, 2),  # Photometric: RGB
        entry(273, 4, 1, data_offset),  # StripOffsets
        entry(277, 3, 1, 3),  # SamplesPerPixel
        entry(278, 4, 1, h),  # RowsPerStrip
        entry(279, 4, 1, len(pixels)),  # StripByteCounts
        entry(284, 3, 1, 1),  # PlanarConfiguration: chunky
    ]
    assert len(entries) == n_entries
    return (
        b"II*\x00"
        + struct.pack("<I", ifd_offset)
        + struct.pack("<H", n_entries)
        + b"".join(entries)
        + struct.pack("<I", 0)
        + struct.pack("<HHH", 16, 16, 16)
        + pixels
    )


def _s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)


def _icc(space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """A minimal ICC v2 display profile assembled from tags."""
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table = struct.pack(">I", len(tags))
    blob = b""
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(blob), len(data))
        blob += data
    size = 128 + table_size + len(blob)
    header = (
        struct.pack(">I", size)
        + b"none"
        + struct.pack(">I", 0x02100000)
        + b"mntr"
        + space
        + b"XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)  # platform, flags, maker, model, attributes, intent
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + bytes(4 + 16 + 28)  # creator, id, reserved
    )
    assert len(header) == 128
    return header + table + blob


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\x00"
    return (
        b"desc"
        + bytes(4)
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + bytes(67)
    )


def _curve(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256))


def _rgb_icc(gamma: float, description: str = "Linear test RGB") -> bytes:
    """RGB profile with sRGB's primaries (D50-adapted) and a pure gamma curve."""
    curve = _curve(gamma)
    return _icc(
        b"RGB ",
        [
            (b"desc", _desc(description)),
            (b"cprt", b"text" + bytes(4) + b"public domain\x00"),
            (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", _xyz(0.4361, 0.2225, 0.0139)),
            (b"gXYZ", _xyz(0.3851, 0.7169, 0.0971)),
            (b"bXYZ", _xyz(0.1431, 0.0606, 0.7141)),
            (b"rTRC", curve),
            (b"gTRC", curve),
            (b"bTRC", curve),
        ],
    )


def _grey_icc(gamma: float) -> bytes:
    return _icc(
        b"GRAY",
        [
            (b"desc", _desc("Linear test grey")),
            (b"cprt", b"text" + bytes(4) + b"public domain\x00"),
            (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
            (b"kTRC", _curve(gamma)),
        ],
    )


def _srgb_encode(linear: float) -> int:
    v = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055
    return round(v * 255)


def _marker_image(size: tuple[int, int] = (20, 10)) -> Image.Image:
    """Black image with a red pixel at the stored top-left corner."""
    im = Image.new("RGB", size, (0, 0, 0))
    im.putpixel((0, 0), RED)
    return im


def _with_orientation(im: Image.Image, orientation: int) -> Image.Exif:
    exif = im.getexif()
    exif[0x0112] = orientation
    return exif


def _noise(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _gradient(w: int, h: int) -> Image.Image:
    x = np.linspace(0, 255, w)[None, :, None]
    y = np.linspace(0, 255, h)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1))], axis=2)
    rgb = np.concatenate([rgb, np.full((h, w, 1), 90.0)], axis=2)
    return Image.fromarray(np.rint(rgb).astype(np.uint8))


def _px(im: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = im.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def _close(a: tuple[int, ...], b: tuple[int, ...], tol: int) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def _assert_one_line(exc: BaseException, *parts: str) -> str:
    message = str(exc)
    assert isinstance(exc, RestyleError)
    assert "\n" not in message and "\r" not in message
    for part in parts:
        assert part in message, (part, message)
    return message


def _check_rgb(im: Image.Image, size: tuple[int, int]) -> None:
    assert im.mode == "RGB"
    assert im.size == size


# --------------------------------------------------------------------------------------------
# Loading: what must come out right


def test_plain_rgb_png_is_exact(tmp_path: Path) -> None:
    src = _noise(16, 12)
    path = tmp_path / "noise.png"
    src.save(path)
    out = load_image(path, role="content")
    _check_rgb(out, (16, 12))
    assert np.array_equal(np.asarray(out), np.asarray(src))
    assert out.info == {}
    # str paths work the same as Path objects
    assert np.array_equal(np.asarray(load_image(str(path))), np.asarray(src))


# Where the stored top-left pixel must appear once the orientation is applied (20x10 stored).
ORIENTATIONS = {
    1: ((20, 10), (0, 0)),
    2: ((20, 10), (19, 0)),
    3: ((20, 10), (19, 9)),
    4: ((20, 10), (0, 9)),
    5: ((10, 20), (0, 0)),
    6: ((10, 20), (9, 0)),
    7: ((10, 20), (9, 19)),
    8: ((10, 20), (0, 19)),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    im = _marker_image()
    path = tmp_path / f"o{orientation}.png"
    im.save(path, exif=_with_orientation(im, orientation))
    out = load_image(path)
    size, where = ORIENTATIONS[orientation]
    _check_rgb(out, size)
    assert _px(out, where) == RED
    assert int(np.asarray(out).sum()) == 255  # exactly one red pixel, nothing else moved in


def test_exif_orientation_6_jpeg(tmp_path: Path) -> None:
    im = Image.new("RGB", (40, 20), (0, 0, 0))
    im.paste(RED, (0, 0, 8, 8))  # a block survives JPEG
    path = tmp_path / "rotated.jpg"
    im.save(path, quality=95, exif=_with_orientation(im, 6))
    out = load_image(path)
    _check_rgb(out, (20, 40))
    assert _close(_px(out, (17, 2)), RED, 40)
    assert _close(_px(out, (2, 2)), (0, 0, 0), 40)


def test_pil_input_gets_orientation_and_is_not_mutated() -> None:
    im = _marker_image()
    im.info["exif"] = _with_orientation(im, 8).tobytes()
    out = load_image(im)
    assert out is not im
    assert out.size == (10, 20) and _px(out, (0, 19)) == RED
    assert im.size == (20, 10) and im.mode == "RGB" and "exif" in im.info


def test_pil_rgb_input_returns_a_copy() -> None:
    im = _noise(8, 8)
    out = load_image(im)
    assert out is not im
    assert np.array_equal(np.asarray(out), np.asarray(im))
    im.putpixel((0, 0), (7, 7, 7))
    out.putpixel((0, 0), (1, 2, 3))
    assert _px(im, (0, 0)) == (7, 7, 7)


def test_rgba_transparency_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("RGBA", (4, 2), (10, 20, 30, 255))
    im.putpixel((1, 0), (10, 20, 30, 0))  # fully transparent
    im.putpixel((2, 0), (0, 0, 0, 128))  # half transparent black
    path = tmp_path / "alpha.png"
    im.save(path)
    out = load_image(path)
    _check_rgb(out, (4, 2))
    assert _px(out, (0, 0)) == (10, 20, 30)
    assert _px(out, (1, 0)) == WHITE
    assert _close(_px(out, (2, 0)), (127, 127, 127), 1)


def test_la_alpha(tmp_path: Path) -> None:
    im = Image.new("LA", (2, 1), (40, 255))
    im.putpixel((1, 0), (40, 0))
    path = tmp_path / "la.png"
    im.save(path)
    out = load_image(path)
    assert _px(out, (0, 0)) == (40, 40, 40)
    assert _px(out, (1, 0)) == WHITE


def test_palette_with_transparent_index(tmp_path: Path) -> None:
    im = Image.new("P", (3, 1))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (253 * 3))
    im.putdata([0, 1, 2])
    path = tmp_path / "pal.png"
    im.save(path, transparency=1)
    with Image.open(path) as check:
        assert check.mode == "P" and "transparency" in check.info
    out = load_image(path)
    assert [_px(out, (x, 0)) for x in range(3)] == [RED, WHITE, (0, 0, 255)]


def test_gif_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 255, 9, 9, 9] + [0] * (254 * 3))
    im.putdata([0, 1])
    path = tmp_path / "t.gif"
    im.save(path, transparency=1)
    out = load_image(path)
    assert _px(out, (0, 0)) == (0, 0, 255)
    assert _px(out, (1, 0)) == WHITE


def test_rgb_colour_key_transparency(tmp_path: Path) -> None:
    im = Image.new("RGB", (2, 1), (1, 2, 3))
    im.putpixel((1, 0), (200, 100, 50))
    path = tmp_path / "trns.png"
    im.save(path, transparency=(1, 2, 3))
    out = load_image(path)
    assert _px(out, (0, 0)) == WHITE
    assert _px(out, (1, 0)) == (200, 100, 50)


def test_palette_greyscale_and_bilevel(tmp_path: Path) -> None:
    base = _noise(8, 8)
    pal = base.quantize(16)
    pal.save(tmp_path / "p.png")
    out = load_image(tmp_path / "p.png")
    assert np.array_equal(np.asarray(out), np.asarray(pal.convert("RGB")))

    grey = base.convert("L")
    grey.save(tmp_path / "l.png")
    out = load_image(tmp_path / "l.png")
    _check_rgb(out, (8, 8))
    a = np.asarray(out)
    assert np.array_equal(a[..., 0], np.asarray(grey)) and np.array_equal(a[..., 0], a[..., 2])

    bilevel = Image.new("1", (3, 1), 0)
    bilevel.putpixel((1, 0), 1)
    bilevel.save(tmp_path / "b.png")
    out = load_image(tmp_path / "b.png")
    assert [_px(out, (x, 0)) for x in range(3)] == [(0, 0, 0), WHITE, (0, 0, 0)]


def _grey16() -> np.ndarray:
    return np.array([[0, 257, 32768, 65535]], dtype=np.uint16)


def test_16bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "g16.png"
    Image.fromarray(_grey16()).save(path)
    with Image.open(path) as check:
        assert check.mode in ("I;16", "I")
    out = np.asarray(load_image(path))[0, :, 0].tolist()
    assert out[0] == 0 and out[1] == 1 and out[3] == 255
    assert abs(out[2] - 128) <= 1


@pytest.mark.parametrize("dtype", ["<u2", ">u2"])
def test_16bit_tiff(tmp_path: Path, dtype: str) -> None:
    path = tmp_path / "g16.tif"
    Image.fromarray(_grey16().astype(dtype)).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I;16")
    out = np.asarray(load_image(path))[0, :, 0].tolist()
    assert out[0] == 0 and out[1] == 1 and out[3] == 255 and abs(out[2] - 128) <= 1


def test_32bit_int_and_float_tiff(tmp_path: Path) -> None:
    Image.fromarray(_grey16().astype(np.int32)).save(tmp_path / "i.tif")
    with Image.open(tmp_path / "i.tif") as check:
        assert check.mode == "I"
    out = np.asarray(load_image(tmp_path / "i.tif"))[0, :, 0].tolist()
    assert out[3] == 255 and abs(out[2] - 128) <= 1

    floats = np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)
    Image.fromarray(floats).save(tmp_path / "f.tif")
    with Image.open(tmp_path / "f.tif") as check:
        assert check.mode == "F"
    out = np.asarray(load_image(tmp_path / "f.tif"))[0, :, 0].tolist()
    assert out == [0, 64, 128, 255]


def test_16bit_colour_png_and_tiff(tmp_path: Path) -> None:
    values = np.zeros((2, 2, 3), dtype=np.uint16)
    values[0, 0] = (65535, 32768, 0)
    values[1, 1] = (257 * 10, 65535, 65535)
    (tmp_path / "c16.png").write_bytes(_png_rgb16(values))
    (tmp_path / "c16.tif").write_bytes(_tiff_rgb16(values))
    for name in ("c16.png", "c16.tif"):
        out = load_image(tmp_path / name)
        _check_rgb(out, (2, 2))
        assert _close(_px(out, (0, 0)), (255, 128, 0), 1), name
        assert _close(_px(out, (1, 1)), (10, 255, 255), 1), name


def test_cmyk_jpeg_adobe_inverted(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)
    assert b"Adobe" in path.read_bytes()  # Pillow writes Adobe-style inverted CMYK
    with Image.open(path) as check:
        assert check.mode == "CMYK"
    out = load_image(path)
    _check_rgb(out, (16, 16))
    assert _close(_px(out, (8, 8)), RED, 12)


def test_cmyk_tiff(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.tif"
    Image.new("CMYK", (4, 4), (255, 0, 255, 0)).save(path)
    assert _px(load_image(path), (1, 1)) == (0, 255, 0)


def test_lab_tiff(tmp_path: Path) -> None:
    path = tmp_path / "lab.tif"
    Image.new("LAB", (4, 4), (255, 128, 128)).save(path)  # L*=100, a*=b*=0: white
    with Image.open(path) as check:
        assert check.mode == "LAB"
    assert _close(_px(load_image(path), (0, 0)), WHITE, 3)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_icc_non_srgb_profile_is_converted(tmp_path: Path, ext: str) -> None:
    icc = _rgb_icc(gamma=1.0)
    # the hand-made profile is valid for LittleCMS
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    im = Image.new("RGB", (16, 16), (51, 51, 51))  # linear 0.2
    im.paste((255, 255, 255), (0, 0, 4, 4))
    path = tmp_path / f"linear{ext}"
    im.save(path, icc_profile=icc)
    out = load_image(path)
    expected = _srgb_encode(0.2)  # 124: much brighter than the stored 51
    assert _close(_px(out, (10, 10)), (expected,) * 3, 3)
    assert _close(_px(out, (1, 1)), WHITE, 2)


def test_icc_grey_profile_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("L", (4, 4), 51).save(path, icc_profile=_grey_icc(1.0))
    assert _close(_px(load_image(path), (1, 1)), (_srgb_encode(0.2),) * 3, 3)


def test_icc_srgb_tagged_loads_unchanged(tmp_path: Path) -> None:
    src = _noise(8, 8)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "srgb.png"
    src.save(path, icc_profile=srgb)
    out = load_image(path)
    assert np.array_equal(np.asarray(out), np.asarray(src))
    assert "icc_profile" not in out.info


@pytest.mark.parametrize(
    ("mode", "icc"),
    [
        ("RGB", b"this is not an ICC profile at all" * 4),
        ("RGB", _rgb_icc(1.0)[:200]),  # truncated profile
        ("L", _rgb_icc(1.0)),  # RGB profile on grey pixels
        ("RGB", _grey_icc(1.0)),  # grey profile on RGB pixels
    ],
)
def test_unusable_icc_is_ignored(tmp_path: Path, mode: str, icc: bytes) -> None:
    src = _noise(6, 6).convert(mode)
    path = tmp_path / "bad_icc.png"
    src.save(path, icc_profile=icc)
    out = load_image(path)
    assert np.array_equal(np.asarray(out), np.asarray(src.convert("RGB")))


def test_multi_frame_takes_first(tmp_path: Path) -> None:
    red = Image.new("RGB", (4, 4), RED)
    blue = Image.new("RGB", (4, 4), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100)
    red.save(tmp_path / "pages.tif", save_all=True, append_images=[blue])
    red.save(tmp_path / "anim.png", save_all=True, append_images=[blue])
    for name in ("anim.gif", "pages.tif", "anim.png"):
        with Image.open(tmp_path / name) as check:
            assert getattr(check, "n_frames", 1) == 2, name
        assert _px(load_image(tmp_path / name), (2, 2)) == RED, name


def test_file_is_closed_after_load(tmp_path: Path) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc")
    path = tmp_path / "x.png"
    _noise(4, 4).save(path)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        load_image(path)
    with pytest.raises(RestyleError):
        load_image(tmp_path / "missing.png")
    assert len(os.listdir("/proc/self/fd")) == before


def test_loading_changes_no_global_state(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    _noise(4, 4).save(path)
    limit = Image.MAX_IMAGE_PIXELS
    filters = list(warnings.filters)
    load_image(path)
    assert limit == Image.MAX_IMAGE_PIXELS
    assert warnings.filters == filters
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --------------------------------------------------------------------------------------------
# Loading: NumPy arrays


def test_arrays_of_every_supported_layout() -> None:
    rgb = np.asarray(_noise(5, 3))
    assert np.array_equal(np.asarray(load_image(rgb)), rgb)
    assert np.array_equal(np.asarray(load_image(rgb[:, ::-1])), rgb[:, ::-1])  # non-contiguous

    grey = rgb[..., 0]
    for arr in (grey, grey[..., None]):
        out = np.asarray(load_image(arr))
        assert out.shape == (3, 5, 3) and np.array_equal(out[..., 1], grey)

    rgba = np.dstack([rgb, np.full((3, 5), 255, np.uint8)])
    rgba[0, 0, 3] = 0
    out = np.asarray(load_image(rgba))
    assert out[0, 0].tolist() == [255, 255, 255] and np.array_equal(out[1:], rgb[1:])

    floats = np.array([[[0.0, 0.5, 1.0]]], dtype=np.float64)
    assert np.asarray(load_image(floats))[0, 0].tolist() == [0, 128, 255]
    assert np.asarray(load_image(floats.astype(np.float32) * 1.0000001))[0, 0, 2] == 255

    u16 = np.array([[[0, 32768, 65535]]], dtype=np.uint16)
    out16 = np.asarray(load_image(u16))[0, 0].tolist()
    assert out16[0] == 0 and out16[2] == 255 and abs(out16[1] - 128) <= 1

    mask = np.array([[True, False]])
    assert np.asarray(load_image(mask))[0, :, 0].tolist() == [255, 0]


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((3, 8, 8), np.uint8), "shape (3, 8, 8)"),
        (np.zeros((1, 3, 8, 8), np.uint8), "shape (1, 3, 8, 8)"),
        (np.zeros(8, np.uint8), "shape (8,)"),
        (np.zeros((8, 8, 2), np.uint8), "shape (8, 8, 2)"),
        (np.zeros((8, 8, 3), np.int64), "dtype int64"),
        (np.zeros((8, 8, 3), np.complex64), "dtype complex64"),
        (np.full((8, 8, 3), 255.0), "[0, 1]"),
        (np.full((8, 8, 3), -0.5), "[0, 1]"),
        (np.full((8, 8, 3), np.nan), "NaN"),
        (np.zeros((0, 0, 3), np.uint8), "empty (0x0 pixels)"),
        (np.zeros((0, 7), np.uint8), "empty (7x0 pixels)"),
    ],
)
def test_bad_arrays_are_rejected(array: np.ndarray, expected: str) -> None:
    with pytest.raises(RestyleError) as info:
        load_image(array, role="style")
    _assert_one_line(info.value, "style image", expected)


def test_unsupported_source_type() -> None:
    with pytest.raises(RestyleError) as info:
        load_image(torch.zeros(1, 3, 4, 4), role="content")  # type: ignore[arg-type]
    _assert_one_line(info.value, "content image", "Tensor")


# --------------------------------------------------------------------------------------------
# Loading: failures are one-line RestyleErrors naming the role and the path


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "foo.jpg"
    with pytest.raises(RestyleError) as info:
        load_image(path, role="content")
    msg = _assert_one_line(info.value, str(path))
    assert msg == f"content image not found: {path}"
    with pytest.raises(RestyleError) as info:
        load_image(tmp_path / "no_dir" / "foo.jpg")
    _assert_one_line(info.value, "image not found", "foo.jpg")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(RestyleError) as info:
        load_image(tmp_path, role="style")
    _assert_one_line(info.value, "style image", "directory", str(tmp_path))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.touch()
    with pytest.raises(RestyleError) as info:
        load_image(path, role="content")
    _assert_one_line(info.value, "content image", "empty", str(path))


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list:\n- eggs\n- milk\n")
    with pytest.raises(RestyleError) as info:
        load_image(path, role="style")
    msg = _assert_one_line(info.value, str(path))
    assert msg == f"style image is not an image Pillow can read: {path}"


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_file(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"cut{ext}"
    _noise(64, 64).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RestyleError) as info:
        load_image(path, role="content")
    _assert_one_line(info.value, "content image is corrupt or truncated", str(path))


def test_corrupt_png(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.png"
    _noise(64, 64).save(path)
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # inside the compressed pixel data
    path.write_bytes(bytes(data))
    with pytest.raises(RestyleError) as info:
        load_image(path, role="content")
    _assert_one_line(info.value, "content image is corrupt or truncated", str(path))


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.png"
    _noise(4, 4).save(path)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # running as root: simulate what chmod would do

            def deny(*args: Any, **kwargs: Any) -> Any:
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(image_mod, "open", deny, raising=False)
        with pytest.raises(RestyleError) as info:
            load_image(path, role="style")
        _assert_one_line(info.value, "style image", "permission denied", str(path))
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    with pytest.raises(RestyleError) as info:
        load_image(path)  # must not block waiting for a writer
    _assert_one_line(info.value, "not a regular file", str(path))


def test_path_with_newline_stays_one_line(tmp_path: Path) -> None:
    if sys.platform == "win32":
        pytest.skip("newlines are not allowed in Windows file names")
    path = tmp_path / "two\nlines.png"
    with pytest.raises(RestyleError) as info:
        load_image(path)
    _assert_one_line(info.value, "not found", "two\\nlines.png")


def test_empty_pil_image() -> None:
    with pytest.raises(RestyleError) as info:
        load_image(Image.new("RGB", (0, 0)), role="content")
    _assert_one_line(info.value, "content image is empty (0x0 pixels)")


def test_own_pixel_limit_checked_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.png"
    _noise(20, 10).save(path)
    monkeypatch.setattr(image_mod, "MAX_PIXELS", 199)

    def no_decoding(self: Image.Image) -> Any:
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(RestyleError) as info:
        load_image(path, role="style")
    _assert_one_line(
        info.value, "style image is too large (decompression bomb guard)", "200 pixels", str(path)
    )
    with pytest.raises(RestyleError) as info:
        load_image(np.zeros((10, 20, 3), np.uint8), role="style")
    _assert_one_line(info.value, "decompression bomb guard", "200 pixels")


def test_pixel_limit_independent_of_pillow_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # a user turned Pillow's guard off
    path = tmp_path / "bomb.png"
    side = int(MAX_PIXELS**0.5) + 10
    path.write_bytes(_raw_png(side, side, 8, 0))  # a 60-byte file claiming ~90 MP
    with pytest.raises(RestyleError) as info:
        load_image(path, role="content")
    _assert_one_line(info.value, "content image is too large", "decompression bomb", str(path))


@pytest.mark.parametrize("side", [10_000, 100_000])
def test_pillow_bomb_warning_and_error_become_restyle_errors(tmp_path: Path, side: int) -> None:
    # 10_000^2 trips Pillow's warning, 100_000^2 its error; neither may escape as such.
    path = tmp_path / f"bomb{side}.png"
    path.write_bytes(_raw_png(side, side, 8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RestyleError) as info:
            load_image(path, role="style")
    _assert_one_line(info.value, "style image is too large", str(path))


# --------------------------------------------------------------------------------------------
# Tensors and resizing


def test_tensor_round_trip() -> None:
    im = _noise(7, 5)
    t = to_tensor(im)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert np.array_equal(np.asarray(to_pil(t)), np.asarray(im))
    assert np.array_equal(np.asarray(to_pil(t[0])), np.asarray(im))


def test_to_pil_clamps_rounds_and_checks_shape() -> None:
    t = torch.tensor([-1.0, 0.5, 2.0, float("nan"), 0.1 / 255.0, 0.6 / 255.0])
    out = to_pil(t.view(1, 1, 6).expand(3, 1, 6))
    assert np.asarray(out)[0, :, 0].tolist() == [0, 128, 255, 0, 0, 1]
    for bad in (torch.zeros(2, 3, 4, 4), torch.zeros(4, 4), torch.zeros(1, 4, 4, 4)):
        with pytest.raises(ValueError, match="shape"):
            to_pil(bad)


def test_resize() -> None:
    im = _noise(8, 6)
    assert resize(im, 8, 6) is im
    out = resize(im, 4, 3)
    assert out.size == (4, 3)
    with pytest.raises(ValueError):
        resize(im, 0, 3)


# --------------------------------------------------------------------------------------------
# Saving and metadata

SETTINGS = {"restyle": json.dumps({"style_weight": 1e4, "steps": 300, "layers": ["conv4_2"]})}


@pytest.mark.parametrize("ext", sorted(SAVE_FORMATS))
def test_save_round_trip_with_metadata(tmp_path: Path, ext: str) -> None:
    im = _gradient(24, 16)
    path = tmp_path / f"out{ext}"
    metadata = {**SETTINGS, "Software": "restyle 0.1", "note": "Tübingen → Starry Night"}
    save_image(im, path, metadata=metadata)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    with Image.open(path) as back:
        assert back.format == SAVE_FORMATS[ext]
        assert back.size == (24, 16) and back.mode == "RGB"
        pixels = np.asarray(back.convert("RGB"), dtype=np.int16)
    diff = np.abs(pixels - np.asarray(im, dtype=np.int16))
    if SAVE_FORMATS[ext] in ("PNG", "TIFF"):
        assert diff.max() == 0
    else:
        assert diff.mean() < 4  # lossy, but the same picture
    assert read_metadata(path) == metadata
    assert json.loads(read_metadata(path)["restyle"])["steps"] == 300
    assert np.array_equal(np.asarray(load_image(path)), pixels.astype(np.uint8))


def test_png_metadata_are_text_chunks(tmp_path: Path) -> None:
    path = tmp_path / "meta.png"
    save_image(_noise(4, 4), path, metadata={"restyle": "{}", "Title": "ascii"})
    with Image.open(path) as back:
        assert isinstance(back, Image.Image)
        assert back.info["restyle"] == "{}" and back.info["Title"] == "ascii"
    assert b"tEXtrestyle\x00{}" in path.read_bytes()


def test_jpeg_metadata_in_exif_description_and_comment(tmp_path: Path) -> None:
    path = tmp_path / "meta.jpg"
    save_image(_noise(4, 4), path, metadata=SETTINGS)
    with Image.open(path) as back:
        assert json.loads(back.getexif()[0x010E]) == SETTINGS
        assert json.loads(back.info["comment"]) == SETTINGS


@pytest.mark.parametrize("ext", sorted(SAVE_FORMATS))
def test_no_metadata_reads_empty(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"plain{ext}"
    save_image(_noise(4, 4), path)
    assert read_metadata(path) == {}


def test_read_metadata_of_foreign_description(tmp_path: Path) -> None:
    path = tmp_path / "camera.jpg"
    im = _noise(4, 4)
    exif = im.getexif()
    exif[0x010E] = "OLYMPUS DIGITAL CAMERA"
    im.save(path, exif=exif)
    assert read_metadata(path) == {}


def test_read_metadata_errors(tmp_path: Path) -> None:
    with pytest.raises(RestyleError) as info:
        read_metadata(tmp_path / "gone.png")
    _assert_one_line(info.value, "not found", "gone.png")
    text = tmp_path / "text.png"
    text.write_text("hello")
    with pytest.raises(RestyleError) as info:
        read_metadata(text)
    _assert_one_line(info.value, "not an image", str(text))


def test_save_modes(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    save_image(rgba, tmp_path / "a.jpg")
    with Image.open(tmp_path / "a.jpg") as back:
        assert back.mode == "RGB" and _close(_px(back, (1, 1)), WHITE, 2)
    save_image(rgba, tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as back:
        assert back.mode == "RGBA"
    save_image(Image.new("L", (4, 4), 9), tmp_path / "l.webp")
    with Image.open(tmp_path / "l.webp") as back:
        assert back.mode == "RGB"
    save_image(Image.new("CMYK", (4, 4)), tmp_path / "c.png")
    with Image.open(tmp_path / "c.png") as back:
        assert back.mode == "RGB"


def test_save_does_not_copy_stale_icc(tmp_path: Path) -> None:
    im = _noise(4, 4)
    im.info["icc_profile"] = _rgb_icc(1.0)  # e.g. left over from a source image
    for ext in (".png", ".jpg", ".tif", ".webp"):
        save_image(im, tmp_path / f"x{ext}")
        with Image.open(tmp_path / f"x{ext}") as back:
            assert not back.info.get("icc_profile"), ext


def test_save_overwrites_existing_output(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    save_image(_noise(4, 4), path)
    with Image.open(path) as back:
        assert back.size == (4, 4)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_saved_file_permissions_follow_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        save_image(_noise(4, 4), tmp_path / "out.png")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.png").stat().st_mode) == 0o640


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_save_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    path = tmp_path / "result.png"
    path.write_bytes(b"previous result")

    def half_written(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        fp.write(b"\x89PNG half an image")
        raise failure

    monkeypatch.setattr(Image.Image, "save", half_written)
    expected: type[BaseException] = (
        RestyleError if isinstance(failure, OSError) else KeyboardInterrupt
    )
    with pytest.raises(expected) as info:
        save_image(_noise(4, 4), path, metadata=SETTINGS)
    if expected is RestyleError:
        _assert_one_line(info.value, "cannot write output image", str(path), "No space left")
    assert path.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]


def test_save_errors(tmp_path: Path) -> None:
    im = _noise(4, 4)
    with pytest.raises(RestyleError) as info:
        save_image(im, tmp_path / "out.bmp")
    _assert_one_line(info.value, "'.bmp'", ".png", ".jpg", ".webp", ".tif")
    with pytest.raises(RestyleError) as info:
        save_image(im, tmp_path / "missing" / "out.png")
    _assert_one_line(info.value, "output folder does not exist", "missing")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(RestyleError) as info:
        save_image(im, tmp_path / "dir.png")
    _assert_one_line(info.value, "directory", "dir.png")
    for quality in (0, 101):
        with pytest.raises(ValueError, match="quality"):
            save_image(im, tmp_path / "q.jpg", quality=quality)
    with pytest.raises(ValueError, match="key"):
        save_image(im, tmp_path / "k.png", metadata={"": "x"})
    with pytest.raises(TypeError):
        save_image(im, tmp_path / "k.png", metadata={"steps": 3})  # type: ignore[dict-item]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.png"]


# --------------------------------------------------------------------------------------------
# check_output_path


def test_check_output_path_accepts_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jpg").write_bytes(b"x")
    result = check_output_path("out.PNG", inputs=["in.jpg"])
    assert result == (tmp_path / "out.PNG").resolve() and result.is_absolute()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("out.bmp", "unsupported output file type '.bmp'"), ("out", "no file extension")],
)
def test_check_output_path_extension(tmp_path: Path, name: str, expected: str) -> None:
    with pytest.raises(RestyleError) as info:
        check_output_path(tmp_path / name)
    _assert_one_line(info.value, expected, name, *sorted(SAVE_FORMATS))


def test_check_output_path_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RestyleError) as info:
        check_output_path(tmp_path / "nope" / "out.png")
    _assert_one_line(info.value, "output folder does not exist", "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RestyleError) as info:
        check_output_path(tmp_path / "file" / "out.png")
    _assert_one_line(info.value, "output folder", "file")
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(RestyleError) as info:
        check_output_path(tmp_path / "taken.png")
    _assert_one_line(info.value, "is a directory", "taken.png")
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(RestyleError) as info:
        check_output_path(tmp_path / "out.png")
    _assert_one_line(info.value, "not writable", str(tmp_path))


def test_check_output_path_same_as_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photo = tmp_path / "photo.png"
    _noise(4, 4).save(photo)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")

    with pytest.raises(RestyleError) as info:
        check_output_path(photo, inputs=[str(photo)])
    _assert_one_line(info.value, "output path is the same as an input image", str(photo))

    # a different spelling of the same path
    with pytest.raises(RestyleError) as info:
        check_output_path("../sub/../photo.png", inputs={"content": photo, "style": "x.jpg"})
    msg = _assert_one_line(info.value, "../sub/../photo.png")
    assert msg == "output path is the same as the content image: ../sub/../photo.png"

    # a symbolic link and a hard link to the style image
    if hasattr(os, "symlink"):
        (tmp_path / "link.png").symlink_to(photo)
        with pytest.raises(RestyleError, match="the style image"):
            check_output_path(tmp_path / "link.png", inputs={"style": photo})
    (tmp_path / "hard.png").hardlink_to(photo)
    with pytest.raises(RestyleError, match="the style image"):
        check_output_path(tmp_path / "hard.png", inputs={"style": photo})

    # a single path instead of a list, and non-path sources, are handled
    with pytest.raises(RestyleError):
        check_output_path(photo, inputs=str(photo))
    arr: Any = np.zeros((2, 2, 3), np.uint8)
    assert check_output_path(tmp_path / "new.png", inputs=[arr, photo]) == tmp_path / "new.png"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_check_output_path_special_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(RestyleError, match="not a regular file"):
        check_output_path(tmp_path / "pipe.png")
