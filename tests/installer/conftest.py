"""Fixtures for checking a built bundle (installer/build.sh) the way a clinic PC runs it.

The bundle: $LABAPP_BUNDLE, else dist/labapp-cpu; tests marked ``installer`` skip with a reason
where neither exists. Sample images: $LABAPP_TEST_SAMPLES, else the bundle's own
_internal/resources/samples, else resources/samples.

How the executables are started (no Python, no network): installer_helpers.run_frozen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from installer_helpers import EXE_SUFFIX, REPO, image_files


def bundle_path() -> Path:
    env = os.environ.get("LABAPP_BUNDLE")
    return Path(env) if env else REPO / "dist" / "labapp-cpu"


@pytest.fixture(scope="session")
def bundle() -> Path:
    path = bundle_path()
    if not (path / f"labapp-batch{EXE_SUFFIX}").is_file():
        pytest.skip(f"no installer bundle at {path} (build one with installer/build.sh, or set "
                    f"LABAPP_BUNDLE to a built labapp-<flavor> folder)")
    return path


@pytest.fixture(scope="session")
def build_info(bundle) -> dict:
    path = bundle / "_internal" / "build_info.json"
    assert path.is_file(), f"{path} is missing: the spec writes it into every bundle"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def batch_exe(bundle) -> Path:
    return bundle / f"labapp-batch{EXE_SUFFIX}"


@pytest.fixture(scope="session")
def gui_exe(bundle) -> Path:
    exe = bundle / f"labapp{EXE_SUFFIX}"
    if not exe.is_file():
        reason = ("lab_app/app.py did not exist when this bundle was built"
                  if not (REPO / "lab_app" / "app.py").is_file()
                  else "the bundle was built before lab_app/app.py existed; rebuild it")
        pytest.skip(f"no GUI executable {exe.name} in {bundle}: {reason}")
    return exe


@pytest.fixture(scope="session")
def samples(bundle) -> Path:
    """$LABAPP_TEST_SAMPLES, else the bundle's own samples, else resources/samples (in git)."""
    override = os.environ.get("LABAPP_TEST_SAMPLES")
    if override:
        assert image_files(Path(override)), f"LABAPP_TEST_SAMPLES={override} holds no images"
        return Path(override)
    shipped = bundle / "_internal" / "resources" / "samples"
    return shipped if image_files(shipped) else REPO / "resources" / "samples"
