"""Shared test set-up. Fixtures for model dirs and tiny data sets live in fixtures_model.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

pytest_plugins = ["fixtures_model"]


class NetworkAccessError(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The product works offline: any attempt to open a network connection fails the test."""
    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)
        raise NetworkAccessError(f"test tried to open a network connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect)
    monkeypatch.setattr(socket, "create_connection",
                        lambda address, *a, **k: (_ for _ in ()).throw(
                            NetworkAccessError(f"test tried to connect to {address!r}")))
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, *a, **k: (_ for _ in ()).throw(
                            NetworkAccessError(f"test tried to resolve {host!r}")))


@pytest.fixture(autouse=True)
def private_user_folders(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's real case database or settings."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("LABAPP_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("LABAPP_CONFIG_DIR", str(base / "config"))


# --- Real images of the ALL (Taleqani) data set ----------------------------------------------

DATA_SET_CLASSES = ("Benign", "Early", "Pre", "Pro")
# 8 fields per class of the data set, shipped with the repository (tests/data/README.md): the
# workflow tests run on them everywhere; only tests that need more fields skip without the data.
SHIPPED_FIELDS = Path(__file__).resolve().parent / "data" / "fields"
SHIPPED_PER_CLASS = 8


def _data_set_dir() -> Path:
    """LABAPP_DATASET_DIR if set, else ../shared/data/all-taleqani beside the repository."""
    override = os.environ.get("LABAPP_DATASET_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "all-taleqani"


def _spread(files: list[Path], n: int) -> list[Path]:
    """``n`` of ``files`` (sorted), evenly spread over the file numbers: different smears."""
    count = min(n, len(files))
    step = len(files) / count
    return [files[int(i * step)] for i in range(count)]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The data set's root (Original/, Segmented/); skips the test where it is absent."""
    root = _data_set_dir()
    if not (root / "Original").is_dir():
        pytest.skip("../shared/data/all-taleqani not found; this test needs the full data set "
                    "(or set LABAPP_DATASET_DIR)")
    return root


@pytest.fixture(scope="session")
def shipped_fields() -> dict[str, list[Path]]:
    """{class: 8 paths} of the fields shipped in tests/data/fields (never skips)."""
    found = {cls: sorted((SHIPPED_FIELDS / cls).glob("*.jpg")) for cls in DATA_SET_CLASSES}
    missing = [cls for cls, files in found.items() if len(files) != SHIPPED_PER_CLASS]
    assert not missing, f"tests/data/fields is incomplete for {missing} (see tests/data/README.md)"
    return found


@pytest.fixture(scope="session")
def real_images(shipped_fields):
    """pick(n_per_class=4, variant="Original") -> {class: [paths]}, spread evenly over each
    class's sorted file numbers, so that different smears are sampled; deterministic.

    From the full data set where present; without it, up to 8 per class of the Original
    images come from the shipped fields (for n = 1, 2, 4, 8 the very same files); more, or
    another variant, skips with the reason."""
    root = _data_set_dir()
    have_data = (root / "Original").is_dir()

    def pick(n_per_class: int = 4, variant: str = "Original") -> dict[str, list[Path]]:
        if not have_data:
            if variant != "Original" or n_per_class > SHIPPED_PER_CLASS:
                pytest.skip(f"../shared/data/all-taleqani not found; this test needs "
                            f"{n_per_class} {variant} fields per class and tests/data/fields "
                            f"ships {SHIPPED_PER_CLASS} Original ones (or set LABAPP_DATASET_DIR)")
            return {cls: _spread(files, n_per_class) for cls, files in shipped_fields.items()}
        chosen = {}
        for cls in DATA_SET_CLASSES:
            files = sorted((root / variant / cls).glob("*.jpg"))
            if not files:
                pytest.skip(f"no images in {root / variant / cls}")
            chosen[cls] = _spread(files, n_per_class)
        return chosen
    return pick
