"""What this installation is built from, for the About box and support requests (no Qt import).

``build_info()`` returns a dict:

- in an installed (PyInstaller) bundle: the content of ``_internal/build_info.json``, written by
  installer/labapp.spec at build time (app version, flavor cpu/cuda, build date, git commit, the
  exact version of every bundled package, the bundled models, the PyInstaller version);
- from a source checkout / pip install: the same keys, with the versions of the installed
  packages read from ``importlib.metadata``, ``flavor`` "source" and ``build_date`` None.

Keys always present: app, app_version, flavor, frozen, build_date, python, platform, packages
({distribution name: version}). ``describe()`` formats it as plain text lines.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import re
import sys
from pathlib import Path

from . import __version__

APP_NAME = "ALL Subtype Workstation"
BUILD_INFO_FILE = "build_info.json"
# Reported from a source install (the runtime dependencies, plus the CUDA path where present).
_SOURCE_PACKAGES = ("numpy", "pillow", "opencv-python-headless", "onnxruntime", "reportlab",
                    "PySide6-Essentials", "shiboken6", "platformdirs", "arabic-reshaper",
                    "python-bidi", "torch", "torchvision")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def _common() -> dict:
    return {"app": APP_NAME, "app_version": __version__, "python": platform.python_version(),
            "platform": f"{platform.system()}-{platform.machine()}"}


def _frozen_info() -> dict:
    path = Path(sys._MEIPASS) / BUILD_INFO_FILE  # type: ignore[attr-defined]
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return {**_common(), "flavor": "unknown", "frozen": True, "build_date": None,
                "packages": {}, "error": f"{path} cannot be read: {exc}"}
    info.setdefault("packages", {})
    for key, value in {**_common(), "flavor": "unknown", "build_date": None}.items():
        info.setdefault(key, value)
    info["frozen"] = True
    return info


def _source_info() -> dict:
    packages = {}
    for name in _SOURCE_PACKAGES:
        try:
            packages[_canonical(name)] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return {**_common(), "flavor": "source", "frozen": False, "build_date": None,
            "packages": dict(sorted(packages.items()))}


def build_info() -> dict:
    """The build's description; a fresh dict on every call (callers may change it)."""
    return _frozen_info() if is_frozen() else _source_info()


def describe(info: dict | None = None) -> list[str]:
    """Plain-text lines for an About box or a support e-mail."""
    info = build_info() if info is None else info
    flavor = {"cpu": "CPU build (ONNX Runtime)", "cuda": "CUDA build (PyTorch)",
              "source": "source installation"}.get(info.get("flavor"), str(info.get("flavor")))
    lines = [f"{info.get('app', APP_NAME)} {info.get('app_version', '?')}: {flavor}"]
    if info.get("build_date"):
        commit = f", commit {info['git_commit']}" if info.get("git_commit") else ""
        lines.append(f"Built {info['build_date']}{commit}")
    lines.append(f"Python {info.get('python', '?')} on {info.get('platform', '?')}")
    for model in info.get("models") or []:
        lines.append(f"Bundled model: {model.get('name')} {model.get('version')}")
    if info.get("error"):
        lines.append(f"Build information unavailable: {info['error']}")
    lines += [f"{name} {version}" for name, version in sorted(info.get("packages", {}).items())]
    return lines
