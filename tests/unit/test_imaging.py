"""Image loading: every format and mode a lab camera writes, and every way a file can be bad."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lab_app.core.errors import ImageLoadError
from lab_app.core.imaging import (DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, LoadedImage,
                                  folders_without_images, iter_image_paths, load_rgb,
                                  make_thumbnail)

ORIENTATION_TAG = 0x0112


def _field(width: int = 64, height: int = 48) -> np.ndarray:
    """A smooth colour test card: any channel mix-up or flip shows as a pixel mismatch."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1),
                     np.full_like(x, 90)], axis=2).astype(np.uint8)


def _save(tmp_path: Path, name: str, image: Image.Image, **kwargs) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def _assert_valid(loaded: LoadedImage, width: int, height: int) -> None:
    assert isinstance(loaded.rgb, np.ndarray)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == (height, width, 3)
    assert loaded.rgb.flags.c_contiguous
    assert (loaded.width, loaded.height) == (width, height)
    assert len(loaded.sha256) == 64


def _assert_one_line_error(exc_info) -> str:
    message = str(exc_info.value)
    assert message.strip() and "\n" not in message
    return message


# --- formats -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,name", [("PNG", "a.png"), ("BMP", "a.bmp"), ("TIFF", "a.tif")])
def test_lossless_formats_load_exactly(tmp_path, fmt, name):
    rgb = _field()
    path = _save(tmp_path, name, Image.fromarray(rgb), format=fmt)
    loaded = load_rgb(path)
    _assert_valid(loaded, 64, 48)
    assert loaded.format == fmt and loaded.bit_depth == 8 and loaded.original_mode == "RGB"
    np.testing.assert_array_equal(loaded.rgb, rgb)


def test_jpeg_loads_and_hashes_file_bytes(tmp_path):
    import hashlib
    rgb = _field()
    path = _save(tmp_path, "a.jpg", Image.fromarray(rgb), quality=95)
    loaded = load_rgb(path)
    _assert_valid(loaded, 64, 48)
    assert loaded.format == "JPEG" and loaded.path == path
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert np.abs(loaded.rgb.astype(int) - rgb).mean() < 3


def test_webp_loads(tmp_path):
    rgb = _field()
    path = _save(tmp_path, "a.webp", Image.fromarray(rgb), lossless=True)
    loaded = load_rgb(path)
    assert loaded.format == "WEBP"
    np.testing.assert_array_equal(loaded.rgb, rgb)


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path):
    grey = np.array([[0, 257, 32896, 65535]], np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(grey).save(path)
    loaded = load_rgb(path)
    assert loaded.bit_depth == 16 and loaded.original_mode.startswith("I;16")
    np.testing.assert_array_equal(loaded.rgb[0, :, 0], [0, 1, 128, 255])
    np.testing.assert_array_equal(loaded.rgb[..., 0], loaded.rgb[..., 2])


def test_16bit_grey_tiff_is_scaled_not_clipped(tmp_path):
    grey = np.array([[0, 1000, 40000, 65535]], np.uint16)
    path = tmp_path / "g16.tif"
    Image.fromarray(grey).save(path)
    loaded = load_rgb(path)
    assert loaded.format == "TIFF" and loaded.bit_depth == 16
    np.testing.assert_array_equal(loaded.rgb[0, :, 1], np.rint(grey[0] / 257).astype(np.uint8))


@pytest.mark.parametrize("name", ["rgb16.png", "rgb16.tif"])
def test_16bit_colour_is_scaled_not_clipped(tmp_path, name):
    rgb16 = np.zeros((4, 6, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 65535, 32896, 2570
    path = tmp_path / name
    assert cv2.imwrite(str(path), rgb16[..., ::-1])  # OpenCV writes BGR
    loaded = load_rgb(path)
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(loaded.rgb[0, 0], [255, 128, 10])


def test_multipage_tiff_gives_first_page(tmp_path):
    first, second = _field(), np.zeros((48, 64, 3), np.uint8)
    path = tmp_path / "stack.tif"
    Image.fromarray(first).save(path, save_all=True, append_images=[Image.fromarray(second)])
    assert Image.open(path).n_frames == 2
    np.testing.assert_array_equal(load_rgb(path).rgb, first)


# --- modes -------------------------------------------------------------------------------------

def test_greyscale_becomes_three_equal_channels(tmp_path):
    grey = _field()[..., 0]
    path = _save(tmp_path, "g.png", Image.fromarray(grey, "L"))
    loaded = load_rgb(path)
    assert loaded.original_mode == "L"
    for channel in range(3):
        np.testing.assert_array_equal(loaded.rgb[..., channel], grey)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)      # opaque red stays red
    rgba[0, 1] = (255, 0, 0, 0)        # fully transparent becomes white
    rgba[1, 0] = (0, 0, 0, 128)        # half-transparent black becomes mid grey
    path = _save(tmp_path, "a.png", Image.fromarray(rgba, "RGBA"))
    out = load_rgb(path).rgb
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(out[0, 1], [255, 255, 255])
    assert np.all(np.abs(out[1, 0].astype(int) - 127) <= 1)


def test_palette_image_with_and_without_transparency(tmp_path):
    rgb = _field()
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    loaded = load_rgb(_save(tmp_path, "p.png", palette))
    assert loaded.original_mode == "P"
    assert np.abs(loaded.rgb.astype(int) - rgb).mean() < 12

    transparent = palette.copy()
    transparent.info["transparency"] = int(np.asarray(palette)[0, 0])
    out = load_rgb(_save(tmp_path, "pt.png", transparent, transparency=transparent.info[
        "transparency"])).rgb
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    cmyk = Image.new("CMYK", (32, 16), (0, 255, 255, 0))  # pure red in CMYK terms
    loaded = load_rgb(_save(tmp_path, "c.jpg", cmyk, quality=95))
    assert loaded.original_mode == "CMYK"
    red, green, blue = loaded.rgb[8, 16].astype(int)
    assert red > 200 and green < 60 and blue < 60


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((40, 60, 3), np.uint8)       # landscape as stored
    rgb[0:5, 0:5] = (255, 0, 0)                 # red mark in the stored top-left corner
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[ORIENTATION_TAG] = 6                   # "rotate 90 degrees clockwise to display"
    path = _save(tmp_path, "rot.jpg", image, exif=exif.tobytes(), quality=95)
    loaded = load_rgb(path)
    assert loaded.rgb.shape == (60, 40, 3)      # portrait once displayed
    assert (loaded.width, loaded.height) == (40, 60)
    top_right = loaded.rgb[0:5, 35:40].reshape(-1, 3).mean(axis=0)
    top_left = loaded.rgb[0:5, 0:5].reshape(-1, 3).mean(axis=0)
    assert top_right[0] > 200 and top_right[1] < 60
    assert top_left[0] < 60


# --- content, not extension ------------------------------------------------------------------

def test_png_named_jpg_loads_as_png(tmp_path):
    rgb = _field()
    path = tmp_path / "really_a_png.jpg"
    Image.fromarray(rgb).save(path, format="PNG")
    loaded = load_rgb(path)
    assert loaded.format == "PNG"
    np.testing.assert_array_equal(loaded.rgb, rgb)


def test_unicode_file_name(tmp_path):
    folder = tmp_path / "Probe Ünïcødé 血液"
    folder.mkdir()
    path = _save(folder, "Ausstrich ß 涂片.png", Image.fromarray(_field()))
    assert load_rgb(path).width == 64
    assert load_rgb(str(path)).path == path


def test_large_capture_loads(tmp_path):
    big = Image.new("RGB", (5472, 3648), (200, 180, 220))      # a 20 megapixel camera: full size
    path = _save(tmp_path, "big.jpg", big, quality=80)
    loaded = load_rgb(path)
    _assert_valid(loaded, 5472, 3648)
    assert loaded.scale == 1


def test_huge_jpeg_loads_at_working_resolution(tmp_path):
    huge = Image.new("RGB", (6000, 4000), (200, 180, 220))      # 24 megapixels: decoded at 1/2
    loaded = load_rgb(_save(tmp_path, "huge.jpg", huge, quality=80))
    assert loaded.scale == 2 and (loaded.width, loaded.height) == (6000, 4000)
    assert loaded.rgb.shape == (2000, 3000, 3) and loaded.rgb.dtype == np.uint8


def test_truncated_jpeg_with_data_loads_and_says_so(tmp_path):
    data = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)).save(
        data, "JPEG", quality=90)
    path = tmp_path / "half.jpg"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    loaded = load_rgb(path)
    assert loaded.truncated and loaded.rgb.shape == (120, 160, 3)
    assert not load_rgb(_save(tmp_path, "whole.jpg", Image.fromarray(_field()))).truncated


# --- bad files ---------------------------------------------------------------------------------

def _jpeg_bytes() -> bytes:
    data = io.BytesIO()
    Image.fromarray(_field()).save(data, "JPEG")
    return data.getvalue()


BAD_FILES = {
    "empty": lambda p: p.write_bytes(b""),
    "text named jpg": lambda p: p.write_text("patient list, not an image\n"),
    "truncated beyond repair": lambda p: p.write_bytes(_jpeg_bytes()[:400]),  # header cut
    "header only": lambda p: p.write_bytes(_jpeg_bytes()[:20]),
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(1).bytes(5000)),
    "png signature then garbage": lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_one_line_image_load_error(tmp_path, case):
    path = tmp_path / "bad.jpg"
    BAD_FILES[case](path)
    with pytest.raises(ImageLoadError) as exc_info:
        load_rgb(path)
    assert "bad.jpg" in _assert_one_line_error(exc_info)


def test_empty_file_message_says_empty(tmp_path):
    path = tmp_path / "e.png"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        load_rgb(path)


def test_truncated_beyond_repair_says_cut_short(tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(_jpeg_bytes()[:400])
    with pytest.raises(ImageLoadError, match="cut short"):
        load_rgb(path)


def test_over_pixel_limit(tmp_path):
    path = _save(tmp_path, "a.png", Image.fromarray(_field()))
    with pytest.raises(ImageLoadError, match="megapixel") as exc_info:
        load_rgb(path, max_pixels=1000)
    _assert_one_line_error(exc_info)
    assert DEFAULT_MAX_PIXELS >= 4000 * 3000


def test_pillow_decompression_bomb_guard_becomes_image_load_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own guard fires first
    path = _save(tmp_path, "a.png", Image.fromarray(_field()))
    with pytest.raises(ImageLoadError, match="megapixel"):
        load_rgb(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="not found") as exc_info:
        load_rgb(tmp_path / "nope.jpg")
    _assert_one_line_error(exc_info)


def test_directory(tmp_path):
    with pytest.raises(ImageLoadError, match="folder") as exc_info:
        load_rgb(tmp_path)
    _assert_one_line_error(exc_info)


def test_dangling_symlink(tmp_path):
    link = tmp_path / "link.jpg"
    link.symlink_to(tmp_path / "gone.jpg")
    with pytest.raises(ImageLoadError, match="link") as exc_info:
        load_rgb(link)
    _assert_one_line_error(exc_info)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_permission_denied_on_disk(tmp_path):
    path = _save(tmp_path, "a.png", Image.fromarray(_field()))
    path.chmod(0)
    try:
        with pytest.raises(ImageLoadError, match="permission"):
            load_rgb(path)
    finally:
        path.chmod(0o644)


def test_permission_denied(tmp_path, monkeypatch):
    """Also checked without relying on file modes (tests often run as root in containers)."""
    path = _save(tmp_path, "a.png", Image.fromarray(_field()))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(ImageLoadError, match="permission") as exc_info:
        load_rgb(path)
    _assert_one_line_error(exc_info)


# --- thumbnails --------------------------------------------------------------------------------

def test_make_thumbnail_keeps_aspect_and_never_enlarges():
    rgb = np.zeros((300, 600, 3), np.uint8)
    thumb = make_thumbnail(rgb, 100)
    assert thumb.shape == (50, 100, 3) and thumb.dtype == np.uint8
    small = make_thumbnail(_field(), 500)
    assert small.shape == (48, 64, 3)
    with pytest.raises(ValueError):
        make_thumbnail(rgb, 0)


# --- finding images ----------------------------------------------------------------------------

def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_iter_image_paths_recurses_in_natural_order_and_skips_hidden_and_non_images(tmp_path):
    root = tmp_path / "slides"
    expected = [
        _touch(root / "a" / "img2.jpg"),
        _touch(root / "a" / "IMG10.PNG"),
        _touch(root / "B" / "deep" / "f1.tiff"),
        _touch(root / "b2.webp"),
        _touch(root / "field1.bmp"),
        _touch(root / "field2.jpeg"),
        _touch(root / "field10.tif"),
    ]
    _touch(root / ".hidden.jpg")
    _touch(root / ".cache" / "x.jpg")
    _touch(root / "notes.txt")
    _touch(root / "a" / "Thumbs.db")
    _touch(root / "noext")
    assert iter_image_paths([root]) == expected
    assert iter_image_paths([str(root)]) == expected  # strings as well as paths


def test_iter_image_paths_keeps_explicit_files_and_missing_paths_and_deduplicates(tmp_path):
    folder = tmp_path / "f"
    image = _touch(folder / "one.jpg")
    notes = _touch(tmp_path / "notes.txt")
    missing = tmp_path / "missing.jpg"
    hidden = _touch(tmp_path / ".explicit.png")
    result = iter_image_paths([notes, folder, image, missing, str(image), hidden, missing])
    assert result == [notes, image, missing, hidden]


def test_folders_without_images_names_each_input_folder_that_gave_nothing(tmp_path):
    """The rule the batch and the window share: an input folder none of the found images lies
    in is named (as given), even one named like an image; files and found folders are not."""
    fields = tmp_path / "fields"
    _touch(fields / "deep" / "a.jpg")
    empty, named_jpg = tmp_path / "empty", tmp_path / "x.jpg"
    _touch(empty / "notes.txt")
    named_jpg.mkdir()
    nested = fields / "deep"
    loose = _touch(tmp_path / "b.png")
    inputs = [str(fields) + os.sep, empty, loose, named_jpg, nested, tmp_path / "missing"]
    found = iter_image_paths(inputs)
    assert folders_without_images(inputs, found) == [str(empty), str(named_jpg)]
    assert folders_without_images([fields], iter_image_paths([fields])) == []


def test_symlink_loop_is_kept_for_an_error_row_not_a_crash(tmp_path):
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    assert iter_image_paths([loop]) == [loop]
    with pytest.raises(ImageLoadError):
        load_rgb(loop)


def test_image_extensions_are_lower_case_with_dot():
    assert {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"} <= IMAGE_EXTENSIONS
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)
