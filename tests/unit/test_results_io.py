"""The batch's result files, written by hand-made rows (no model): the journal line by line,
results.json and results.csv snapshots, what --resume reads back."""

from __future__ import annotations

import csv
import io
import json

import pytest

from lab_app.core.results import ImageResult
from lab_app.core.results_io import JOURNAL, ResultsWriter, clear_earlier_run, results_csv

CLASSES = ["Benign", "Early", "Pre", "Pro"]
NAMES = {"Benign": "Benign (hematogones)", "Early": "Early Pre-B ALL", "Pre": "Pre-B ALL",
         "Pro": "Pro-B ALL"}
HEADER = {"model": {"name": "m", "version": "1.2.3", "sha256": "ab" * 32},
          "low_confidence_threshold": 0.9, "device": "CPU"}


def row(name: str, prediction: str | None = "Pre", confidence: float = 0.912345, cells: int = 7,
        flags=(), **acq) -> ImageResult:
    probs = {"Benign": 0.01, "Early": 0.02, "Pre": 0.05, "Pro": 0.02}
    if prediction:
        probs[prediction] = confidence
    return ImageResult(path=f"/in/{name}", prediction=prediction,
                       confidence=confidence if prediction else None,
                       probabilities=probs if prediction else {}, cells=cells, flags=list(flags),
                       sha256="cd" * 32, width=224, height=200, device="CPU",
                       model=dict(HEADER["model"]), analysed_at="2026-01-02T03:04:05+00:00",
                       acquisition=acq)


def journal_lines(out) -> list[dict]:
    return [json.loads(line) for line in (out / JOURNAL).read_text(encoding="utf-8").splitlines()]


def test_each_row_is_in_the_journal_at_once_and_a_resumed_one_is_not_repeated(tmp_path):
    w = ResultsWriter(tmp_path, HEADER, CLASSES, NAMES, snapshot_every_s=1e9)
    a, b, c = row("a.jpg"), row("b.jpg", "Pro"), row("c.jpg", None, cells=0, flags=["no_cells"])
    w.add(0, a)
    assert journal_lines(tmp_path) == [a.to_row()]
    w.add(1, b, from_journal=True)                 # came from the journal: not written again
    w.add(2, c)
    assert journal_lines(tmp_path) == [a.to_row(), c.to_row()]
    assert not (tmp_path / "results.json").exists()          # no snapshot before its time
    w.close({"wall_s": 1.5}, complete=False)
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert doc == {**HEADER, "complete": False, "timing": {"wall_s": 1.5},
                   "images": [a.to_row(), b.to_row(), c.to_row()]}
    assert (tmp_path / JOURNAL).exists()           # kept for --resume


def test_snapshots_are_in_input_order_and_complete_removes_the_journal(tmp_path):
    w = ResultsWriter(tmp_path, HEADER, CLASSES, NAMES, snapshot_every_s=0)
    w.add(2, row("c.jpg"))
    w.add(0, row("a.jpg"))
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [r["path"] for r in doc["images"]] == ["/in/a.jpg", "/in/c.jpg"]
    assert doc["complete"] is False and "timing" not in doc
    w.add(1, row("b.jpg"))
    w.close({"wall_s": 2.0}, complete=True)
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [r["path"] for r in doc["images"]] == ["/in/a.jpg", "/in/b.jpg", "/in/c.jpg"]
    assert doc["complete"] is True and doc["timing"] == {"wall_s": 2.0}
    assert not (tmp_path / JOURNAL).exists()
    with open(tmp_path / "results.csv", newline="", encoding="utf-8") as f:
        assert [r["path"] for r in csv.DictReader(f)] == ["/in/a.jpg", "/in/b.jpg", "/in/c.jpg"]


def test_a_new_writer_appends_to_the_journal_and_the_last_row_of_a_path_wins(tmp_path):
    first = ResultsWriter(tmp_path, HEADER, CLASSES, NAMES, snapshot_every_s=1e9)
    first.add(0, row("a.jpg", "Pre"))
    first.add(1, row("b.jpg", "Pro"))
    first._journal.close()
    second = ResultsWriter(tmp_path, HEADER, CLASSES, NAMES, snapshot_every_s=1e9)
    second.add(0, row("a.jpg", "Early"))
    second._journal.close()
    with open(tmp_path / JOURNAL, "a", encoding="utf-8") as f:
        f.write('{"path": "/in/torn.jpg", "stat')             # killed mid-line
    back = ResultsWriter.read_journal(tmp_path)
    assert sorted(back) == ["/in/a.jpg", "/in/b.jpg"]
    assert back["/in/a.jpg"].prediction == "Early" and back["/in/b.jpg"].prediction == "Pro"
    assert back["/in/b.jpg"].to_row() == row("b.jpg", "Pro").to_row()
    assert ResultsWriter.read_journal(tmp_path / "nowhere") == {}


def _csv(rows: list[ImageResult]) -> list[dict]:
    return list(csv.DictReader(io.StringIO(results_csv([r.to_row() for r in rows], CLASSES, NAMES))))


def test_csv_columns_and_values():
    text = results_csv([row("a.jpg").to_row()], CLASSES, NAMES)
    assert text.splitlines()[0].split(",") == [
        "path", "status", "error", "prediction", "prediction_name", "confidence", "cells", "flags",
        "scope_reason", "sha256", "width", "height", "device", "model", "analysed_at",
        "p_Benign", "p_Early", "p_Pre", "p_Pro", "sharpness", "feature_distance", "colour_balance",
        "duplicate_of"]
    (r,) = _csv([row("a.jpg", "Early", 0.912345, cells=12, flags=["low_confidence", "out_of_focus"],
                     sharpness=0.123456, feature_distance=21.98765)])
    assert (r["prediction"], r["prediction_name"], r["confidence"], r["cells"]) == \
        ("Early", "Early Pre-B ALL", "0.9123", "12")
    assert r["flags"] == "low_confidence;out_of_focus"
    assert (r["p_Benign"], r["p_Early"], r["p_Pre"], r["p_Pro"]) == ("0.0100", "0.9123", "0.0500", "0.0200")
    assert (r["sharpness"], r["feature_distance"]) == ("0.123", "21.988")
    assert (r["model"], r["width"], r["height"], r["sha256"]) == ("m 1.2.3", "224", "200", "cd" * 32)
    assert r["analysed_at"] == "2026-01-02T03:04:05+00:00" and r["status"] == "ok"
    (none,) = _csv([row("b.jpg", None, cells=0, flags=["no_cells"])])
    assert (none["prediction"], none["prediction_name"], none["confidence"], none["cells"]) == \
        ("", "", "", "0")
    assert none["p_Pre"] == "" and none["sharpness"] == "" and none["feature_distance"] == ""
    err = ImageResult(path="/in/x.jpg", status="error", error="x.jpg: not an image", flags=["load_error"])
    (e,) = _csv([err])
    assert (e["status"], e["error"], e["cells"], e["flags"]) == ("error", "x.jpg: not an image", "", "load_error")


@pytest.mark.parametrize("balance, text", [
    ({"gains": [1.0123, 0.98, 1.1], "model_reads_balanced": True}, "gains 1.012 0.980 1.100"),
    ({"gains": [1.0, 1.0, 1.25], "model_reads_balanced": False},
     "gains 1.000 1.000 1.250 (segmentation and scope)"),
    ({"gains": [1.0, 1.0, 1.25]}, "gains 1.000 1.000 1.250"),
    ({"fallback": "no background found", "gains": [1, 1, 1]}, "left as captured: no background found"),
    ({}, ""),
])
def test_csv_says_how_the_colour_was_balanced(balance, text):
    (r,) = _csv([row("a.jpg", white_balance=balance)])
    assert r["colour_balance"] == text


def test_empty_values_are_empty_cells_and_lines_end_with_newline():
    err = ImageResult(path="/in/x.jpg", status="error", error=None, flags=["load_error"])
    text = results_csv([err.to_row()], CLASSES, NAMES)
    assert "\r" not in text and text.endswith("\n")
    (e,) = _csv([err])
    for key in ("error", "prediction", "prediction_name", "confidence", "cells", "scope_reason",
                "sha256", "width", "height", "device", "model", "analysed_at", "p_Pre",
                "sharpness", "feature_distance", "colour_balance", "duplicate_of"):
        assert e[key] == "", key
    kept = row("b.jpg", None, flags=["out_of_scope"])
    kept.scope_reason, kept.duplicate_of = "No stained cells like a smear's.", "/in/a.jpg"
    (k,) = _csv([kept])
    assert (k["scope_reason"], k["duplicate_of"]) == ("No stained cells like a smear's.", "/in/a.jpg")


def test_a_torn_line_inside_the_journal_loses_only_that_line(tmp_path):
    """A resumed run appends after the torn last line of the run before; an interrupt of that
    run must not hide the rows after it."""
    a, b = row("a.jpg"), row("b.jpg", "Pro")
    (tmp_path / JOURNAL).write_text(json.dumps(a.to_row()) + "\n" + '{"path": "/in/t' + "\n"
                                    + json.dumps(b.to_row()) + "\n", encoding="utf-8")
    assert sorted(ResultsWriter.read_journal(tmp_path)) == ["/in/a.jpg", "/in/b.jpg"]


def test_the_output_folder_is_created_with_its_parents(tmp_path):
    out = tmp_path / "batch" / "2026-01-02" / "run"
    ResultsWriter(out, HEADER, CLASSES, NAMES).close({}, complete=True)
    assert (out / "results.json").is_file() and (out / "results.csv").is_file()


def test_an_interrupt_between_the_two_snapshot_files_waits_until_both_are_written(tmp_path,
                                                                                   monkeypatch):
    """CI once saw results.json with 60 rows beside a results.csv with 1: SIGTERM fell between
    the two writes of the final snapshot. The pair is written with the signals held."""
    import signal

    import lab_app.core.results_io as results_io

    w = ResultsWriter(tmp_path, HEADER, CLASSES, NAMES, snapshot_every_s=1e9)
    w.add(0, row("a.jpg"))
    w.snapshot()
    w.add(1, row("b.jpg"))
    written = []
    real_write = results_io.atomic_write_text

    def write_then_interrupt(path, text, **kw):
        real_write(path, text, **kw)
        written.append(path.name)
        if path.name == "results.json":
            signal.raise_signal(signal.SIGINT)   # as Ctrl-C right after the first file

    monkeypatch.setattr(results_io, "atomic_write_text", write_then_interrupt)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            w.close({}, complete=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert written == ["results.json", "results.csv"]
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    lines = (tmp_path / "results.csv").read_text(encoding="utf-8").splitlines()
    assert len(doc["images"]) == 2 and len(lines) == 3


def test_a_journal_torn_inside_a_non_ascii_character_is_read_without_that_line(tmp_path):
    """A batch killed while writing the row of 'Zelle ß 血.jpg' left its journal cut inside the
    character 血; --resume then ended in a UnicodeDecodeError traceback."""
    a, torn = row("a.jpg"), row("Zelle ß 血.jpg", "Pro")
    whole = (json.dumps(a.to_row(), ensure_ascii=False) + "\n").encode("utf-8")
    cut = json.dumps(torn.to_row(), ensure_ascii=False).encode("utf-8")
    cut = cut[:cut.index("血".encode("utf-8")) + 1]
    (tmp_path / JOURNAL).write_bytes(whole + cut)
    assert sorted(ResultsWriter.read_journal(tmp_path)) == ["/in/a.jpg"]


def test_journal_lines_that_are_not_rows_are_ignored(tmp_path):
    """JSON that is not a row (null, a list, a row without its path) was a traceback."""
    a = row("a.jpg")
    (tmp_path / JOURNAL).write_text('null\n[1, 2]\n{"status": "ok"}\n"text"\n'
                                    + json.dumps(a.to_row()) + "\n", encoding="utf-8")
    assert sorted(ResultsWriter.read_journal(tmp_path)) == ["/in/a.jpg"]


def test_a_resumed_run_starts_its_rows_on_a_new_line_after_a_torn_one(tmp_path):
    """The row a resumed run appended went onto the torn last line of the run before, and was
    lost to the next --resume with it."""
    a, b = row("a.jpg"), row("b.jpg", "Pro")
    (tmp_path / JOURNAL).write_text(json.dumps(a.to_row()) + "\n" + '{"path": "/in/t',
                                    encoding="utf-8")
    w = ResultsWriter(tmp_path, HEADER, CLASSES, NAMES, snapshot_every_s=1e9)
    w.add(0, b)
    w._journal.close()
    assert sorted(ResultsWriter.read_journal(tmp_path)) == ["/in/a.jpg", "/in/b.jpg"]


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\").jpg", "+1.jpg", "-dash.jpg", "@SUM(A1).jpg"])
def test_file_names_that_look_like_formulas_are_text_in_the_csv(name):
    """A field named '=HYPERLINK(...).jpg' given as a relative path went into results.csv as a
    formula a spreadsheet runs (path, error and duplicate_of cells); the case CSV export already
    neutralises them."""
    failed = ImageResult(path=name, status="error", error=f"{name}: the file is empty (0 bytes).",
                         flags=["load_error"])
    dup = row("b.jpg")
    dup.duplicate_of = name
    a, b = _csv([failed, dup])
    assert a["path"] == "'" + name and a["error"].startswith("'" + name)
    assert b["duplicate_of"] == "'" + name and b["path"] == "/in/b.jpg"


def _mask(path, colour: bool = False) -> None:
    import cv2
    import numpy as np
    shape = (4, 4, 3) if colour else (4, 4)
    path.write_bytes(cv2.imencode(".png", np.full(shape, 255, np.uint8))[1].tobytes())


def test_clearing_an_earlier_run_removes_only_what_it_wrote(tmp_path):
    """A fresh batch into --out removes the earlier run's results and the masks named after its
    inputs (stem.png, stem-N.png); a file the results do not account for stays, and so does a
    report (never overwritten: --report keeps it under a dated name)."""
    out = tmp_path / "out"
    writer = ResultsWriter(out, HEADER, CLASSES, NAMES)
    writer.add(0, row("a.jpg"))
    writer.add(1, row("sub/a.jpg"))        # same stem: its mask was a-2.png
    writer.close({}, complete=False)       # interrupted: results.json and the journal
    (out / "report.pdf").write_bytes(b"%PDF")
    (out / "masks").mkdir()
    for name in ("a.png", "A-2.png"):
        _mask(out / "masks" / name)
    _mask(out / "masks" / "other.png")            # no input of that name
    _mask(out / "masks" / "a-3.png", colour=True)  # named like one, but not a mask
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    run = clear_earlier_run(out)
    assert run.found and (run.masks_removed, run.masks_left) == (2, 2)
    assert sorted(run.removed) == sorted([JOURNAL, "results.csv", "results.json"])
    assert sorted(p.name for p in out.rglob("*")) == ["a-3.png", "masks", "notes.txt", "other.png",
                                                      "report.pdf"]


def test_without_an_earlier_runs_results_nothing_is_removed(tmp_path):
    """A masks folder with no results of this program beside it is not its own (as far as it
    can tell): it stays."""
    (tmp_path / "masks").mkdir()
    _mask(tmp_path / "masks" / "a.png")
    run = clear_earlier_run(tmp_path)
    assert not run.found and run.removed == [] and run.masks_left == 1
    assert (tmp_path / "masks" / "a.png").exists()
