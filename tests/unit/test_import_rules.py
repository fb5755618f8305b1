"""Import direction: model never imports Qt or lab_app; lab_app.core never imports Qt or the GUI;
nothing imports torch at start-up."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TORCH_MODULES_ALLOWED = {"architecture.py", "augment.py", "train.py", "export.py", "distill.py"}


def _imports(path: Path, source: str | None = None) -> set[str]:
    """Every module a file imports, relative imports resolved against its package
    (``from ..gui import x`` in lab_app/core is lab_app.gui and lab_app.gui.x)."""
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    package = list(path.relative_to(REPO).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            if module:
                names.add(module)
                # `from lab_app import gui` imports lab_app.gui
                names |= {f"{module}.{a.name}" for a in node.names if a.name != "*"}
    return names


def _core_bad(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in {"PySide6", "PyQt5", "PyQt6"}
            or n == "lab_app.gui" or n.startswith("lab_app.gui.")}


def _files(package: str):
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("path", _files("model"), ids=lambda p: p.name)
def test_model_package_imports_no_qt_and_no_lab_app(path):
    bad = {n for n in _imports(path) if n.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "lab_app"}}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", _files("lab_app/core"), ids=lambda p: p.name)
def test_core_imports_no_qt_and_no_gui(path):
    bad = _core_bad(_imports(path))
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("source", [
    "from ..gui import main_window", "from .. import gui", "from ..gui.theme import CLASS_IDS",
    "from lab_app import gui", "import lab_app.gui.theme", "from PySide6 import QtCore",
    "def later():\n    from ..gui.dialogs import Dialogs\n"])
def test_the_core_rule_sees_every_way_of_importing_the_gui(source):
    assert _core_bad(_imports(REPO / "lab_app" / "core" / "any.py", source))


@pytest.mark.parametrize("source", [
    "from . import focus", "from .results import ImageResult", "from ..core import cases",
    "from model.inference import InferenceEngine", "import lab_app.guidance"])
def test_the_core_rule_lets_core_and_model_imports_pass(source):
    assert not _core_bad(_imports(REPO / "lab_app" / "core" / "any.py", source))


@pytest.mark.parametrize("path", _files("lab_app/core") + [REPO / "lab_app/cli.py"], ids=lambda p: p.name)
def test_core_and_cli_never_import_torch(path):
    assert not {n for n in _imports(path) if n.split(".")[0] in {"torch", "torchvision"}}


def test_torch_only_where_training_or_cuda_needs_it():
    for path in _files("model"):
        uses_torch = any(n.split(".")[0] == "torch" for n in _imports(path))
        if uses_torch and path.name not in TORCH_MODULES_ALLOWED | {"inference.py"}:
            pytest.fail(f"model/{path.name} imports torch")


def test_core_runs_without_qt_loaded():
    code = ("import sys\n"
            "import lab_app.core.pipeline, lab_app.core.cases, lab_app.core.report, lab_app.cli\n"
            "import model.inference, model.evaluate\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'torch'))]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
