"""The analysis controller: owns the inference engine and the analysis worker for the window.

It loads the engine in the work pool, runs an ``AnalysisWorker`` over paths of the session's
case, puts each batch of stored results on the session's rows (the table follows through the
session's events) and tells the window what happened through Qt signals, all emitted on the GUI
thread. It decides nothing about the case: what may be analysed is the session's rule, the
messages are the window's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from .worker import AnalysisBatch, AnalysisWorker, CallableWorker, engine_error_text, load_engine

log = logging.getLogger(__name__)

CHUNK = 32   # images per pipeline chunk (cancel granularity, GUI batch size)


@dataclass
class RunSummary:
    """How a run ended: the pipeline's Finished event (None after an error), the time it took,
    whether it was cancelled, and the error sentence if it stopped on one."""
    finished: Any
    seconds: float
    cancelled: bool
    error: str | None


class AnalysisController(QObject):
    engine_loading = Signal()
    engine_ready = Signal(object)      # the engine
    engine_failed = Signal(str)        # what the technician should do
    run_started = Signal(int)          # number of images
    batch_applied = Signal(object)     # AnalysisBatch, already on the session's rows
    run_failed = Signal(str)           # one sentence
    run_finished = Signal(object)      # RunSummary

    def __init__(self, session: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.engine: Any = None
        self.engine_error: str | None = None
        self.pool = QThreadPool(self)            # engine loading and the analysis, in order
        self.pool.setMaxThreadCount(1)
        self._engine_job: CallableWorker | None = None
        self._worker: AnalysisWorker | None = None
        self._run_paths: list[str] = []
        self._run_t0 = 0.0
        self._run_error: str | None = None
        self._closed = False

    # ------------------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def loading(self) -> bool:
        return self._engine_job is not None

    @property
    def cancelled(self) -> bool:
        return self._worker is not None and self._worker.cancelled

    @property
    def worker(self) -> AnalysisWorker | None:
        return self._worker

    # ----------------------------------------------------------------------------- engine
    def load_engine(self, model_dir: str | None, device: str) -> bool:
        """Start loading the engine (imports onnxruntime or torch in the pool); False when a load
        is already under way."""
        if self._engine_job is not None:
            return False
        from model.errors import ModelError
        self.engine = None
        self.engine_error = None
        job = CallableWorker(partial(load_engine, model_dir, device), "loading the model",
                             expected=(ModelError, OSError))
        job.signals.finished.connect(self._engine_loaded)
        job.signals.errored.connect(self._engine_failed)
        self._engine_job = job
        self._engine_t0 = time.perf_counter()
        self.engine_loading.emit()
        self.pool.start(job)
        return True

    def _engine_loaded(self, done) -> None:
        self._engine_job = None
        if self._closed:
            return
        self.engine = done.value
        log.info("engine ready in %.2f s: %s", time.perf_counter() - self._engine_t0,
                 self.engine.device_label)
        self.engine_ready.emit(self.engine)

    def _engine_failed(self, message: str) -> None:
        self._engine_job = None
        if self._closed:
            return
        self.engine = None
        self.engine_error = engine_error_text(message)
        self.engine_failed.emit(self.engine_error)

    # ----------------------------------------------------------------------------- a run
    def start(self, paths: list[str], options: Any, case_id: int) -> None:
        """Analyse ``paths`` into case ``case_id`` (the engine is loaded and nothing runs)."""
        assert self.engine is not None and self._worker is None
        worker = AnalysisWorker(paths, self.engine, options, self.session.store, case_id)
        worker.signals.yielded.connect(self._on_batch)
        worker.signals.errored.connect(self._on_error)
        worker.signals.finished.connect(self._on_finished)
        self._worker = worker
        self._run_paths = list(paths)
        self._run_t0 = time.perf_counter()
        self._run_error = None
        self.session.set_running(self._run_paths[:CHUNK])
        self.session.set_analysing(True)
        self.run_started.emit(len(paths))
        self.pool.start(worker)

    def cancel(self) -> bool:
        """Ask the run to stop at the next chunk; the images in progress are finished first."""
        if self._worker is None:
            return False
        self._worker.cancel()
        self.session.clear_queue()
        return True

    def _on_batch(self, batch: AnalysisBatch) -> None:
        if self._closed:
            return
        if batch.items:
            self.session.apply_images([(it.path, it.image) for it in batch.items])
        if self._worker is not None and not self._worker.cancelled:
            self.session.set_running(self._run_paths[batch.done:batch.done + CHUNK])
        self.batch_applied.emit(batch)

    def _on_error(self, message: str) -> None:
        self._run_error = message
        if not self._closed:
            self.run_failed.emit(message)

    def _on_finished(self, end) -> None:
        worker, self._worker = self._worker, None
        if self._closed:
            return
        self.session.clear_running()
        self.session.set_analysing(False)
        self.run_finished.emit(RunSummary(end.finished, time.perf_counter() - self._run_t0,
                                          worker is not None and worker.cancelled, self._run_error))

    # ------------------------------------------------------------------------- shutdown
    def shutdown(self, timeout_ms: int) -> bool:
        """Cancel the run and wait for the pool; True when everything stopped in time."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            self.session.clear_queue()
        return self.pool.waitForDone(timeout_ms)
