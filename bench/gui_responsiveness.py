"""Worst event-loop stall of the real window during a 500-image run on the CPU.

    python bench/gui_responsiveness.py [--images 500] [--model DIR] [--device cpu]
                                       [--source resources/samples] [--write bench/RESULTS.md]

The sample images are repeated to make ``--images`` distinct files (a few bytes appended after
each JPEG's end marker, so every copy has its own checksum and becomes its own image in the case,
as 500 different fields would). A heartbeat ``QTimer`` (5 ms, precise) records the gaps between
its ticks in the GUI thread while the window analyses them into a new case; a second timer acts
as the technician pressing "next image" every 300 ms (each press loads a field, segments it and
computes its activation map in the background). The worst gap is the longest the event loop was
not able to run: the figure the brief caps at 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


def make_images(source: Path, dst: Path, n: int) -> int:
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"no sample images in {source}")
    for i in range(n):
        src = files[i % len(files)]
        (dst / f"field-{i:04d}{src.suffix.lower()}").write_bytes(src.read_bytes() + f"#{i}".encode())
    return len(files)


def default_source() -> Path:
    samples = REPO / "resources" / "samples"
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in samples.glob("*")):
        return samples
    data = REPO.parent / "shared" / "data" / "all-taleqani" / "Original" / "Pre"
    return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--model", help="model dir (default: the bundled model)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--source", type=Path, default=None, help="folder of sample images")
    p.add_argument("--interval-ms", type=int, default=5)
    p.add_argument("--navigate-ms", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3, help="runs (each a new window and case)")
    p.add_argument("--write", metavar="RESULTS_MD", help="update the GUI section of this file")
    args = p.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance() or QApplication([])
    runs = [run_once(args, app) for _ in range(args.repeat)]
    worst = max(runs, key=lambda r: r["worst_gap_ms"])
    summary = dict(worst)
    summary["repeat"] = args.repeat
    summary["worst_gaps_ms"] = [round(r["worst_gap_ms"]) for r in runs]
    summary["p99_gap_ms"] = max(r["p99_gap_ms"] for r in runs)
    summary["gaps_over_50ms"] = sum(r["gaps_over_50ms"] for r in runs)
    summary["run_s"] = statistics.median(r["run_s"] for r in runs)
    summary["images_per_s"] = args.images / summary["run_s"]
    summary["busy"] = any(r["busy"] for r in runs)
    summary["model_arg"] = args.model
    print(json.dumps(summary, indent=2))
    if args.write:
        from gui_results import update_section
        update_section(Path(args.write), "run", summary)
    return 0


def run_once(args: argparse.Namespace, app) -> dict:
    from PySide6.QtCore import Qt, QTimer

    from lab_app.gui.dialogs import QuietDialogs
    from lab_app.gui.main_window import MainWindow

    tmp = tempfile.TemporaryDirectory(prefix="labapp-bench-")
    folder = Path(tmp.name) / "images"
    folder.mkdir()
    distinct = make_images(args.source or default_source(), folder, args.images)
    win = MainWindow(store_path=Path(tmp.name) / "cases.sqlite3", config_dir=tmp.name,
                     model_dir=args.model, device=args.device, dialogs=QuietDialogs())
    win.resize(1366, 768)
    win.show()
    win.start_engine()
    t_end = time.perf_counter() + 120
    while win.engine is None and not win.engine_error and time.perf_counter() < t_end:
        app.processEvents()
        time.sleep(0.005)
    if win.engine is None:
        raise SystemExit(f"the model did not load: {win.engine_error}")

    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    heart = QTimer()
    heart.setTimerType(Qt.TimerType.PreciseTimer)
    heart.setInterval(args.interval_ms)
    heart.timeout.connect(beat)
    nav = QTimer()
    nav.setInterval(args.navigate_ms)
    nav.timeout.connect(lambda: win.step_image(+1))
    done = {}

    def finished() -> None:
        done["t"] = time.perf_counter()
        QTimer.singleShot(200, app.quit)

    win.analysis_finished.connect(finished)

    def start() -> None:
        last[0] = time.perf_counter()
        heart.start()
        nav.start()
        done["t0"] = time.perf_counter()
        win.open_paths([folder])

    QTimer.singleShot(100, start)
    app.exec()
    heart.stop()
    nav.stop()
    stored = len(win.store.get_case(win.case.id).images)
    win.shutdown()
    tmp.cleanup()

    gaps_ms = sorted(g * 1000 for g in gaps)
    run_s = done["t"] - done["t0"]
    busy = _busy()
    summary = {
        "images": args.images, "distinct_sources": distinct, "device": win.engine.device_label,
        "model": f"{win.engine.info['name']} {win.engine.info['version']} "
                 f"({win.engine.info['input_size']} px)",
        "interval_ms": args.interval_ms, "navigate_ms": args.navigate_ms,
        "worst_gap_ms": gaps_ms[-1], "p99_gap_ms": gaps_ms[int(0.99 * (len(gaps_ms) - 1))],
        "gaps_over_50ms": sum(g > 50 for g in gaps_ms), "ticks": len(gaps_ms),
        "run_s": run_s, "images_per_s": args.images / run_s, "stored": stored,
        "python": platform.python_version(), "cpus": os.cpu_count(), "busy": busy,
    }
    print(json.dumps({k: summary[k] for k in ("worst_gap_ms", "p99_gap_ms", "run_s")}), flush=True)
    return summary


def _busy() -> bool:
    """Whether other processes kept the CPUs busy (load average above the core count / 2)."""
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1) / 2 + 0.5
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
