"""Refuse a build venv holding a package that the constraints file does not pin exactly.

Usage: python installer/check_pins.py installer/constraints-cpu.txt [--flavor cpu|cuda]   (run
with the build venv's python). Exit 1 with the list of unpinned or mismatched packages; 0 when
everything matches. pip, setuptools and wheel come with the venv itself and are not bundled; the
project is the app.

--flavor cuda also refuses a torch that was not built with CUDA (torch.version.cuda is None),
read from torch/version.py without importing torch: PyPI's Windows torch wheels are CPU-only, so a
Windows cuda build without the PyTorch CUDA index would otherwise ship a CPU torch.
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


_CUDA_LABEL = re.compile(r"cu\d+")


def same_version(installed: str, pin: str) -> bool:
    """Exact match. A pin without a local label also accepts a CUDA label (2.14.1+cu130 for a
    pinned 2.14.1: the same release from PyTorch's CUDA index), never another one: 2.14.1+cpu is
    not 2.14.1. A pin with a label (the Windows torch pins) needs exactly that label."""
    if installed == pin:
        return True
    base, _, label = installed.partition("+")
    return "+" not in pin and base == pin and bool(_CUDA_LABEL.fullmatch(label))


def torch_cuda_version(torch_dir: Path) -> str | None:
    """torch.version.cuda of the torch package in ``torch_dir``, read from its version.py."""
    text = (torch_dir / "version.py").read_text(encoding="utf-8")
    m = re.search(r"^cuda\s*(?::[^=\n]*)?=\s*(?:'([^']*)'|\"([^\"]*)\"|None)\s*$", text, re.M)
    if not m:
        raise SystemExit(f"{torch_dir / 'version.py'}: no 'cuda = ...' line; cannot tell whether "
                         "this torch has CUDA")
    return m.group(1) or m.group(2) or None


def installed_torch_cuda() -> tuple[str, str | None] | None:
    """(torch version, torch.version.cuda) of the installed torch, or None without torch."""
    try:
        dist = md.distribution("torch")
    except md.PackageNotFoundError:
        return None
    return dist.version, torch_cuda_version(Path(dist.locate_file("torch")))


def venv_problems(pins: dict[str, str], installed, flavor: str | None = None,
                  torch: tuple[str, str | None] | None = None) -> list[str]:
    """What is wrong with a build venv: ``installed`` maps canonical names to versions (a dict, or
    (name, version) pairs: two copies of one distribution are both checked); ``torch``
    is (version, torch.version.cuda) of the installed torch, checked for the cuda flavor."""
    problems = []
    items = installed.items() if isinstance(installed, dict) else installed
    for name, version in sorted(items):
        if name in IGNORED:
            continue
        if name not in pins:
            problems.append(f"{name} {version} is installed but not pinned")
        elif not same_version(version, pins[name]):
            problems.append(f"{name} {version} is installed but {pins[name]} is pinned")
    if flavor == "cuda":
        if torch is None:
            problems.append("torch is not installed; the cuda flavor needs it")
        elif torch[1] is None:
            problems.append(f"torch {torch[0]} is a CPU-only build (torch.version.cuda is None); "
                            "the cuda flavor needs a CUDA build (Windows: build.ps1 -TorchIndexUrl "
                            "with the PyTorch CUDA wheel index)")
    return problems


def main(argv: list[str]) -> int:
    flavor = None
    if len(argv) == 3 and argv[1] == "--flavor" and argv[2] in ("cpu", "cuda"):
        flavor, argv = argv[2], argv[:1]
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    pins = read_pins(Path(argv[0]))
    installed = [(canonical(d.metadata["Name"] or ""), d.version) for d in md.distributions()]
    torch = installed_torch_cuda() if flavor == "cuda" else None
    problems = venv_problems(pins, installed, flavor, torch)
    if torch and torch[1]:
        print(f"check_pins: torch {torch[0]} built with CUDA {torch[1]}")
    if problems:
        print("check_pins: the build venv does not match " + argv[0] + ":\n  " + "\n  ".join(problems),
              file=sys.stderr)
        return 1
    print(f"check_pins: {len(pins)} pinned packages, build venv matches")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
