"""labapp-batch's faults as a table: each ends in one line on stderr with its exit code, no
traceback, and the results files that exist are valid (an interrupted batch completes with
--resume)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab_app import cli
from lab_app.core.pipeline import AnalysisOptions
from lab_app.core import results_io
from lab_app.core.results_io import JOURNAL, ResultsWriter

from helpers import REPO, SAMPLES, copy_samples


@pytest.fixture
def fields(tmp_path) -> Path:
    return copy_samples(tmp_path / "fields", 4)


def _run(capsys, *argv) -> tuple[int, str]:
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:          # argparse's usage errors
        rc = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def _last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


def _results_valid(out: Path, n_at_least: int = 0) -> dict:
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert len(doc["images"]) >= n_at_least
    lines = (out / "results.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(doc["images"]) + 1
    return doc


def _no_engine(monkeypatch):
    """Fail the test if the model were loaded: the fault must be found before."""
    import model.inference

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the arguments were checked")
    monkeypatch.setattr(model.inference, "InferenceEngine", refuse)


# ------------------------------------------------------------------- argument values: exit 2
@pytest.mark.parametrize("argv, words", [
    (["--threshold", "nan"], "--threshold"),
    (["--threshold", "-1"], "between 0 and 1"),
    (["--threshold", "2"], "between 0 and 1"),
    (["--threshold", "0"], "between 0 and 1"),
    (["--threshold", "abc"], "not a number"),
    (["--report", "--patient-id", "P1", "--patient-dob", "1970-13-45"], "not a date"),
    (["--report", "--patient-id", "P1", "--collected", "yesterday"], "not a date"),
    (["--report", "--patient-id", "P1", "--patient-dob", "2999-01-01"], "in the future"),
    (["--report", "--patient-id", "  "], "empty"),
    (["--report", "--patient-id", "P1", "--patient-name", "\u202eevil"], "U+202E"),
    (["--report", "--patient-id", "P\u20661"], "U+2066"),
    (["--report", "--patient-id", "P1", "--db", "postgresql:/host/db"],
     "Give the PostgreSQL database as a URL, postgresql://user@host:port/dbname"),
    (["--report", "--patient-id", "P1", "--db", "mysql://host/db"], "not a mysql URL"),
])
def test_bad_option_values_are_refused_before_any_image(fields, tmp_path, capsys, monkeypatch,
                                                        argv, words):
    _no_engine(monkeypatch)
    monkeypatch.chdir(tmp_path)
    rc, err = _run(capsys, fields, "--out", tmp_path / "out", *argv)
    assert rc == cli.EXIT_USAGE
    assert words in _last_line(err)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob("postgresql*")) and not list(tmp_path.glob("mysql*"))


# ------------------------------------------------------------------ output folder: exit 1
def test_out_on_a_file(fields, tmp_path, capsys, monkeypatch):
    _no_engine(monkeypatch)
    out = tmp_path / "results.txt"
    out.write_text("keep me")
    rc, err = _run(capsys, fields, "--out", out)
    assert rc == cli.EXIT_FATAL and err.count("\n") == 1
    assert "is a file" in err and out.read_text() == "keep me"


def test_out_in_a_read_only_folder(fields, tmp_path, capsys, monkeypatch):
    _no_engine(monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:   # root writes anywhere: the refusal the folder would give
        def refuse(out):
            raise PermissionError(errno.EACCES, "Permission denied")
        monkeypatch.setattr(cli, "_probe_write", refuse)
    try:
        rc, err = _run(capsys, fields, "--out", ro / "out")
    finally:
        ro.chmod(0o755)
    assert rc == cli.EXIT_FATAL and err.count("\n") == 1
    assert "cannot be" in err and "Permission denied" in err


def test_a_full_disk_keeps_finished_rows_and_resume_completes(fields, model_dir, tmp_path, capsys,
                                                               monkeypatch):
    out = tmp_path / "out"
    real = results_io.atomic_write_text
    calls = {"n": 0}

    def full(path, text, *a, **k):
        calls["n"] += 1
        if calls["n"] > 2:                   # the first snapshot fits, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, text, *a, **k)
    with monkeypatch.context() as m:
        m.setattr(results_io, "atomic_write_text", full)
        m.setattr(ResultsWriter, "__init__", _snapshot_every_row(ResultsWriter.__init__))
        rc, err = _run(capsys, fields, "--out", out, "--model", model_dir, "--quiet")
    assert rc == cli.EXIT_FATAL
    assert "No space left on device" in _last_line(err) and "--resume" in _last_line(err)
    kept = _results_valid(out, 1)
    assert kept["complete"] is False
    journal = (out / JOURNAL).read_text(encoding="utf-8").splitlines()
    assert len(journal) >= 1
    rc, err = _run(capsys, fields, "--out", out, "--model", model_dir, "--quiet", "--resume")
    assert rc == cli.EXIT_OK
    doc = _results_valid(out, 4)
    assert doc["complete"] is True and len(doc["images"]) == 4


def _snapshot_every_row(init):
    def wrapped(self, *a, **k):
        init(self, *a, **k)
        self.snapshot_every_s = 0.0
    return wrapped


# ------------------------------------------------------------ interrupts: exit 130 / 143
def test_ctrl_c_before_the_model_loads(fields, tmp_path, capsys, monkeypatch):
    import model.inference

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(model.inference, "InferenceEngine", interrupted)
    rc, err = _run(capsys, fields, "--out", tmp_path / "out")
    assert rc == cli.EXIT_INTERRUPTED and err.count("\n") == 1 and "interrupted" in err


def test_ctrl_c_as_the_analysis_starts_leaves_valid_files(fields, model_dir, tmp_path, capsys,
                                                          monkeypatch):
    import lab_app.core.pipeline as pipeline
    real = pipeline.analyse

    def analyse(*a, **k):
        events = real(*a, **k)
        yield next(events)                   # Started
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "analyse", analyse)
    out = tmp_path / "out"
    rc, err = _run(capsys, fields, "--out", out, "--model", model_dir)
    assert rc == cli.EXIT_INTERRUPTED and "--resume" in _last_line(err)
    assert _results_valid(out)["complete"] is False


@pytest.mark.parametrize("sig, code, words", [(signal.SIGTERM, cli.EXIT_TERMINATED, "SIGTERM"),
                                              (signal.SIGINT, cli.EXIT_INTERRUPTED, "interrupted")])
def test_a_signal_mid_batch_ends_cleanly(fields, model_dir, tmp_path, capsys, monkeypatch,
                                         request, sig, code, words):
    # A shell starts background jobs with SIGINT ignored, and Python keeps it so: deliver it as
    # at a terminal (KeyboardInterrupt), wherever the suite was started from.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    real = ResultsWriter.add

    def add(self, index, result, from_journal=False):
        real(self, index, result, from_journal)
        if len(self) == 2:
            os.kill(os.getpid(), sig)
    monkeypatch.setattr(ResultsWriter, "add", add)
    out = tmp_path / "out"
    rc, err = _run(capsys, fields, "--out", out, "--model", model_dir, "--quiet")
    assert rc == code and words in _last_line(err)
    assert len(_results_valid(out, 2)["images"]) >= 2
    assert signal.getsignal(signal.SIGTERM) is not cli._on_sigterm     # handler restored
    monkeypatch.undo()
    rc, _ = _run(capsys, fields, "--out", out, "--model", model_dir, "--quiet", "--resume")
    assert rc == cli.EXIT_OK and _results_valid(out, 4)["complete"] is True


def test_sigterm_to_the_process(fields, model_dir, tmp_path):
    """The real thing: labapp-batch in its own process, SIGTERM once the first row is written.
    Four chunks of fields (pipeline chunk_size 64): rows come a chunk at a time, so with one
    chunk the signal would only ever land at the end of the batch."""
    many = tmp_path / "many"
    many.mkdir()
    for k in range(4 * AnalysisOptions().chunk_size):
        src = SAMPLES[k % len(SAMPLES)]
        (many / f"{k:03d}-{src.name}").write_bytes(src.read_bytes())
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "lab_app.cli", str(many), "--out", str(out),
                             "--model", str(model_dir), "--quiet", "--device", "cpu"],
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        journal = out / JOURNAL
        if journal.exists() and journal.read_text(encoding="utf-8").count("\n") >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the batch finished before the signal")
    assert proc.returncode == cli.EXIT_TERMINATED, err
    assert "Traceback" not in err and "SIGTERM" in err.strip().splitlines()[-1]
    _results_valid(out, 1)


@pytest.mark.parametrize("sig, code, words", [("SIGINT", 130, "interrupted while starting"),
                                              ("SIGTERM", 143, "stopped by SIGTERM while starting")])
def test_a_signal_while_the_program_loads(tmp_path, sig, code, words):
    """Run as labapp-batch, a signal while its modules load is noted and ends the run in one
    line, not an import traceback (the interpreter's own start-up, before any of our code, is
    the only window left)."""
    script = ("import os, signal, sys; sys.argv[0] = 'labapp-batch'; import lab_app.cli as c; "
              f"os.kill(os.getpid(), signal.{sig}); "
              f"sys.exit(c.main(['{tmp_path}', '--out', '{tmp_path / 'out'}']))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and words in proc.stderr
    assert not (tmp_path / "out").exists()
