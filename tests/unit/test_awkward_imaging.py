"""load_rgb and the folder scan on awkward files found by an adversarial pass: every one gives
8-bit RGB in display orientation or one ImageLoadError sentence, never another exception."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lab_app.core.errors import ImageLoadError
from lab_app.core.imaging import iter_image_paths, load_rgb

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "WBC-Benign-006.jpg"


def _field(width: int = 64, height: int = 48) -> Image.Image:
    rng = np.random.default_rng(3)
    arr = np.full((height, width, 3), (236, 214, 222), np.uint8)
    arr[10:30, 12:40] = (98, 48, 140)
    arr += rng.integers(0, 4, arr.shape, dtype=np.uint8)
    return Image.fromarray(arr)


def _write(kind: str, folder: Path) -> tuple[Path, tuple[int, int] | None]:
    """(the file, its display (width, height); None: it must fail with one sentence)."""
    f = _field()
    path = folder / f"{kind}.img"
    if kind == "zero":
        path.write_bytes(b"")
        return path, None
    if kind == "text":
        path.write_text("hello, not an image\n", encoding="utf-8")
        return path, None
    if kind == "truncated_header":
        f.save(path, "JPEG")
        path.write_bytes(path.read_bytes()[:40])
        return path, None
    if kind == "grey16":
        Image.fromarray((np.asarray(f)[:, :, 0].astype(np.uint16) * 257)).save(path, "PNG")
    elif kind == "grey_jpeg":
        f.convert("L").save(path, "JPEG")
    elif kind == "grey_png":
        f.convert("L").save(path, "PNG")
    elif kind == "rgba":
        rgba = np.asarray(f.convert("RGBA")).copy()
        rgba[:10, :, 3] = 0
        Image.fromarray(rgba).save(path, "PNG")
    elif kind == "palette":
        f.convert("P", palette=Image.ADAPTIVE).save(path, "PNG")
    elif kind == "cmyk":
        f.convert("CMYK").save(path, "JPEG")
    elif kind == "multipage_tiff":
        f.save(path, "TIFF", save_all=True, append_images=[f.rotate(90, expand=True)])
    elif kind == "bmp":
        f.save(path, "BMP")
    elif kind == "webp":
        f.save(path, "WEBP")
    elif kind == "one_pixel":
        f = f.resize((1, 1))
        f.save(path, "PNG")
    elif kind == "three_pixels":
        f = f.resize((3, 3))
        f.save(path, "JPEG")
    elif kind == "strip":
        f = f.resize((20000, 8))
        f.save(path, "PNG")
    elif kind == "exif_rotated":
        exif = f.getexif()
        exif[0x0112] = 6
        f.save(path, "JPEG", exif=exif.tobytes())
        return path, (f.height, f.width)
    return path, f.size


KINDS = ["zero", "text", "truncated_header", "grey16", "grey_jpeg", "grey_png", "rgba", "palette",
         "cmyk", "multipage_tiff", "bmp", "webp", "one_pixel", "three_pixels", "strip",
         "exif_rotated"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_awkward_file_is_rgb_or_one_sentence(kind, tmp_path):
    path, size = _write(kind, tmp_path)
    if size is None:
        with pytest.raises(ImageLoadError) as info:
            load_rgb(path)
        text = str(info.value)
        assert text.startswith(path.name) and "\n" not in text and "Traceback" not in text
        return
    img = load_rgb(path)
    assert img.rgb.dtype == np.uint8 and img.rgb.ndim == 3 and img.rgb.shape[2] == 3
    assert (img.width, img.height) == size == (img.rgb.shape[1], img.rgb.shape[0])


def test_a_link_to_itself_is_called_a_loop(tmp_path):
    """It was reported as 'the link points to a file that does not exist'."""
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    with pytest.raises(ImageLoadError, match="loop") as info:
        load_rgb(loop)
    assert "\n" not in str(info.value)
    two = tmp_path / "a.jpg"
    two.symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(two)
    with pytest.raises(ImageLoadError, match="loop"):
        load_rgb(two)
    gone = tmp_path / "gone.jpg"
    gone.symlink_to(tmp_path / "nothing.jpg")
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_rgb(gone)


def test_a_file_without_read_permission_is_one_sentence(tmp_path, monkeypatch):
    """As root the real permission test is skipped (test_imaging.py); the same refusal, mocked."""
    path = tmp_path / "locked.jpg"
    path.write_bytes(SAMPLE.read_bytes())
    real_open = builtins.open

    def refuse(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", refuse)
    with pytest.raises(ImageLoadError, match="permission denied") as info:
        load_rgb(path)
    assert str(info.value).startswith("locked.jpg: ")


def test_a_folder_scan_with_link_loops_ends(tmp_path):
    """Links to a parent folder and to themselves inside an input folder: each image once."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.jpg").write_bytes(SAMPLE.read_bytes())
    (folder / "sub" / "up").symlink_to(folder)
    (folder / "self.jpg").symlink_to(folder / "self.jpg")
    assert iter_image_paths([folder]) == [folder / "self.jpg", folder / "sub" / "a.jpg"]
