"""labapp-eval says when the model trained on the images it is evaluated on, by name or content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from model.evaluate import evaluate_folder, main
from model.inference import InferenceEngine

BUNDLED = Path(__file__).resolve().parents[2] / "resources" / "models" / "mobilenetv2-all-2.3.0"


def _folder(shipped_fields, root: Path) -> Path:
    """Per class: one training field under its own name, one renamed copy, one new field."""
    for cls, paths in shipped_fields.items():
        d = root / cls
        d.mkdir(parents=True)
        shutil.copy(paths[0], d / paths[0].name)                       # seen, same name
        shutil.copy(paths[1], d / f"renamed-{cls}.jpg")                # seen, other name
        (d / f"new-{cls}.jpg").write_bytes(paths[2].read_bytes() + b"new")   # other content
    return root


def test_overlap_by_name_and_content_and_figures_for_the_rest(shipped_fields, tmp_path, capsys):
    data = _folder(shipped_fields, tmp_path / "data")
    rep = evaluate_folder(InferenceEngine(BUNDLED, device="cpu"), data)
    assert rep["training_overlap"] == {"images": 8, "of": 12, "known": True}
    assert rep["n"] == 12 and rep["unseen"]["n"] == 4
    out = tmp_path / "eval.json"
    assert main([str(data), "--model", str(BUNDLED), "--device", "cpu", "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: the model trained on 8 of these 12 images" in err
    assert "On the 4 images it did not train on" in err
    assert json.loads(out.read_text())["training_overlap"]["images"] == 8


def test_no_warning_on_images_the_model_never_saw(shipped_fields, tmp_path, capsys):
    root = tmp_path / "new"
    for cls, paths in shipped_fields.items():
        (root / cls).mkdir(parents=True)
        (root / cls / "x.jpg").write_bytes(paths[3].read_bytes() + b"!")
    assert main([str(root), "--model", str(BUNDLED), "--device", "cpu"]) == 0
    assert "warning" not in capsys.readouterr().err
