"""Hand work from worker threads to the GUI thread.

A worker thread calls ``post(callback, *args)`` (or ``Relay.emit``); the callback then runs on the
GUI thread. Delivery is a Qt queued signal: Qt puts the call in the GUI thread's event queue, so
the event loop runs it between paints and input events, with no polling timer.

History: this used to be a thread-safe queue drained by a 15 ms timer, because PySide6 6.12.0 on
Python 3.11 aborted the interpreter when worker threads emitted signals. That release is excluded
(pyproject: ``!=6.12.0``; ``lab_app.gui`` refuses to start on it), so the plain Qt mechanism is
back; the stall benchmark (bench/gui_responsiveness.py) was measured before and after.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal

log = logging.getLogger(__name__)


class Inbox(QObject):
    """Lives in the GUI thread; ``post`` may be called from any thread."""

    _deliver = Signal(object, object)    # callback, args

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._deliver.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, callback: Callable[..., Any], *args: Any) -> None:
        """Thread-safe: ``callback(*args)`` runs on the GUI thread when its event loop gets there."""
        self._deliver.emit(callback, args)

    def _run(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception:  # noqa: BLE001 - one failing callback must not stop the others
            log.exception("a background result could not be shown")


_inbox: Inbox | None = None


def gui_inbox() -> Inbox:
    """The application's inbox (created on first use, in the GUI thread)."""
    global _inbox
    if _inbox is None:
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("create the QApplication before using the GUI inbox")
        _inbox = Inbox(app)
        app.destroyed.connect(_forget)
    return _inbox


def _forget(*_args: Any) -> None:
    global _inbox
    _inbox = None


class Relay:
    """A signal-like object for worker results: ``connect(fn)`` in the GUI thread, ``emit(*args)``
    from any thread; connected functions run on the GUI thread (through the inbox)."""

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._slots: list[Callable[..., Any]] = []

    def connect(self, fn: Callable[..., Any]) -> None:
        self._slots.append(fn)

    def disconnect_all(self) -> None:
        self._slots = []

    def emit(self, *args: Any) -> None:
        for fn in list(self._slots):
            self._inbox.post(fn, *args)
