"""labapp-batch --watch: captures written like camera software are each analysed whole, once."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lab_app.cli import main

REPO = Path(__file__).resolve().parents[2]


def _camera(sources: list[Path], folder: Path) -> dict[str, str]:
    """Write 20 captures the way camera software does; returns name -> sha256 of the source."""
    expected = {}
    for n, src in enumerate(sources):
        data = src.read_bytes()
        name = f"field-{n:02d}.jpg"
        if n % 3 == 0:                         # a temporary name, renamed into place
            tmp = folder / f"{name}.part"
            tmp.write_bytes(data)
            os.replace(tmp, folder / name)
        else:                                   # in pieces, with a pause mid-file
            half = len(data) // 2
            with open(folder / name, "wb") as f:
                f.write(data[:half])
                f.flush()
                time.sleep(1.4 if n % 3 == 2 else 0.1)   # longer than the settle time
                f.write(data[half:])
        expected[name] = hashlib.sha256(data).hexdigest()
        time.sleep(0.05)
    return expected


def test_watch_analyses_twenty_captures_whole_and_once_then_exits_when_idle(
        shipped_fields, model_dir, tmp_path, capsys, monkeypatch):
    folder, out = tmp_path / "camera", tmp_path / "out"
    folder.mkdir()
    (folder / "yesterday.jpg").write_bytes(shipped_fields["Pre"][7].read_bytes())   # not analysed
    sources = [p for paths in shipped_fields.values() for p in paths][:20]
    expected: dict[str, str] = {}
    # The camera starts once the watch has started (files before that count as "already there").
    from lab_app.core import watch
    watching = threading.Event()

    class Scanner(watch.FolderScanner):
        def scan(self):
            watching.set()
            return super().scan()

    monkeypatch.setattr(watch, "FolderScanner", Scanner)

    def camera() -> None:
        watching.wait(60)
        expected.update(_camera(sources, folder))

    writer = threading.Thread(target=camera)
    writer.start()
    rc = main(["--watch", str(folder), "--out", str(out), "--idle-exit", "4", "--model",
               str(model_dir), "--device", "cpu"])
    writer.join()
    assert rc == 0
    rows = json.loads((out / "results.json").read_text())["images"]
    names = [Path(r["path"]).name for r in rows]
    assert sorted(names) == sorted(expected) and len(set(names)) == 20
    for r in rows:
        assert r["status"] == "ok", r
        assert r["sha256"] == expected[Path(r["path"]).name], "analysed before it was complete"
        assert "damaged_file" not in r["flags"]
    err = capsys.readouterr().err
    assert "Analysing each image saved into" in err and "field-00.jpg: " in err


def test_ctrl_c_ends_the_watch_with_130_and_valid_results(shipped_fields, model_dir, tmp_path):
    folder, out = tmp_path / "camera", tmp_path / "out"
    folder.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-m", "lab_app.cli", "--watch", str(folder), "--out",
                             str(out), "--model", str(model_dir), "--device", "cpu"],
                            cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    watching = threading.Event()

    def read_stderr() -> None:        # the watch has started once it says so (a busy machine
        for line in proc.stderr:      # may take many seconds to load the model)
            lines.append(line)
            if "Analysing each image saved into" in line:
                watching.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert watching.wait(120), "".join(lines)
        time.sleep(0.5)
        for src in (shipped_fields["Benign"][0], shipped_fields["Early"][0]):
            (folder / src.name).write_bytes(src.read_bytes())
        journal = out / "results.partial.jsonl"
        t_end = time.monotonic() + 120
        while time.monotonic() < t_end and not (journal.exists()
                                                and len(journal.read_text().splitlines()) >= 2):
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopped watching; 2 images saved" in err
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["images"]) == 2 and all(r["status"] == "ok" for r in doc["images"])


def test_watch_usage_errors(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "o")]) == 2
    assert "or --watch DIR" in capsys.readouterr().err
    assert main(["--watch", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a folder that can be watched" in capsys.readouterr().err


def test_a_capture_taken_while_the_model_loads_is_analysed(shipped_fields, model_dir, tmp_path,
                                                            monkeypatch):
    """The files 'already there' are those there when the command starts, not when the model
    has finished loading: a capture saved meanwhile is new."""
    folder, out = tmp_path / "camera", tmp_path / "out"
    folder.mkdir()
    (folder / "before.jpg").write_bytes(shipped_fields["Pre"][0].read_bytes())
    import model.inference as inference
    real = inference.InferenceEngine

    class SlowToLoad(real):
        def __init__(self, *args, **kwargs):
            (folder / "during.jpg").write_bytes(shipped_fields["Pro"][0].read_bytes())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(inference, "InferenceEngine", SlowToLoad)
    assert main(["--watch", str(folder), "--out", str(out), "--idle-exit", "3", "--model",
                 str(model_dir), "--device", "cpu", "--quiet"]) == 0
    rows = json.loads((out / "results.json").read_text())["images"]
    assert [Path(r["path"]).name for r in rows] == ["during.jpg"]
