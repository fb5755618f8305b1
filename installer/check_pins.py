"""Refuse a build venv holding a package that the constraints file does not pin exactly.

Usage: python installer/check_pins.py installer/constraints-cpu.txt   (run with the build venv's
python). Exit 1 with the list of unpinned or mismatched packages; 0 when everything matches.
pip, setuptools and wheel come with the venv itself and are not bundled; the project is the app.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
from pathlib import Path

IGNORED = {"pip", "setuptools", "wheel", "all-subtype-workstation"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req, _, marker = line.partition(";")
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", req.strip())
        if not m:
            raise SystemExit(f"{path}: not an exact pin: {raw!r}")
        if marker.strip() and not _marker_applies(marker.strip()):
            continue
        pins[canonical(m.group(1))] = m.group(2)
    return pins


def _marker_applies(marker: str) -> bool:
    m = re.fullmatch(r"sys_platform\s*==\s*['\"]([^'\"]+)['\"]", marker)
    if not m:
        raise SystemExit(f"unsupported environment marker {marker!r} (only sys_platform == '...')")
    return sys.platform == m.group(1)


def same_version(installed: str, pin: str) -> bool:
    """Exact match; a pin without a local label also accepts one (PyTorch's 2.14.1+cu130)."""
    return installed == pin or ("+" not in pin and installed.split("+", 1)[0] == pin)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    pins = read_pins(Path(argv[0]))
    problems = []
    for dist in md.distributions():
        name = canonical(dist.metadata["Name"] or "")
        if name in IGNORED:
            continue
        if name not in pins:
            problems.append(f"{name} {dist.version} is installed but not pinned")
        elif not same_version(dist.version, pins[name]):
            problems.append(f"{name} {dist.version} is installed but {pins[name]} is pinned")
    if problems:
        print("check_pins: the build venv does not match " + argv[0] + ":\n  " + "\n  ".join(problems),
              file=sys.stderr)
        return 1
    print(f"check_pins: {len(pins)} pinned packages, build venv matches")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
