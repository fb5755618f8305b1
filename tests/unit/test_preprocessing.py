"""The model's input standardisation (model/preprocessing.normalize): the per-channel table gives
exactly what the arithmetic on every pixel gives, for every level, shape and memory layout."""

from __future__ import annotations

import numpy as np
import pytest

from model.preprocessing import PreprocessConfig, normalize


def _by_arithmetic(batch: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    x = batch.astype(np.float32) * (1.0 / 255.0)
    x -= np.asarray(cfg.mean, dtype=np.float32)
    x /= np.asarray(cfg.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("mean, std", [((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                                       ((0.8, 0.7, 0.75), (0.1, 0.15, 0.12))])
@pytest.mark.parametrize("shape", [(1, 224, 224, 3), (3, 17, 9, 3), (0, 224, 224, 3)])
def test_table_lookup_equals_the_arithmetic_exactly(mean, std, shape):
    cfg = PreprocessConfig(input_size=224, mean=mean, std=std)
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, shape, dtype=np.uint8)
    got = normalize(batch, cfg)
    assert got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    assert np.array_equal(got, _by_arithmetic(batch, cfg))


def test_every_level_and_a_strided_view():
    cfg = PreprocessConfig(input_size=16)
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)
    assert np.array_equal(normalize(levels, cfg), _by_arithmetic(levels, cfg))
    view = np.random.default_rng(1).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)[:, 3:35:2, 5:37]
    assert np.array_equal(normalize(view, cfg), _by_arithmetic(view, cfg))
