"""Import rules of lab_app.gui (ARCHITECTURE.md): the GUI reaches the model only through the engine
interface, never imports torch or onnxruntime itself, and core never imports the GUI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUI_FILES = sorted((REPO / "lab_app" / "gui").glob("*.py")) + [REPO / "lab_app" / "app.py"]
MODEL_INTERFACE = {"model.inference", "model.errors", "model.modeldir", "model.classes"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", GUI_FILES, ids=lambda p: p.name)
def test_gui_uses_only_the_engine_interface_of_model(path):
    names = _imports(path)
    assert not {n for n in names if n.split(".")[0] in {"torch", "torchvision", "onnxruntime"}}
    assert {n for n in names if n.split(".")[0] == "model"} <= MODEL_INTERFACE
