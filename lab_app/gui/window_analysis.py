"""Main-window behaviour for the analysis: engine loading, adding images, the worker, progress.

Images are added to the list at once (state "pending") and analysed by an ``AnalysisWorker`` in
the work pool; results arrive in batches and are already stored in the case when they reach the
GUI. While the engine loads, added images wait in a queue; if it cannot load, they stay pending
and the reason is shown once.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path

from lab_app.core.segmentation import SegmentationParams

from .worker import AnalysisBatch, AnalysisWorker, CallableWorker, engine_error_text, load_engine

log = logging.getLogger(__name__)

CHUNK = 32   # images per pipeline chunk (cancel granularity, GUI batch size)


class AnalysisMixin:
    # ------------------------------------------------------------------------------ engine
    def start_engine(self, reload: bool = False) -> None:
        """Load the inference engine in the work pool (imports onnxruntime or torch there)."""
        if self._engine_job is not None:
            return
        if self.engine is not None and not reload:
            return
        if self._worker is not None:
            self.show_message("The new device or model is used after the current analysis.")
            self._reload_after_run = True
            return
        from model.errors import ModelError
        self.engine = None
        self.engine_error = None
        device = self._device_override or self.settings.analysis.device
        model_dir = self._model_dir_override or self.settings.analysis.model_dir
        self.device_label.setText("Loading model…")
        self.device_label.setStyleSheet("")
        self.model_label.setText("")
        job = CallableWorker(partial(load_engine, model_dir, device), "loading the model",
                             expected=(ModelError, OSError))
        job.signals.finished.connect(self._engine_loaded)
        job.signals.errored.connect(self._engine_failed)
        self._engine_job = job
        self._engine_t0 = time.perf_counter()
        self._work_pool.start(job)

    def _engine_loaded(self, done) -> None:
        engine = done.value
        self._engine_job = None
        if self._closed:
            return
        self.engine = engine
        info = engine.info
        self.device_label.setText(engine.device_label)
        self.device_label.setToolTip("The device running the model")
        self.model_label.setText(f"Model {info['name']} {info['version']}")
        self.model_label.setToolTip(f"SHA-256 {info['sha256']}\n{engine.model_dir}")
        log.info("engine ready in %.2f s: %s", time.perf_counter() - self._engine_t0,
                 engine.device_label)
        self.engine_ready.emit()
        self.refresh_current(reload_field=True)
        if self._queue:
            paths, self._queue = self._queue, []
            self.start_analysis(paths, self._queued_params)

    def _engine_failed(self, message: str) -> None:
        self._engine_job = None
        if self._closed:
            return
        self.engine = None
        self.engine_error = engine_error_text(message)
        self.device_label.setText("No model loaded")
        self.device_label.setStyleSheet("color: #c53030; font-weight: bold;")
        self.device_label.setToolTip(self.engine_error)
        self.model_label.setText("")
        self.show_message("The model could not be loaded; images cannot be analysed.", error=True,
                          timeout_ms=0)
        self.engine_failed.emit(self.engine_error)
        self.dialogs.error(self, "The model could not be loaded", self.engine_error)

    # -------------------------------------------------------------------------- adding images
    def add_images_dialog(self) -> None:
        files = self.dialogs.open_images(self, self.last_folder())
        if files:
            self.open_paths(files)

    def add_folder_dialog(self) -> None:
        folder = self.dialogs.open_folder(self, self.last_folder())
        if folder:
            self.open_paths([folder])

    def open_paths(self, inputs: list[str | Path]) -> bool:
        """Add files/folders to the current case and analyse them.

        The folders are searched in a worker thread (a few hundred files take tens of
        milliseconds to list and resolve); the images then appear in the list and are analysed.
        Returns whether the search was started."""
        if self.case is not None and self.case.locked:
            self.dialogs.error(self, "Case signed off", "This case is signed off and locked. Start "
                               "a new case (Ctrl+N) to analyse more images.")
            return False
        inputs = [str(p) for p in inputs]
        if not inputs:
            return False

        def scan() -> list[str]:
            from lab_app.core.imaging import iter_image_paths
            return [str(p) for p in iter_image_paths(inputs)]

        job = CallableWorker(scan, "looking for images", expected=(OSError,))
        job.signals.finished.connect(lambda done: self._paths_found(inputs, done.value, job))
        job.signals.errored.connect(lambda msg: self._paths_not_found(msg, job))
        self._scan_jobs.append(job)
        self.show_message("Looking for images…", timeout_ms=0)
        self._scan_pool.start(job)
        return True

    def _paths_not_found(self, message: str, job) -> None:
        self._scan_jobs.remove(job)
        self.dialogs.error(self, "Images not opened", f"The images could not be listed: {message}")

    def _paths_found(self, inputs: list[str], paths: list[str], job) -> int:
        self._scan_jobs.remove(job)
        if self._closed:
            return 0
        if not paths:
            self.show_message("No images found.", error=True)
            self.dialogs.error(self, "No images found",
                               "No image files were found in " + ", ".join(inputs) + ".")
            return 0
        if self.case is not None and self.case.locked:
            return 0
        self.remember_folder(inputs[0])
        if self.ensure_case() is None:
            return 0
        new = self.model.add_paths(paths)
        if not new:
            self.show_message("These images are already in the case.")
            return 0
        if self.proxy.rowCount() and not self.image_list.view.selectionModel().currentIndex().isValid():
            self.select_proxy_row(0)
        self.start_analysis(new)
        self._refresh_summary()
        return len(new)

    @property
    def scanning(self) -> bool:
        return bool(self._scan_jobs)

    # ----------------------------------------------------------------------------- running
    def analyse_pending(self) -> None:
        paths = [r.path for r in self.model.rows() if r.image is None and not r.running]
        if not paths:
            self.show_message("Every image is analysed. Use Re-analyse to run them again with "
                              "new settings.")
            return
        self.start_analysis(paths)

    def reanalyse_case(self) -> None:
        if self._worker is not None:
            self.show_message("Wait for the current analysis to finish.")
            return
        rows = self.model.rows()
        existing = [r.path for r in rows if Path(r.path).exists()]
        gone = len(rows) - len(existing)
        if not existing:
            self.show_message("There are no image files to analyse.", error=True)
            return
        params = self.seg_panel.params
        self.start_analysis(existing, params)
        if gone:
            self.show_message(f"Re-analysing {len(existing)} images; {gone} file(s) are no longer "
                              "at their saved location and keep their earlier results.")

    def start_analysis(self, paths: list[str], params: SegmentationParams | None = None) -> bool:
        if not paths:
            return False
        if self._worker is not None:
            self._queue.extend(p for p in paths if p not in self._queue)
            self._queued_params = params
            return False
        if self.engine is None:
            self._queue.extend(p for p in paths if p not in self._queue)
            self._queued_params = params
            if self.engine_error:
                self.show_message("Images cannot be analysed: the model is not loaded. "
                                  "See Help ▸ About and Preferences.", error=True, timeout_ms=0)
            else:
                self.show_message("The images are analysed as soon as the model is loaded.")
                self.start_engine()
            return False
        case_id = self.ensure_case()
        if case_id is None:
            return False
        if self.case.locked:
            self.dialogs.error(self, "Case signed off", "This case is signed off and locked; it "
                               "cannot be analysed again.")
            return False
        from lab_app.core.pipeline import AnalysisOptions
        options = AnalysisOptions(segmentation=params or self.seg_panel.params,
                                  low_confidence_threshold=self.settings.analysis.low_confidence_threshold,
                                  chunk_size=CHUNK)
        worker = AnalysisWorker(paths, self.engine, options, self.store, case_id)
        worker.signals.yielded.connect(self._on_batch)
        worker.signals.errored.connect(self._on_worker_error)
        worker.signals.finished.connect(self._on_run_finished)
        self._worker = worker
        self._run_paths = list(paths)
        self._run_t0 = time.perf_counter()
        self._run_error = None
        self.model.set_running(self._run_paths[:CHUNK])
        self.progress.setRange(0, len(paths))
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self._update_actions()
        self.show_message(f"Analysing {len(paths)} image{'s' if len(paths) != 1 else ''} on "
                          f"{self.engine.device_label}…", timeout_ms=0)
        self._work_pool.start(worker)
        return True

    def cancel_analysis(self) -> None:
        if self._worker is None:
            return
        self._worker.cancel()
        self._queue.clear()
        self.cancel_button.setEnabled(False)
        self.show_message("Cancelling: the images in progress are finished first…", timeout_ms=0)

    def _on_batch(self, batch: AnalysisBatch) -> None:
        if self._closed:
            return
        if batch.items:
            self.model.apply_images([(it.path, it.image) for it in batch.items])
        self.progress.setValue(batch.done)
        if self._worker is not None and not self._worker.cancelled:
            self.model.set_running(self._run_paths[batch.done:batch.done + CHUNK])
        self._refresh_summary()
        row = self.current_row()
        if row is not None and any(it.path == row.path for it in batch.items):
            self.refresh_current()

    def _on_worker_error(self, message: str) -> None:
        self._run_error = message
        if self._closed:
            return
        self.show_message(message, error=True, timeout_ms=0)
        self.dialogs.error(self, "Analysis stopped", message)

    def _on_run_finished(self, end) -> None:
        finished = end.finished
        worker, self._worker = self._worker, None
        if self._closed:
            return
        self.model.clear_running()
        self.progress.hide()
        self.cancel_button.hide()
        self._refresh_summary()
        self._update_actions()
        if finished is not None and not self._run_error:
            secs = time.perf_counter() - self._run_t0
            done, total, failed = finished.done, finished.total, finished.failed
            if finished.cancelled:
                self.show_message(f"Cancelled: {done} of {total} images analysed; the rest stay "
                                  "pending (Ctrl+R analyses them).")
            else:
                flagged = sum(1 for it in self.model.rows() if it.image is not None and it.flags
                              and not it.failed)
                self.show_message(f"Analysed {done} image{'s' if done != 1 else ''} in {secs:.1f} s: "
                                  f"{failed} could not be read, {flagged} flagged for review.",
                                  timeout_ms=15000)
        if self.current_row() is None and self.proxy.rowCount():
            self.select_proxy_row(0)
        self.refresh_current()
        if getattr(self, "_reload_after_run", False):
            self._reload_after_run = False
            self.start_engine(reload=True)
        elif self._queue and not (worker is not None and worker.cancelled) and not self._closed:
            paths, self._queue = self._queue, []
            self.start_analysis(paths, self._queued_params)
        if self._worker is None:
            self.analysis_finished.emit()

    @property
    def analysing(self) -> bool:
        return self._worker is not None
