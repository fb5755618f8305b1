"""Background work for the window: loading the engine, analysing images, writing reports.

The pattern is superqt's thread worker: a ``QRunnable`` does the work in a ``QThreadPool`` thread
and reports through a signals object (``started``, ``yielded``, ``errored``, ``finished``); the
connected functions run on the GUI thread. The signals are relays through ``inbox`` (one queued
Qt signal carries every worker's callbacks), so that a QRunnable needs no QObject of its own.

``AnalysisWorker`` drives :func:`lab_app.core.pipeline.analyse` (the same generator the batch
CLI drives), stores every result in the case store as it arrives (in this thread: SQLite commits
must not stall the event loop) and hands the GUI batches of results at chunk boundaries or at
most every ``BATCH_S`` seconds, so the GUI does a few cheap model updates per second instead of
one per image. Cancellation is cooperative: :meth:`AnalysisWorker.cancel` sets the pipeline's
cancel token; the pipeline stops at the next chunk boundary.

Nothing here imports torch or onnxruntime at import time; the engine loads in ``EngineLoader``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRunnable

from .inbox import Relay, gui_inbox

log = logging.getLogger(__name__)

BATCH_S = 0.05  # longest time results wait in the worker before the GUI sees them


class WorkerSignals:
    """superqt-style worker signals: :class:`~lab_app.gui.inbox.Relay` objects; ``emit`` from the
    worker thread, the connected functions run on the GUI thread."""

    def __init__(self) -> None:
        inbox = gui_inbox()
        self.started = Relay(inbox)     # payload depends on the worker (e.g. pipeline.Started)
        self.yielded = Relay(inbox)     # a batch (AnalysisBatch)
        self.errored = Relay(inbox)     # one sentence for the technician
        self.finished = Relay(inbox)    # RunEnd (AnalysisWorker) or Done (CallableWorker)


@dataclass
class RunEnd:
    """The end of an analysis run; ``finished`` is the pipeline's Finished event, or None when
    the run stopped on an error."""
    finished: Any = None


@dataclass
class Done:
    value: Any = None


@dataclass
class AnalysedItem:
    index: int                 # position in the worker's path list
    path: str                  # the input path as given
    image: Any                 # CaseImage as stored (id, decision, result)


@dataclass
class AnalysisBatch:
    items: list[AnalysedItem] = field(default_factory=list)
    done: int = 0              # images finished so far (all batches)
    total: int = 0
    failed: int = 0


class AnalysisWorker(QRunnable):
    """Analyse ``paths`` into case ``case_id`` of ``store`` with ``engine``."""

    def __init__(self, paths: Sequence[str | Path], engine: Any, options: Any, store: Any,
                 case_id: int) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the window keeps a reference until finished
        self.paths = [str(p) for p in paths]
        self.engine = engine
        self.options = options
        self.store = store
        self.case_id = case_id
        self.signals = WorkerSignals()
        from lab_app.core.pipeline import CancelToken  # light: no engine import
        self._cancel = CancelToken()
        self.running = False

    def cancel(self) -> None:
        self._cancel.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancel.cancelled

    def run(self) -> None:  # runs in a pool thread
        background_priority()
        from lab_app.core.errors import LabAppError
        from lab_app.core.pipeline import Finished, ImageAnalysed, Progress, Started, analyse
        from model.errors import ModelError

        self.running = True
        finished = None
        batch = AnalysisBatch(total=len(self.paths))
        last_emit = time.perf_counter()
        chunk = max(1, int(getattr(self.options, "chunk_size", 32)))
        try:
            for ev in analyse(self.paths, self.engine, self.options, self._cancel):
                if isinstance(ev, ImageAnalysed):
                    result = ev.result
                    result.mask = None   # the viewer recomputes what it shows; keep memory flat
                    stored = self.store.add_result(self.case_id, result)
                    batch.items.append(AnalysedItem(ev.index, self.paths[ev.index], stored))
                    batch.failed += result.status != "ok"
                elif isinstance(ev, Progress):
                    batch.done = ev.done
                    now = time.perf_counter()
                    if ev.done % chunk == 0 or ev.done == ev.total or now - last_emit >= BATCH_S:
                        self.signals.yielded.emit(batch)
                        batch = AnalysisBatch(done=ev.done, total=ev.total)
                        last_emit = now
                elif isinstance(ev, Started):
                    self.signals.started.emit(ev)
                elif isinstance(ev, Finished):
                    finished = ev
        except (ModelError, LabAppError) as exc:
            log.warning("analysis stopped: %s", exc)
            self.signals.errored.emit(f"The analysis stopped: {exc}")
        except Exception as exc:  # noqa: BLE001 - a worker must report, never raise into Qt
            log.exception("analysis failed")
            self.signals.errored.emit(
                f"The analysis stopped because of an unexpected error ({type(exc).__name__}: {exc}). "
                "The images analysed so far are saved; see the log for details.")
        finally:
            if batch.items:
                self.signals.yielded.emit(batch)
            self.running = False
            self.signals.finished.emit(RunEnd(finished))


class CallableWorker(QRunnable):
    """Run ``fn()`` in a pool thread; ``finished`` gets its return value, ``errored`` a sentence.

    ``expected`` lists the exception types whose message is already a sentence for the
    technician; anything else is logged with its traceback and reported generically.
    """

    def __init__(self, fn: Callable[[], Any], what: str,
                 expected: tuple[type[BaseException], ...] = ()) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.what = what
        self.expected = expected
        self.signals = WorkerSignals()

    def run(self) -> None:
        background_priority()
        self.signals.started.emit(self.what)
        try:
            value = self.fn()
        except self.expected as exc:
            log.warning("%s failed: %s", self.what, exc)
            self.signals.errored.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - reported as a signal, never raised into Qt
            log.exception("%s failed", self.what)
            self.signals.errored.emit(f"{self.what[:1].upper()}{self.what[1:]} failed because of an "
                                      f"unexpected error ({type(exc).__name__}: {exc}).")
            return
        self.signals.finished.emit(Done(value))


def load_engine(model_dir: str | Path | None, device: str) -> Any:
    """Build the inference engine (imports onnxruntime or torch): call it in a worker thread.
    The pipeline and the image loader are imported here too, so that the GUI thread does not
    pay for their first import when the technician opens images.

    When CUDA was asked for and cannot be used, the window runs on the CPU instead of leaving the
    images pending: the engine then carries ``fallback_note``, a sentence the window shows."""
    import importlib
    for name in ("lab_app.core.pipeline", "lab_app.core.overlays"):   # warm imports
        importlib.import_module(name)
    from model.errors import DeviceError
    from model.inference import InferenceEngine
    try:
        return InferenceEngine(model_dir or None, device=device)
    except DeviceError as exc:
        if device != "cuda":
            raise
        log.warning("CUDA not usable, falling back to the CPU: %s", exc)
        engine = InferenceEngine(model_dir or None, device="cpu")
        engine.fallback_note = (f"The GPU could not be used ({str(exc).rstrip('.')}); the model runs "
                                "on the CPU, which is slower but gives the same calls.")
        return engine


def engine_error_text(exc_text: str) -> str:
    """What the technician should do when the engine cannot be loaded."""
    return (f"{exc_text.rstrip('.')}. Images cannot be analysed until this is fixed: check the model "
            "folder and the analysis device in Preferences, or reinstall the application. "
            "Cases already in the database can still be opened, reviewed and printed.")


def background_priority() -> None:
    """Lower the calling worker thread's CPU priority, so the GUI thread wins the CPU when both
    want it (the window stays responsive while all cores analyse). Threads this thread starts
    later (the pipeline's preparation threads, ONNX Runtime's pool when the engine is built
    here) inherit it on Linux. Best effort: a platform that refuses leaves the priority as is."""
    import os
    import sys
    import threading
    try:
        if sys.platform.startswith("linux"):
            tid = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, tid)
            if current < BACKGROUND_NICE:
                os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
        elif sys.platform == "win32":
            import ctypes
            kernel32 = ctypes.windll.kernel32
            kernel32.SetThreadPriority(kernel32.GetCurrentThread(), -1)  # BELOW_NORMAL
    except (OSError, AttributeError, ValueError) as exc:
        log.debug("thread priority unchanged: %s", exc)


BACKGROUND_NICE = 10
