"""Hand work from worker threads to the GUI thread without emitting Qt signals from them.

Worker threads never emit Qt signals: they put ``(callback, args)`` on a thread-safe queue, and a
timer in the GUI thread runs the callbacks there, a few milliseconds of work per tick at most.
This keeps the binding's signal machinery on one thread (PySide6 6.12.0 on Python 3.11 aborted
the interpreter within seconds when worker threads emitted signals; see ``qtcompat``), batches
results naturally, and costs one tick (``TICK_MS``) of latency, which nobody can see.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer

log = logging.getLogger(__name__)

TICK_MS = 15
BUDGET_S = 0.025     # longest a tick runs callbacks before yielding to the event loop


class Inbox(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._q: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

    def post(self, callback: Callable[..., Any], *args: Any) -> None:
        """Thread-safe: ``callback(*args)`` runs on the GUI thread at the next tick."""
        self._q.put((callback, args))

    def drain(self, budget_s: float = BUDGET_S) -> int:
        """Run queued callbacks (GUI thread) for at most ``budget_s``; returns how many ran."""
        t_end = time.perf_counter() + budget_s
        n = 0
        while True:
            try:
                callback, args = self._q.get_nowait()
            except queue.Empty:
                break
            try:
                callback(*args)
            except Exception:  # noqa: BLE001 - one failing callback must not stop the others
                log.exception("a background result could not be shown")
            n += 1
            if time.perf_counter() > t_end:
                break
        return n

    def pending(self) -> bool:
        return not self._q.empty()


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
