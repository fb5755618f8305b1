"""labapp-batch end to end, in-process (so the no-network guard of conftest.py applies)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lab_app.cli import main

from helpers import copy_samples


@pytest.fixture
def samples(tmp_path) -> Path:
    return copy_samples(tmp_path / "in")


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_all_good_inputs_exit_0_with_json_csv_and_masks(samples, model_dir, tmp_path):
    out = tmp_path / "out"
    rc = main([str(samples), "--out", str(out), "--model", str(model_dir), "--device", "cpu",
               "--save-masks", "--quiet"])
    assert rc == 0
    doc = _results(out)
    assert doc["device"] == "CPU: ONNX Runtime"
    assert {"name", "version", "sha256"} <= set(doc["model"])
    assert doc["complete"] is True and "timing" in doc
    rows = doc["images"]
    n = len(list(samples.glob("*.jpg")))
    assert len(rows) == n
    for row in rows:
        assert row["status"] == "ok"
        assert set(row["probabilities"]) == {"Benign", "Early", "Pre", "Pro"}
        assert abs(sum(row["probabilities"].values()) - 1) < 1e-4
        assert row["cells"] >= 1
        if "out_of_scope" not in row["flags"]:
            assert row["prediction"] in row["probabilities"]
            assert row["confidence"] == pytest.approx(max(row["probabilities"].values()))
        mask = np.asarray(Image.open(out / "masks" / f"{Path(row['path']).stem}.png"))
        assert mask.shape == (row["height"], row["width"])
        assert set(np.unique(mask)) <= {0, 255} and mask.max() == 255
    with open(out / "results.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [r["path"] for r in csv_rows] == [r["path"] for r in rows]
    assert not (out / "results.partial.jsonl").exists()


def test_bad_inputs_become_error_rows_and_exit_3(samples, model_dir, tmp_path, capsys):
    (samples / "empty.jpg").write_bytes(b"")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    out = tmp_path / "out"
    rc = main([str(samples), str(notes), str(tmp_path / "missing.png"), "--out", str(out),
               "--model", str(model_dir), "--device", "cpu", "--quiet"])
    assert rc == 3
    rows = {Path(r["path"]).name: r for r in _results(out)["images"]}
    for name in ("empty.jpg", "notes.txt", "missing.png"):
        assert rows[name]["status"] == "error"
        assert rows[name]["error"] and "\n" not in rows[name]["error"]
        assert "Traceback" not in rows[name]["error"]
    assert sum(r["status"] == "ok" for r in rows.values()) == len(rows) - 3
    err = capsys.readouterr().err
    assert "empty.jpg" in err and "Traceback" not in err


def test_usage_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path)])  # --out missing
    assert exc.value.code == 2
    (tmp_path / "emptydir").mkdir()
    assert main([str(tmp_path / "emptydir"), "--out", str(tmp_path / "o"), "--quiet"]) == 2


def test_a_refused_model_is_one_clear_message(samples, tmp_path, capsys):
    rc = main([str(samples), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "nomodel")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_resume_reuses_finished_rows(samples, model_dir, tmp_path):
    out = tmp_path / "out"
    args = [str(samples), "--out", str(out), "--model", str(model_dir), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    first = _results(out)["images"]
    # Simulate an interrupted run: only the journal of the first three images is left.
    (out / "results.partial.jsonl").write_text(
        "".join(json.dumps({**r, "analysed_at": "2000-01-01T00:00:00+00:00"}) + "\n" for r in first[:3])
        + '{"path": "torn line')
    (out / "results.json").unlink()
    assert main(args + ["--resume"]) == 0
    again = _results(out)["images"]
    assert [r["path"] for r in again] == [r["path"] for r in first]
    assert [r["analysed_at"] for r in again[:3]] == ["2000-01-01T00:00:00+00:00"] * 3
    assert all(r["analysed_at"] != "2000-01-01T00:00:00+00:00" for r in again[3:])


def test_results_are_the_same_on_a_second_run(samples, model_dir, tmp_path):
    base = [str(samples), "--model", str(model_dir), "--device", "cpu", "--quiet"]
    main(base + ["--out", str(tmp_path / "a")])
    main(base + ["--out", str(tmp_path / "b")])
    a, b = _results(tmp_path / "a")["images"], _results(tmp_path / "b")["images"]
    assert [(r["prediction"], r["cells"], r["flags"]) for r in a] == \
           [(r["prediction"], r["cells"], r["flags"]) for r in b]


def test_report_creates_a_case_and_a_pdf(samples, model_dir, tmp_path):
    from pypdf import PdfReader

    from lab_app.core.cases import CaseStore
    out = tmp_path / "out"
    db = tmp_path / "cases.sqlite3"
    args = [str(samples), "--out", str(out), "--model", str(model_dir), "--device", "cpu", "--quiet",
            "--report", "--patient-id", "P-77", "--patient-name", "Фёдор Тест", "--sample-id", "S-9",
            "--technician", "A. Tech", "--db", str(db)]
    assert main(args) == 0
    text = "".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)
    assert "P-77" in text and "Фёдор Тест" in text and "S-9" in text
    assert "For research use only" in text
    with CaseStore(db) as store:
        cases = store.search("P-77")
        assert len(cases) == 1
        assert len(store.get_case(cases[0].id).images) == len(list(samples.glob("*.jpg")))
    # A second run keeps the first report under another name instead of overwriting it.
    assert main(args) == 0
    assert len(list(out.glob("report*.pdf"))) == 2


def test_report_needs_a_patient_id(samples, tmp_path):
    assert main([str(samples), "--out", str(tmp_path / "o"), "--report", "--quiet"]) == 2


def test_report_uses_the_pictures_of_the_analysis(samples, model_dir, tmp_path, monkeypatch):
    """--report draws the maps and outlines the analysis made: no image is decoded, segmented
    or inferred again for the report, and the kept pictures' folder is removed afterwards."""
    import tempfile

    from pypdf import PdfReader

    from lab_app.core import report_assembly
    from model.inference import InferenceEngine

    def refuse(*_a, **_k):
        raise AssertionError("the report redid work the analysis had done")
    for name in ("load_original", "load_rgb", "segmentation_overlay_for"):
        monkeypatch.setattr(report_assembly, name, refuse)
    monkeypatch.setattr(InferenceEngine, "predict", refuse)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "out"
    assert main([str(samples), "--out", str(out), "--model", str(model_dir), "--device", "cpu",
                 "--quiet", "--report", "--patient-id", "P-1", "--db", str(tmp_path / "c.sqlite3")]) == 0
    reader = PdfReader(out / "report.pdf")
    text = " ".join(page.extract_text() for page in reader.pages)
    n = len(list(samples.glob("*.jpg")))
    assert "Activation map" in text and "calibrated threshold" in text
    assert sum(len(page.images) for page in reader.pages) == 4 * n
    assert list((tmp_path / "tmp").iterdir()) == []
