"""Byte-identical inputs are said, not merged away: every input keeps its row in results.json/csv,
the case and the report; a copy (or a symlink) names its first occurrence in ``duplicate_of``."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from lab_app import cli
from lab_app.core.case_models import Patient
from lab_app.core.cases import CaseStore
from lab_app.core.results import ImageResult

from helpers import SAMPLES


@pytest.fixture
def inputs(tmp_path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(SAMPLES[0], d / "a.jpg")
    shutil.copy(SAMPLES[0], d / "b-copy-of-a.jpg")
    shutil.copy(SAMPLES[3], d / "c.jpg")
    (d / "d-link-to-c.jpg").symlink_to(d / "c.jpg")
    return d


def test_every_input_keeps_its_row_and_duplicates_name_the_first(inputs, model_dir, tmp_path):
    out = tmp_path / "out"
    db = tmp_path / "cases.sqlite3"
    assert cli.main([str(inputs), "--out", str(out), "--model", str(model_dir), "--quiet",
                     "--report", "--patient-id", "P-DUP", "--db", str(db)]) == 0
    rows = {Path(r["path"]).name: r for r in
            json.loads((out / "results.json").read_text(encoding="utf-8"))["images"]}
    assert set(rows) == {"a.jpg", "b-copy-of-a.jpg", "c.jpg", "d-link-to-c.jpg"}
    assert rows["a.jpg"]["duplicate_of"] is None and rows["c.jpg"]["duplicate_of"] is None
    assert Path(rows["b-copy-of-a.jpg"]["duplicate_of"]).name == "a.jpg"
    assert Path(rows["d-link-to-c.jpg"]["duplicate_of"]).name == "c.jpg"
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        csv_rows = {Path(r["path"]).name: r["duplicate_of"] for r in csv.DictReader(f)}
    assert Path(csv_rows["b-copy-of-a.jpg"]).name == "a.jpg" and csv_rows["a.jpg"] == ""
    with CaseStore(db) as store:
        (info,) = store.list_cases()
        case = store.get_case(info.id)
    assert len(case.images) == 4                      # not 2: nothing merged away
    dup = {Path(i.path).name: i.result.duplicate_of for i in case.images}
    assert Path(dup["b-copy-of-a.jpg"]).name == "a.jpg" and dup["a.jpg"] is None
    from pypdf import PdfReader
    text = " ".join(" ".join((p.extract_text() or "").split())
                    for p in PdfReader(out / "report.pdf").pages)
    assert "2 of 4 image(s) are byte-identical copies" in text
    assert "duplicate of a.jpg" in text


def _result(path: Path, sha: str) -> ImageResult:
    return ImageResult(path=str(path), status="ok", prediction="Pre", confidence=0.9,
                       probabilities={"Pre": 0.9}, cells=3, sha256=sha)


def test_the_store_keeps_a_copy_apart_but_follows_a_moved_file(tmp_path):
    a, copy, moved = tmp_path / "a.jpg", tmp_path / "copy.jpg", tmp_path / "moved.jpg"
    a.write_bytes(b"x")
    copy.write_bytes(b"x")
    with CaseStore(tmp_path / "c.sqlite3") as store:
        case = store.create_case(patient=Patient("P"), technician="T",
                                 results=[_result(a, "11" * 32)])
        img = store.add_result(case.id, _result(copy, "11" * 32))
        assert img.result.duplicate_of == str(a)            # the first file is still there
        again = store.add_result(case.id, _result(copy, "11" * 32))
        assert again.id == img.id                           # re-analysis of the copy itself
        assert len(store.get_case(case.id).images) == 2
        a.rename(moved)                                     # the first file moved
        followed = store.add_result(case.id, _result(moved, "11" * 32))
        assert followed.path == str(moved) and followed.result.duplicate_of is None
        assert len(store.get_case(case.id).images) == 2
        assert store.verify_case(case.id).intact

