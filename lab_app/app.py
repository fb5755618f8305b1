"""``labapp``: the review workstation window.

    labapp [PATH ...] [--open PATH ...] [--screenshot FILE] [--model DIR] [--device auto|cpu|cuda]
           [--db FILE] [--size WxH] [--timeout S]

The window is shown first; the model (onnxruntime, or torch for CUDA) loads afterwards in a
worker thread, so the window appears in well under a second. Paths given on the command line are
added to a new case and analysed as soon as the model is ready.

``--screenshot FILE`` is for documentation and checks: open and analyse the paths, wait until the
results and the first image are on screen, save a PNG of the main window and exit 0 (1 when the
model could not be loaded or the wait timed out; the picture is saved either way). It never
blocks on a dialog, and unless ``--db`` or ``LABAPP_CONFIG_DIR`` say otherwise it uses a
temporary case database and settings folder, so it never touches the user's own.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

T_START = time.perf_counter()
log = logging.getLogger("lab_app")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="labapp",
        description="ALL subtype review workstation (research use only). Opens image files or "
                    "folders given as PATH or with --open.",
        epilog="exit codes: 0 closed normally (with --screenshot: the picture was saved); 1 with "
               "--screenshot, the window could not be shown as asked (no model, timeout); 2 usage "
               "error or a Qt binding known to crash (a one-line message says which).")
    p.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders to analyse")
    p.add_argument("--open", nargs="+", default=[], metavar="PATH", help="image files or folders")
    p.add_argument("--screenshot", metavar="FILE",
                   help="analyse, save a PNG of the window to FILE and exit")
    p.add_argument("--model", metavar="DIR", help="model folder (default: the bundled model)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                   help="compute device (default: the preference, normally auto)")
    p.add_argument("--gallery", action="store_true",
                   help="open with the cell gallery showing (every cell of the case by call)")
    p.add_argument("--watch", metavar="DIR",
                   help="analyse each image saved into DIR (e.g. by the camera software) as it arrives")
    p.add_argument("--watch-existing", action="store_true",
                   help="with --watch: analyse the images already in DIR too")
    p.add_argument("--db", metavar="FILE|URL",
                   help="case database file, or a lab network's postgresql://user@host:port/dbname "
                        "(default: the lab settings' database, else the user's data folder)")
    p.add_argument("--size", metavar="WxH", help="window size, e.g. 1366x768")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="with --screenshot: give up after S seconds (default 600)")
    return p


def _size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        return None
    return (w, h) if w > 0 and h > 0 else None


def _log_to_file() -> None:
    """Warnings and errors also go to labapp.log in the data folder (a windowed app has no
    console); three files of 1 MB at most."""
    from logging.handlers import RotatingFileHandler

    from lab_app.core.cases import default_data_dir
    try:
        folder = default_data_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(folder / "labapp.log", maxBytes=1_000_000, backupCount=2,
                                      encoding="utf-8")
    except OSError as exc:
        log.warning("no log file: %s", exc)
        return
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)


def main(argv: list[str] | None = None,
         on_window: Callable[[Any], None] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.screenshot else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.screenshot:
        _log_to_file()
    size = _size(args.size)
    if args.size and size is None:
        build_parser().error("--size must look like 1366x768")
    if args.db:
        from lab_app.core.cases import check_db_location
        from lab_app.core.errors import LabAppError
        try:    # mysql://… would otherwise become a local folder called mysql:
            check_db_location(args.db)
        except LabAppError as exc:
            build_parser().error(str(exc))

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    # High-DPI: Qt 6 scales by the screen's factor; pass fractional factors (125 %, 150 %)
    # through instead of rounding them, so the layout keeps its intended size.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ALL Subtype Workstation")
    app.setOrganizationName("ALL-Workstation")
    from lab_app import __version__
    app.setApplicationVersion(__version__)

    from lab_app.core.errors import BindingError
    try:
        from .gui.main_window import MainWindow
    except BindingError as exc:
        print(f"labapp: {exc}", file=sys.stderr)
        from PySide6.QtWidgets import QMessageBox
        QMessageBox.critical(None, "ALL Subtype Workstation cannot start", str(exc))
        return 2

    kwargs: dict[str, Any] = {"store_path": args.db, "model_dir": args.model, "device": args.device}
    tmp = None
    if args.screenshot:
        import os
        import tempfile

        from .gui.dialogs import QuietDialogs
        tmp = tempfile.TemporaryDirectory(prefix="labapp-screenshot-")
        if not args.db:
            kwargs["store_path"] = str(Path(tmp.name) / "cases.sqlite3")
        if not os.environ.get("LABAPP_CONFIG_DIR"):
            kwargs["config_dir"] = tmp.name
        kwargs["dialogs"] = QuietDialogs()
    win = MainWindow(**kwargs)
    if size:
        win.setWindowState(Qt.WindowState.WindowNoState)
        win.resize(*size)
    win.show()
    if on_window is not None:
        on_window(win)
    # The model loads after the first paint, in a worker thread.
    QTimer.singleShot(0, win.start_engine)
    paths = list(args.open) + list(args.paths)
    if paths:
        QTimer.singleShot(0, lambda: win.open_paths(paths))
    if args.watch:
        QTimer.singleShot(0, lambda: win.watch_folder(args.watch, include_existing=args.watch_existing))
    if args.gallery:
        win.show_gallery(True)
    shooter = None
    if args.screenshot:
        from .gui.screenshot import ScreenshotRunner
        shooter = ScreenshotRunner(win, args.screenshot, timeout_s=args.timeout,
                                   expect_results=bool(paths))
        shooter.start()
    app.aboutToQuit.connect(win.shutdown)
    rc = app.exec()
    win.shutdown()
    if shooter is not None:
        rc = shooter.exit_code
    if tmp is not None:
        tmp.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
