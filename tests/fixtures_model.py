"""Shared fixtures for tests that need a model dir or a small labelled folder of real images.

``model_dir``: the bundled model when present (fast, no training), else a tiny model trained
once per session on a few real images. ``tiny_dataset``: 8 real images per class, copied.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

# Training and export need the [train] extra: torch, torchvision and onnx.
TRAIN_EXTRA = ("torch", "torchvision", "onnx")


def train_extra_missing() -> list[str]:
    return [m for m in TRAIN_EXTRA if importlib.util.find_spec(m) is None]


def train_extra_reason(missing: list[str]) -> str:
    return (f"{', '.join(missing)} not installed: training tests need the [train] extra "
            "(pip install -e '.[train]')")


@pytest.fixture(scope="session")
def tiny_dataset(real_images, tmp_path_factory) -> Path:
    """8 images per class, copied from spread-out file numbers of the real data set."""
    dst = tmp_path_factory.mktemp("tiny_dataset")
    for cls, files in real_images(8).items():
        (dst / cls).mkdir()
        for f in files:
            shutil.copy(f, dst / cls / f.name)
    return dst


@pytest.fixture(scope="session")
def tiny_trained_model(tiny_dataset, tmp_path_factory) -> Path:
    """A one-epoch, 64 px model dir trained on ``tiny_dataset`` (a few seconds on the CPU)."""
    missing = train_extra_missing()
    if missing:
        pytest.skip(train_extra_reason(missing))
    from model.train import main as train_main
    out = tmp_path_factory.mktemp("tiny_run")
    rc = train_main([str(tiny_dataset), "--out", str(out), "--epochs", "1", "--img-size", "64",
                     "--batch-size", "8", "--threads", "2", "--white-balance", "--acquisition", "0.5"])
    assert rc == 0
    return out / "model"


@pytest.fixture(scope="session")
def model_dir(request) -> Path:
    from model.errors import ModelLoadError
    from model.modeldir import default_model_dir
    try:
        return default_model_dir()
    except ModelLoadError:
        return request.getfixturevalue("tiny_trained_model")
