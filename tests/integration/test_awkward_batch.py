"""labapp-batch on awkward inputs and outputs found by an adversarial pass (real fields, CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lab_app import cli
from lab_app.core import pipeline
from lab_app.core.results_io import JOURNAL


@pytest.fixture
def fields(shipped_fields, tmp_path) -> Path:
    """3 real fields of different classes in one folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    for paths in list(shipped_fields.values())[:3]:
        shutil.copy(paths[0], folder / paths[0].name)
    return folder


def _args(inputs, out: Path, model_dir: Path, *extra: str) -> list[str]:
    return [*map(str, inputs), "--out", str(out), "--model", str(model_dir), "--device", "cpu",
            "--quiet", *extra]


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["images"]


def _interrupted(out: Path) -> None:
    """As if the batch had been stopped after every row was journalled."""
    with open(out / JOURNAL, "w", encoding="utf-8") as journal:
        for r in _rows(out):
            journal.write(json.dumps(r, ensure_ascii=False) + "\n")


def _record_prepared(monkeypatch) -> list[str]:
    prepared = []
    real = pipeline.prepare_image

    def prepare(i, p, *a, **kw):
        prepared.append(Path(p).name)
        return real(i, p, *a, **kw)
    monkeypatch.setattr(pipeline, "prepare_image", prepare)
    return prepared


def test_resume_analyses_again_a_file_replaced_since(fields, shipped_fields, model_dir, tmp_path,
                                                     monkeypatch):
    """--resume kept the row of a file whose content had been replaced by another field: the
    results then gave the old call beside a file that no longer holds that image."""
    out = tmp_path / "out"
    assert cli.main(_args([fields], out, model_dir)) == 0
    _interrupted(out)
    first = sorted(fields.iterdir())[0]
    other = list(shipped_fields.values())[3][0]          # a field of the fourth class
    shutil.copy(other, first)
    prepared = _record_prepared(monkeypatch)
    assert cli.main(_args([fields], out, model_dir, "--resume")) == 0
    assert prepared == [first.name]                      # the unchanged ones are reused
    row = next(r for r in _rows(out) if Path(r["path"]) == first)
    import hashlib
    assert row["sha256"] == hashlib.sha256(other.read_bytes()).hexdigest()


def test_resume_tries_a_failed_file_again(fields, shipped_fields, model_dir, tmp_path,
                                          monkeypatch):
    """A field that was still being copied (0 bytes) failed; once complete, --resume analyses it
    instead of keeping the failure."""
    late = fields / "late.jpg"
    late.write_bytes(b"")
    out = tmp_path / "out"
    assert cli.main(_args([fields], out, model_dir)) == cli.EXIT_SOME_FAILED
    _interrupted(out)
    shutil.copy(list(shipped_fields.values())[3][0], late)
    prepared = _record_prepared(monkeypatch)
    assert cli.main(_args([fields], out, model_dir, "--resume")) == 0
    assert prepared == ["late.jpg"]
    assert all(r["status"] == "ok" for r in _rows(out))


@pytest.mark.parametrize("where", ["inside", "same"])
def test_a_second_run_does_not_analyse_its_own_masks(fields, model_dir, where):
    """--out inside the input folder (or the input folder itself) with --save-masks: the second
    run analysed the first one's masks as fields (and put them into the case with --report)."""
    out = fields / "results" if where == "inside" else fields
    args = _args([fields], out, model_dir, "--save-masks")
    assert cli.main(args) == 0
    assert len(list((out / "masks").glob("*.png"))) == 3
    assert cli.main(args) == 0
    assert sorted(Path(r["path"]).name for r in _rows(out)) == sorted(
        p.name for p in fields.glob("*.jpg"))


def test_an_input_folder_without_images_is_named(fields, model_dir, tmp_path, capsys):
    """A second folder without images (mistyped, or a folder named x.jpg) was passed over in
    silence beside the first; the batch said only how many it analysed."""
    empty = tmp_path / "x.jpg"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image", encoding="utf-8")
    assert cli.main(_args([fields, empty], tmp_path / "out", model_dir)) == 0
    err = capsys.readouterr().err
    assert f"the folder {empty} holds no image files" in err and err.count("\n") == 1
    assert len(_rows(tmp_path / "out")) == 3


def test_a_failed_file_is_named_once_in_its_error_line(fields, model_dir, tmp_path, capsys):
    """The line read 'error: /in/zero.jpg: zero.jpg: the file is empty (0 bytes).'"""
    (fields / "zero.jpg").write_bytes(b"")
    assert cli.main(_args([fields], tmp_path / "out", model_dir)) == cli.EXIT_SOME_FAILED
    err = capsys.readouterr().err
    assert f"error: {fields / 'zero.jpg'}: the file is empty (0 bytes).\n" in err
    row = next(r for r in _rows(tmp_path / "out") if r["status"] == "error")
    assert row["error"] == "zero.jpg: the file is empty (0 bytes)."   # results keep the name
