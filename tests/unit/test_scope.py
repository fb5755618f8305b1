"""The scope check: real smear fields in scope, everything else out, with a one-line reason."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lab_app.core.imaging import load_rgb
from lab_app.core.scope import ScopeAssessment, assess_scope, measure
from lab_app.core.segmentation import segment

SIZE = 224


def _solid(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.full((SIZE, SIZE, 3), rgb, np.uint8)


def _noise() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def _landscape() -> np.ndarray:
    """Sky fading to the horizon, green hills with texture, a yellow sun: a natural-looking
    photo without a camera."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    image = np.zeros((SIZE, SIZE, 3), np.float32)
    sky = y < SIZE * 0.55 + 12 * np.sin(x / 25.0)
    t = y / SIZE
    image[..., 0] = np.where(sky, 90 + 120 * t, 40 + 30 * np.sin(x / 7.0) ** 2)
    image[..., 1] = np.where(sky, 150 + 80 * t, 120 + 40 * np.cos(y / 5.0) ** 2)
    image[..., 2] = np.where(sky, 235, 50)
    sun = (x - 170) ** 2 + (y - 40) ** 2 < 18 ** 2
    image[sun] = (255, 230, 90)
    noise = np.random.default_rng(3).normal(0, 6, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def _hue_rotated(rgb: np.ndarray, shift: int) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(int) + shift) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _greyscale(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


SYNTHETIC_NEGATIVES = {
    "solid grey": lambda field: _solid((128, 128, 128)),
    "white": lambda field: _solid((255, 255, 255)),
    "black": lambda field: _solid((0, 0, 0)),
    "solid purple": lambda field: _solid((140, 80, 200)),
    "solid pale lavender": lambda field: _solid((225, 215, 240)),
    "random noise": lambda field: _noise(),
    "landscape": lambda field: _landscape(),
    "greyscale smear": _greyscale,
    "green stain (hue -60)": lambda field: _hue_rotated(field, -60),
    "orange stain (hue +90)": lambda field: _hue_rotated(field, 90),
    "dark field": lambda field: (field.astype(np.float32) * 0.45).astype(np.uint8),
}


@pytest.fixture(scope="module")
def sample_fields(real_images) -> dict[str, list[np.ndarray]]:
    return {cls: [load_rgb(p).rgb for p in paths] for cls, paths in real_images(6).items()}


@pytest.mark.data
def test_real_fields_of_every_class_are_in_scope(real_images):
    for cls, paths in real_images(40).items():
        for path in paths:
            rgb = load_rgb(path).rgb
            result = assess_scope(rgb, segment(rgb))
            assert result.in_scope, f"{cls} {path.name}: {result.reason}"
            assert result.reason is None
            assert 0.0 < result.cell_fraction < 1.0


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(SYNTHETIC_NEGATIVES))
def test_synthetic_negatives_are_out_of_scope(sample_fields, name):
    for cls, fields in sample_fields.items():
        image = SYNTHETIC_NEGATIVES[name](fields[0])
        result = assess_scope(image)
        assert not result.in_scope, f"{name} (from a {cls} field) judged in scope: {result}"
        assert result.reason and "\n" not in result.reason and result.reason.endswith(
            (".", "?"))


def test_negatives_without_the_data_set_are_out_of_scope():
    for name in ("solid grey", "white", "black", "solid purple", "random noise", "landscape"):
        assert not assess_scope(SYNTHETIC_NEGATIVES[name](None)).in_scope, name


def test_reason_names_the_problem():
    assert "colour" in assess_scope(_solid((200, 200, 200))).reason
    assert "dark" in assess_scope(_solid((20, 20, 20))).reason.lower()


@pytest.mark.data
def test_large_capture_of_a_real_field_is_in_scope(sample_fields):
    field = sample_fields["Pro"][1]
    capture = cv2.resize(field, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    assert assess_scope(capture).in_scope


def test_statistics_are_reported_and_serialisable():
    result = assess_scope(_landscape())
    assert isinstance(result, ScopeAssessment)
    data = result.to_json()
    assert set(measure(_landscape())) <= set(data)
    assert 0.0 <= data["pale_fraction"] <= 1.0 and data["cell_fraction"] is None


def test_rejects_non_rgb_input():
    with pytest.raises(ValueError):
        assess_scope(np.zeros((10, 10), np.uint8))


def test_histogram_percentile_equals_numpy():
    import numpy as np

    from lab_app.core.scope import _percentile_hist
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 999, 50176):
        values = rng.integers(0, 256, n).astype(np.uint8)
        hist = np.bincount(values, minlength=256)
        for q in (0, 5, 50, 75, 95, 100):
            assert _percentile_hist(hist, q) == pytest.approx(np.percentile(values, q), abs=1e-9)
