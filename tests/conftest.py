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


def _data_set_dir() -> Path:
    """LABAPP_DATASET_DIR if set, else ../shared/data/all-taleqani beside the repository."""
    override = os.environ.get("LABAPP_DATASET_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "all-taleqani"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The data set's root (Original/, Segmented/); skips the test where it is absent."""
    root = _data_set_dir()
    if not (root / "Original").is_dir():
        pytest.skip("../shared/data/all-taleqani not found; real-image tests need the data set "
                    "(or set LABAPP_DATASET_DIR)")
    return root


@pytest.fixture(scope="session")
def real_images(data_dir):
    """pick(n_per_class=4, variant="Original") -> {class: [paths]}, spread evenly over each
    class's sorted file numbers, so that different smears are sampled; deterministic."""
    def pick(n_per_class: int = 4, variant: str = "Original") -> dict[str, list[Path]]:
        chosen = {}
        for cls in DATA_SET_CLASSES:
            files = sorted((data_dir / variant / cls).glob("*.jpg"))
            if not files:
                pytest.skip(f"no images in {data_dir / variant / cls}")
            count = min(n_per_class, len(files))
            step = len(files) / count
            chosen[cls] = [files[int(i * step)] for i in range(count)]
        return chosen
    return pick
