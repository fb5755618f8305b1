"""Time from launching ``labapp`` to the window's first paint, and to the model being ready.

    python bench/gui_startup.py [--runs 5] [--model DIR] [--device cpu] [--write bench/RESULTS.md]

Each run starts a fresh interpreter (``python -c`` calling ``lab_app.app.main``, as the
``labapp`` script does) with a temporary case database and settings folder. The child records
the wall-clock time of the first Paint event of the main window and of ``engine_ready``; the
parent subtracts its own time just before starting the child, so interpreter start-up and every
import are included. Offscreen Qt platform unless QT_QPA_PLATFORM says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

CHILD = r"""
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
marks = {}

class FirstPaint(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and "paint" not in marks:
            w = obj if hasattr(obj, "window") else None
            if w is not None and w.window() is self.win:
                marks["paint"] = time.time()
                marks["torch_loaded_at_paint"] = "torch" in sys.modules
                marks["onnxruntime_loaded_at_paint"] = "onnxruntime" in sys.modules
        return False

def hook(win):
    marks["shown"] = time.time()
    QApplication.instance().installEventFilter(FirstPaint(win))
    def ready():
        marks["engine"] = time.time()
        marks["device"] = win.engine.device_label
        QTimer.singleShot(50, QApplication.instance().quit)
    win.engine_ready.connect(ready)
    win.engine_failed.connect(lambda msg: (marks.update(error=msg), QApplication.instance().quit()))

from lab_app.app import main
main(ARGS, on_window=hook)
print("MARKS" + json.dumps(marks))
"""


def one_run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="labapp-startup-") as tmp:
        argv = ["--db", str(Path(tmp) / "cases.sqlite3")]
        if args.model:
            argv += ["--model", args.model]
        if args.device:
            argv += ["--device", args.device]
        env = {**os.environ, "LABAPP_CONFIG_DIR": tmp, "LABAPP_DATA_DIR": tmp}
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        code = CHILD.replace("ARGS", repr(argv))
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("MARKS")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"the child failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    marks = json.loads(line[5:])
    if "error" in marks:
        raise SystemExit(f"the model did not load: {marks['error']}")
    return {"first_paint_s": marks["paint"] - t0, "shown_s": marks["shown"] - t0,
            "model_ready_s": marks["engine"] - t0, "device": marks["device"],
            "torch_at_paint": marks["torch_loaded_at_paint"],
            "onnxruntime_at_paint": marks["onnxruntime_loaded_at_paint"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--model", help="model dir (default: the bundled model)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--write", metavar="RESULTS_MD", help="update the GUI section of this file")
    args = p.parse_args(argv)
    one_run(args)   # warm the file cache: the first launch after boot measures the disk
    runs = [one_run(args) for _ in range(args.runs)]
    paint = [r["first_paint_s"] for r in runs]
    ready = [r["model_ready_s"] for r in runs]
    summary = {"runs": args.runs, "first_paint_median_s": statistics.median(paint),
               "first_paint_max_s": max(paint), "model_ready_median_s": statistics.median(ready),
               "model_ready_max_s": max(ready), "device": runs[0]["device"],
               "torch_at_first_paint": any(r["torch_at_paint"] for r in runs),
               "onnxruntime_at_first_paint": any(r["onnxruntime_at_paint"] for r in runs),
               "platform": os.environ.get("QT_QPA_PLATFORM", "offscreen").split(":")[0],
               "python": platform.python_version(), "cpus": os.cpu_count(),
               "model_arg": args.model}
    print(json.dumps(summary, indent=2))
    if args.write:
        from gui_results import update_section
        update_section(Path(args.write), "startup", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
