"""Watch a capture folder for the window: the core watcher in a thread, results on the GUI thread.

The loop is :func:`lab_app.core.watch.watch_folder`, the same one ``labapp-batch --watch`` runs;
this object only starts it in a daemon thread, hands each batch of complete files to the GUI
thread (``files_ready``) and stops it when asked or when the window closes.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from lab_app.core.errors import LabAppError

from .inbox import gui_inbox

log = logging.getLogger(__name__)


class FolderWatchController(QObject):
    files_ready = Signal(list)      # [str] complete image files, in arrival order
    stopped = Signal(str)           # "" when asked to stop, else the reason (one sentence)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._thread is not None

    def start(self, folder: str | Path, *, include_existing: bool = False) -> None:
        """Watch ``folder`` (WatchError at once when it cannot be watched)."""
        from lab_app.core.watch import FolderScanner
        self.stop()
        # Made here, not in the thread: the files already there are those there now (and a
        # folder that cannot be watched raises WatchError before any thread starts).
        scanner = FolderScanner(folder, include_existing=include_existing)
        self.folder = Path(folder)
        stop = threading.Event()
        inbox = gui_inbox()
        self._stop = stop
        self._thread = threading.Thread(target=self._run, name="watch-folder", daemon=True,
                                        args=(scanner, stop, inbox))
        self._thread.start()

    def _run(self, scanner, stop: threading.Event, inbox) -> None:
        from lab_app.core.watch import watch_folder
        folder = scanner.folder
        reason = ""
        try:
            for batch in watch_folder(folder, stop=stop, scanner=scanner):
                inbox.post(self._deliver, stop, [str(p) for p in batch])
        except LabAppError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - a thread must report, never die silently
            log.exception("watching %s failed", folder)
            reason = f"Watching {folder} stopped because of an unexpected error ({exc})."
        inbox.post(self._ended, stop, reason)

    def _deliver(self, stop: threading.Event, paths: list[str]) -> None:
        if stop is self._stop and not stop.is_set():
            self.files_ready.emit(paths)

    def _ended(self, stop: threading.Event, reason: str) -> None:
        if stop is self._stop:
            self._thread = None
            self._stop = None
            self.stopped.emit(reason)

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._thread is None:
            return
        stop, thread = self._stop, self._thread
        self._stop = None
        self._thread = None
        stop.set()
        thread.join(timeout_s)
        self.stopped.emit("")
