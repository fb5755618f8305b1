"""The one PySide6 release known to crash the window is refused with a sentence, not a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _import_gui_as(version: str) -> subprocess.CompletedProcess:
    code = ("import PySide6\n"
            f"PySide6.__version__ = {version!r}\n"
            "try:\n"
            "    import lab_app.gui\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, exc)\n"
            "else:\n"
            "    print('imported')\n")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, timeout=120)


def test_pyside6_6_12_0_is_refused_on_python_3_11_with_what_to_install():
    out = _import_gui_as("6.12.0").stdout
    if sys.version_info >= (3, 12):
        assert out.strip() == "imported"
    else:
        assert out.startswith("BindingError PySide6 6.12.0 crashes on Python 3.")
        assert "PySide6-Essentials==6.11.3" in out


def test_other_releases_import():
    assert _import_gui_as("6.11.3").stdout.strip() == "imported"
