"""Shared test set-up. Fixtures for model dirs and tiny data sets live in fixtures_model.py."""

from __future__ import annotations

import inspect
import os
import re
import socket
from pathlib import Path

import pytest

# fixtures_pg: a throwaway PostgreSQL server (pg_cluster, pg_url) for the lab-network tests.
pytest_plugins = ["fixtures_model", "fixtures_pg"]


# --- Training needs the [train] extra: torch, torchvision and onnx (the export) --------------

from fixtures_model import train_extra_missing, train_extra_reason  # noqa: E402

_TRAINS = re.compile(r"\b(train_main|train|export_main)\(")


def _trains(item) -> bool:
    """The test, or a fixture it uses, trains or exports a model."""
    if "tiny_trained_model" in item.fixturenames:
        return True
    funcs = [getattr(item, "function", None)]
    infos = getattr(item, "_fixtureinfo", None)
    for defs in (infos.name2fixturedefs.values() if infos else ()):
        funcs += [d.func for d in defs]
    for func in funcs:
        try:
            if func is not None and _TRAINS.search(inspect.getsource(func)):
                return True
        except (OSError, TypeError):
            continue
    return False


def pytest_runtest_setup(item):
    missing = train_extra_missing()
    if missing and _trains(item):
        pytest.skip(train_extra_reason(missing))


# --- CI: a skip nobody expects fails the run (.ci/run passes --fail-on-unexpected-skips) -------

# Reasons a test may skip on a CI machine: no full data set (the shipped fields cover the
# workflow), no GPU, no installer bundle yet (installer/ci-check.sh builds and checks it),
# running as root, another OS.
EXPECTED_SKIPS = (
    "../shared/data/all-taleqani not found",
    "needs a CUDA GPU", "a GPU is present",
    "no installer bundle at", "installer bundle", "bundle carries torch by design",
    "root reads files whatever their permissions", "SIGKILL is POSIX", "POSIX permission bits",
    "flavor has no torch", "checks of the Windows bundle and installer",
)


def pytest_addoption(parser):
    parser.addoption("--fail-on-unexpected-skips", action="store_true",
                     help="fail the run when a test skips for a reason not in "
                          "tests/conftest.py EXPECTED_SKIPS (CI: the data and training tests "
                          "it expects to run must run)")


def pytest_sessionfinish(session, exitstatus):
    if not session.config.getoption("--fail-on-unexpected-skips"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    unexpected = []
    for rep in (reporter.stats.get("skipped", []) if reporter else []):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        if not any(ok in reason for ok in EXPECTED_SKIPS):
            unexpected.append(f"{rep.nodeid}: {reason}")
    if unexpected:
        reporter.write_line(f"{len(unexpected)} test(s) skipped that CI expects to run:", red=True)
        for line in unexpected:
            reporter.write_line(f"  {line}", red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
