"""What labapp-batch writes, checked against an oracle outside the code that writes it: the
low-confidence flag against the model card's threshold, cell counts in every output, a real
interrupted run and its resume (shipped real fields, tests/data/fields; CPU)."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from lab_app import cli
from lab_app.core import pipeline
from lab_app.core.results_io import JOURNAL, ResultsWriter

from helpers import copy_fields

BIG_MODEL_FILES = ("model.onnx", "weights.pt", "feature_density.npz")


@pytest.fixture
def fields(shipped_fields, tmp_path) -> Path:
    """8 real fields (2 per class: different smears) in one folder."""
    return copy_fields(shipped_fields, tmp_path / "in", (0, 5))


def _args(fields: Path, out: Path, model_dir: Path, *extra: str) -> list[str]:
    return [str(fields), "--out", str(out), "--model", str(model_dir), "--device", "cpu",
            "--quiet", *extra]


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["images"]


def _journal(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / JOURNAL).read_text(encoding="utf-8").splitlines()]


def model_copy(model_dir: Path, dst: Path, **changes) -> Path:
    """The model dir with model.json edited (the big files linked, not copied)."""
    dst.mkdir()
    for f in model_dir.iterdir():
        if f.name in BIG_MODEL_FILES:
            (dst / f.name).symlink_to(f.resolve())
        elif f.is_file():
            shutil.copy(f, dst / f.name)
    meta = json.loads((dst / "model.json").read_text(encoding="utf-8"))
    meta.update(changes)
    (dst / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    from model.manifest import write_manifest
    write_manifest(dst)   # an edited model.json is another model, with its own identity
    return dst


def _split_threshold(confidences: list[float]) -> float:
    """A threshold in the widest gap between the measured confidences with at least two calls
    on each side (the fields all sit at 0.91-0.99, so a fixed value would not discriminate)."""
    c = sorted(confidences)
    gaps = [(c[i + 1] - c[i], i) for i in range(1, len(c) - 2)]
    width, i = max(gaps)
    assert width > 1e-4, f"no usable gap between the confidences {c}"
    return round((c[i] + c[i + 1]) / 2, 6)


# --- the low-confidence flag: the model card's threshold --------------------------------------

def test_the_model_cards_threshold_decides_the_flag(fields, model_dir, tmp_path):
    assert cli.main(_args(fields, tmp_path / "probe", model_dir)) == 0
    conf = {r["path"]: r["confidence"] for r in _rows(tmp_path / "probe")}
    t = _split_threshold(list(conf.values()))
    card = json.loads((model_dir / "model.json").read_text())["low_confidence_threshold"]
    # The test discriminates: the bundled card's threshold would flag other fields.
    assert {p for p, c in conf.items() if c < t} != {p for p, c in conf.items() if c < card}
    edited = model_copy(model_dir, tmp_path / "model", low_confidence_threshold=t)
    out = tmp_path / "out"
    assert cli.main(_args(fields, out, edited)) == 0
    rows = _rows(out)
    assert json.loads((out / "results.json").read_text())["model"]["low_confidence_threshold"] == t
    flagged = {r["path"] for r in rows if "low_confidence" in r["flags"]}
    assert flagged == {r["path"] for r in rows if r["confidence"] < t}
    assert 2 <= len(flagged) <= len(rows) - 2
    # --threshold overrides the card, in both directions.
    out2 = tmp_path / "out2"
    assert cli.main(_args(fields, out2, edited, "--threshold", "0.5")) == 0
    assert not any("low_confidence" in r["flags"] for r in _rows(out2))
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        csv_flags = {r["path"]: r["flags"].split(";") for r in csv.DictReader(f)}
    assert {p for p, fl in csv_flags.items() if "low_confidence" in fl} == flagged


# --- counts in every output -------------------------------------------------------------------

def _components(mask_png: Path) -> int:
    mask = cv2.imread(str(mask_png), cv2.IMREAD_GRAYSCALE)
    n, _ = cv2.connectedComponents((mask > 0).astype(np.uint8), connectivity=8)
    return n - 1


def test_cell_counts_agree_in_json_csv_masks_case_and_report(fields, model_dir, tmp_path):
    from pypdf import PdfReader

    from lab_app.core.cases import CaseStore
    out, db = tmp_path / "out", tmp_path / "cases.sqlite3"
    assert cli.main(_args(fields, out, model_dir, "--save-masks", "--report", "--patient-id",
                          "P-1", "--technician", "T", "--db", str(db))) == 0
    rows = _rows(out)
    cells = {Path(r["path"]).name: r["cells"] for r in rows}
    # The oracle: the cells the saved mask shows (each cell is one outlined component).
    assert cells == {name: _components(out / "masks" / f"{Path(name).stem}.png") for name in cells}
    assert len(set(cells.values())) > 2 and min(cells.values()) >= 1
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        assert {Path(r["path"]).name: int(r["cells"]) for r in csv.DictReader(f)} == cells
    with CaseStore(db) as store:
        case = store.get_case(store.search("P-1")[0].id)
        assert {Path(i.path).name: i.result.cells for i in case.images} == cells
    text = "\n".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)
    printed = sorted(int(n) for n in re.findall(r"(\d+) stained regions?\b", text))
    assert printed == sorted(cells.values())


# --- an interrupted run and its resume --------------------------------------------------------

def _interrupt_after(monkeypatch, n: int) -> None:
    """Ctrl-C while the batch runs, once ``n`` results are saved (the writer itself unchanged)."""
    real = ResultsWriter.add
    seen = []

    def add(self, index, result, from_journal=False):
        real(self, index, result, from_journal)
        seen.append(index)
        if len(seen) == n:
            raise KeyboardInterrupt
    monkeypatch.setattr(ResultsWriter, "add", add)


def _record_prepared(monkeypatch) -> list[str]:
    prepared: list[str] = []
    real = pipeline.prepare_image

    def prepare(i, p, *a):
        prepared.append(Path(p).name)
        return real(i, p, *a)
    monkeypatch.setattr(pipeline, "prepare_image", prepare)
    return prepared


def test_ctrl_c_keeps_the_journal_and_resume_finishes_the_rest(fields, model_dir, tmp_path,
                                                              monkeypatch, capsys):
    out = tmp_path / "out"
    args = _args(fields, out, model_dir)
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        assert cli.main(args) == cli.EXIT_INTERRUPTED
    assert "--resume" in capsys.readouterr().err
    journal = _journal(out)
    partial = json.loads((out / "results.json").read_text())
    assert partial["complete"] is False
    assert [r["path"] for r in journal] == [r["path"] for r in partial["images"]]
    assert len(journal) == 3 and all(r["status"] == "ok" and r["prediction"] for r in journal)
    prepared = _record_prepared(monkeypatch)
    assert cli.main(args + ["--resume"]) == 0
    rows = _rows(out)
    names = sorted(p.name for p in fields.iterdir())
    assert [Path(r["path"]).name for r in rows] == names
    assert sorted(prepared) == sorted(set(names) - {Path(r["path"]).name for r in journal})
    assert rows[:3] == journal                      # reused as they were, not recomputed
    assert json.loads((out / "results.json").read_text())["complete"] is True
    assert not (out / JOURNAL).exists()


def test_the_journal_holds_every_row_while_the_batch_runs(fields, model_dir, tmp_path,
                                                         monkeypatch):
    """Each finished image is in the journal before the next one is handed on (a killed
    process keeps it), whatever the snapshot interval."""
    out = tmp_path / "out"
    lines = []
    real = ResultsWriter.add

    def add(self, index, result, from_journal=False):
        real(self, index, result, from_journal)
        lines.append(len((out / JOURNAL).read_text(encoding="utf-8").splitlines()))
    monkeypatch.setattr(ResultsWriter, "add", add)
    assert cli.main(_args(fields, out, model_dir)) == 0
    assert lines == list(range(1, 9))


def test_resume_recomputes_rows_of_another_model(fields, model_dir, tmp_path, monkeypatch):
    other = model_copy(model_dir, tmp_path / "other", name="other-model", version="9.9.9",
                       sha256="0" * 64)
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        _interrupt_after(m, 4)
        assert cli.main(_args(fields, out, other)) == cli.EXIT_INTERRUPTED
    from model.manifest import verify_model
    assert {r["model"]["sha256"] for r in _journal(out)} == {verify_model(other).identity}
    prepared = _record_prepared(monkeypatch)
    assert cli.main(_args(fields, out, model_dir, "--resume")) == 0
    assert len(prepared) == 8
    assert {r["model"]["sha256"] for r in _rows(out)} == {verify_model(model_dir).identity}


def test_resume_recomputes_rows_of_another_segmentation_preset(fields, model_dir, tmp_path,
                                                              monkeypatch):
    from lab_app.core.segmentation import preset
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        _interrupt_after(m, 4)
        assert cli.main(_args(fields, out, model_dir, "--segmentation", "dataset")) == 130
    assert all(r["segmentation"] == preset("dataset").to_json() for r in _journal(out))
    prepared = _record_prepared(monkeypatch)
    assert cli.main(_args(fields, out, model_dir, "--resume")) == 0
    assert len(prepared) == 8
    assert all(r["segmentation"] == preset("default").to_json() for r in _rows(out))


def test_a_new_run_without_resume_starts_again(fields, model_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        _interrupt_after(m, 4)
        assert cli.main(_args(fields, out, model_dir)) == 130
    prepared = _record_prepared(monkeypatch)
    assert cli.main(_args(fields, out, model_dir)) == 0
    assert len(prepared) == 8 and len(_rows(out)) == 8


def test_resume_with_another_threshold_flags_the_reused_rows_by_it(fields, model_dir, tmp_path,
                                                                   monkeypatch):
    """The journal's rows keep their calls, but their low-confidence flag follows the threshold
    of the run that finishes the batch, like the rows it computes."""
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        _interrupt_after(m, 7)
        assert cli.main(_args(fields, out, model_dir, "--threshold", "0.999")) == 130
    assert all("low_confidence" in r["flags"] for r in _journal(out))
    assert cli.main(_args(fields, out, model_dir, "--resume", "--threshold", "0.95")) == 0
    rows = _rows(out)
    assert len(rows) == 8
    flagged = {r["path"] for r in rows if "low_confidence" in r["flags"]}
    assert flagged == {r["path"] for r in rows if r["confidence"] < 0.95}
    assert len(flagged) < 8
    assert json.loads((out / "results.json").read_text())["low_confidence_threshold"] == 0.95
