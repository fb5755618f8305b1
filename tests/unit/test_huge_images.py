"""Huge JPEGs are decoded at working resolution (issue 17.6): load_rgb decodes a JPEG of 24
megapixels or more reduced by libjpeg, the same call as for its normal-size copy; the capture
quality is still measured at the file's own resolution; normal fields are decoded as before.
Memory figures live in bench/RESULTS.md (bench/report_memory.py), not here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lab_app.core import imaging, quality
from lab_app.core.imaging import load_rgb
from lab_app.core.pipeline import AnalysisOptions, ImageAnalysed, analyse


def textured(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smear-like field: a small random picture blown up (so JPEG has smooth areas and edges)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(60, 250, (height // 50, width // 50, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)


@pytest.fixture(scope="module")
def huge(tmp_path_factory) -> Path:
    """6000 x 4000 (24 megapixels): the smallest JPEG that is decoded reduced (1/2)."""
    path = tmp_path_factory.mktemp("huge") / "huge.jpg"
    textured(6000, 4000).save(path, "JPEG", quality=80)
    return path


def full_decode(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_a_huge_jpeg_is_decoded_reduced_by_the_same_call(huge, tmp_path):
    normal = tmp_path / "normal.jpg"
    textured(1600, 1200).save(normal, "JPEG", quality=80)
    big, small = load_rgb(huge), load_rgb(normal)
    assert big.scale == 2 and big.rgb.shape == (2000, 3000, 3)
    assert (big.width, big.height) == (6000, 4000)             # the file's own size
    assert small.scale == 1 and small.rgb.shape == (1200, 1600, 3) and small.data is None
    # The reduced decode is the field, smaller: close to the full decode shrunk.
    shrunk = np.asarray(Image.fromarray(full_decode(huge)).reduce(2)).astype(int)
    assert np.abs(big.rgb.astype(int) - shrunk).mean() < 3


def test_quality_is_read_at_full_resolution(huge):
    loaded = load_rgb(huge)
    full = full_decode(huge)
    crop = loaded.quality_crop()
    y0, x0 = (4000 - 512) // 2 // 8 * 8, (6000 - 512) // 2 // 8 * 8
    assert np.array_equal(crop, full[y0:y0 + 512, x0:x0 + 512])
    assert quality.measure(crop) == quality.measure(full)
    # What the reduced field alone would say is not the capture's blockiness.
    assert quality.measure(loaded.rgb).blockiness != quality.measure(full).blockiness


def test_exif_rotation_is_applied_to_the_reduced_field_and_the_crop(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6                                   # rotate 90 degrees for display
    textured(6000, 4000, seed=1).save(path, "JPEG", quality=85, exif=exif.tobytes())
    loaded = load_rgb(path)
    assert loaded.scale == 2 and (loaded.width, loaded.height) == (4000, 6000)
    assert loaded.rgb.shape == (3000, 2000, 3)
    with Image.open(path) as im:
        from PIL import ImageOps
        shown = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    crop = loaded.quality_crop()
    assert crop.shape == (512, 512, 3)
    # The same pixels as the displayed field's centre (the crop keeps the file's JPEG grid).
    h, w = shown.shape[:2]
    y0, x0 = (h - 512) // 2, (w - 512) // 2
    found = [(dy, dx) for dy in range(-8, 9) for dx in range(-8, 9)
             if np.array_equal(crop, shown[y0 + dy:y0 + dy + 512, x0 + dx:x0 + dx + 512])]
    assert found


def test_only_jpeg_can_be_reduced(tmp_path, monkeypatch):
    monkeypatch.setattr(imaging, "WORKING_PIXELS", 10_000)       # every test picture is "huge"
    field = textured(400, 300)
    field.save(tmp_path / "f.png")
    field.save(tmp_path / "f.jpg", quality=90)
    assert load_rgb(tmp_path / "f.png").scale == 1
    reduced = load_rgb(tmp_path / "f.jpg")
    assert reduced.scale == 2 and reduced.rgb.shape == (150, 200, 3)
    assert reduced.quality_crop().shape == (300, 400, 3)           # under 512 px: all of it


def test_a_truncated_huge_jpeg_still_loads_reduced(huge, tmp_path):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(huge.read_bytes()[: huge.stat().st_size * 2 // 3])
    loaded = load_rgb(cut)
    assert loaded.truncated and loaded.scale == 2 and loaded.rgb.shape == (2000, 3000, 3)
    assert loaded.quality_crop() is loaded.rgb       # no full-size rows to trust: the field


def test_the_analysis_keeps_the_files_size_and_full_resolution_quality(model_dir, huge, tmp_path):
    from model.inference import InferenceEngine
    engine = InferenceEngine(model_dir, device="cpu")
    normal = tmp_path / "normal.jpg"
    textured(1600, 1200).save(normal, "JPEG", quality=80)
    rows = [e.result for e in analyse([huge, normal], engine, AnalysisOptions(keep_pictures=True))
            if isinstance(e, ImageAnalysed)]
    big, small = rows
    assert (big.width, big.height) == (6000, 4000) and big.acquisition["decoded_scale"] == 2
    assert big.acquisition["quality"] == quality.measure(full_decode(huge)).to_json()
    assert big.status == "ok" and big.pictures is not None   # the report's pictures, from the field
    assert (small.width, small.height) == (1600, 1200) and "decoded_scale" not in small.acquisition
