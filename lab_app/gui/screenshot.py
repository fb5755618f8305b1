"""Unattended screenshots of the main window (``labapp --screenshot FILE``, docs/make_screenshots.py)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

log = logging.getLogger(__name__)


def window_settled(win, expect_results: bool = True) -> bool:
    """True when the model is loaded (or failed), no analysis runs or waits, the current image is
    on screen and the visible thumbnails are decoded."""
    if win.engine is None and not win.engine_error:
        return False
    if win.analysing or win.scanning or win._report_job is not None:
        return False
    if win.session.queued and win.engine is not None:   # without a model the queue waits for ever
        return False
    if expect_results and win.model.rowCount() == 0:
        return False
    row = win.current_row()
    if row is not None and (win._field is None or win._field.path != row.path):
        if not win.viewer.view._placeholder:   # an unreadable file shows its reason instead
            return False
    if win.gallery.busy:                   # the cell gallery is still cutting crops
        return False
    return not win.thumbs._pending


def save_grab(widget: QWidget, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()
    pixmap = widget.grab()
    if not pixmap.save(str(path), "PNG"):
        raise OSError(f"The screenshot {path} could not be written.")
    return path


class ScreenshotRunner(QObject):
    def __init__(self, win, path: str | Path, timeout_s: float = 600.0,
                 expect_results: bool = True) -> None:
        super().__init__(win)
        self.win = win
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.expect_results = expect_results
        self.exit_code = 1
        self._t0 = time.perf_counter()
        self._stable = 0
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._poll)

    def start(self) -> None:
        self._timer.start()

    def _poll(self) -> None:
        timed_out = time.perf_counter() - self._t0 > self.timeout_s
        settled = window_settled(self.win, self.expect_results)
        self._stable = self._stable + 1 if settled else 0
        if self._stable < 3 and not timed_out:   # settled for 0.3 s: repaints are done
            return
        self._timer.stop()
        try:
            save_grab(self.win, self.path)
        except OSError as exc:
            log.error("%s", exc)
            QApplication.instance().exit(1)
            return
        if timed_out:
            log.error("The window did not settle within %.0f s; saved what was shown.", self.timeout_s)
            self.exit_code = 1
        elif self.win.engine is None:
            log.error("The model could not be loaded: %s", self.win.engine_error)
            self.exit_code = 1
        else:
            log.info("screenshot saved: %s", self.path)
            self.exit_code = 0
        QApplication.instance().exit(self.exit_code)
