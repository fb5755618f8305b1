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


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(package: str):
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("path", _files("model"), ids=lambda p: p.name)
def test_model_package_imports_no_qt_and_no_lab_app(path):
    bad = {n for n in _imports(path) if n.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "lab_app"}}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", _files("lab_app/core"), ids=lambda p: p.name)
def test_core_imports_no_qt_and_no_gui(path):
    bad = {n for n in _imports(path) if n.split(".")[0] in {"PySide6", "PyQt5", "PyQt6"}
           or n.startswith("lab_app.gui")}
    assert not bad, f"{path.name} imports {bad}"


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
