"""labapp-batch on awkward inputs and outputs found by an adversarial pass (real fields, CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

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


def test_a_fresh_run_into_an_earlier_one_leaves_no_mask_of_it(fields, model_dir, tmp_path,
                                                                capsys):
    """A second run without --resume into the same --out left the first run's masks in
    --out/masks beside its own results: the folder mixed two runs. The earlier run's results
    and masks are removed first; files the program did not write stay, and so does a report
    (never overwritten: --report keeps it under a dated name)."""
    out = tmp_path / "out"
    assert cli.main(_args([fields], out, model_dir, "--save-masks")) == 0
    first = sorted(p.name for p in (out / "masks").glob("*.png"))
    assert len(first) == 3
    (out / "report.pdf").write_bytes(b"%PDF-1.4 the first run's report")
    stem = Path(first[0]).stem
    Image.new("RGB", (4, 4), (200, 30, 90)).save(out / "masks" / f"{stem}-7.png")  # not a mask
    (out / "masks" / "notes.txt").write_text("the lab's own notes", encoding="utf-8")
    (out / "mine.txt").write_text("kept", encoding="utf-8")
    capsys.readouterr()
    one = tmp_path / "one"
    one.mkdir()
    kept_field = sorted(fields.glob("*.jpg"))[1]
    shutil.copy(kept_field, one / kept_field.name)

    assert cli.main(_args([one], out, model_dir, "--save-masks")) == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == sorted(
        [f"{kept_field.stem}.png", f"{stem}-7.png", "notes.txt"])
    assert [Path(r["path"]).name for r in _rows(out)] == [kept_field.name]
    assert (out / "report.pdf").exists() and (out / "mine.txt").exists()
    err = capsys.readouterr().err
    assert err == f"labapp-batch: {out / 'masks'} holds 2 files this program did not write; " \
                  "they are left there.\n"

    # Without --save-masks (and not --quiet): no mask of the earlier run is left, one line says so.
    args = [a for a in _args([one], out, model_dir) if a != "--quiet"]
    assert cli.main(args) == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{stem}-7.png", "notes.txt"]
    assert (f"labapp-batch: {out} held an earlier run; its results and 1 mask are removed"
            in capsys.readouterr().err)


def test_resume_keeps_the_earlier_runs_masks(fields, model_dir, tmp_path):
    """--resume continues the run in --out: its masks stay (only a fresh run removes them)."""
    out = tmp_path / "out"
    assert cli.main(_args([fields], out, model_dir, "--save-masks")) == 0
    _interrupted(out)
    masks = sorted(p.name for p in (out / "masks").glob("*.png"))
    assert cli.main(_args([fields], out, model_dir, "--save-masks", "--resume")) == 0
    assert sorted(p.name for p in (out / "masks").glob("*.png")) == masks and len(masks) == 3


def test_an_earlier_run_that_cannot_be_removed_ends_in_one_line_exit_1(fields, model_dir,
                                                                       tmp_path, monkeypatch,
                                                                       capsys):
    from lab_app.core import results_io
    out = tmp_path / "out"
    assert cli.main(_args([fields], out, model_dir)) == 0
    before = (out / "results.json").read_bytes()

    def refuse(out_dir):
        raise PermissionError(13, "Permission denied", str(out_dir / "results.json"))
    monkeypatch.setattr(results_io, "clear_earlier_run", refuse)
    capsys.readouterr()
    assert cli.main(_args([fields], out, model_dir)) == cli.EXIT_FATAL
    assert capsys.readouterr().err == (f"labapp-batch: the earlier results in {out} cannot be "
                                       "replaced (Permission denied); remove them or give another "
                                       "--out.\n")
    assert (out / "results.json").read_bytes() == before
