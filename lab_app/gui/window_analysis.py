"""Main-window behaviour for the analysis: engine loading, adding images, the worker, progress.

Images are added to the session at once (state "pending") and analysed by the
``AnalysisController`` (engine and worker); results arrive in batches, already stored in the case
and put on the session's rows. While the engine loads, added images wait in the session's queue;
if it cannot load, they stay pending and the reason is shown once. This mixin only connects the
controller to the widgets and words the messages.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lab_app.core.segmentation import SegmentationParams
from lab_app.core.session import SessionRuleError

from .analysis_controller import CHUNK, RunSummary
from .worker import AnalysisBatch, CallableWorker

log = logging.getLogger(__name__)


class AnalysisMixin:
    # ------------------------------------------------------------------------------ engine
    def start_engine(self, reload: bool = False) -> None:
        """Load the inference engine in the work pool (imports onnxruntime or torch there)."""
        ctl = self.analysis
        if ctl.loading or (ctl.engine is not None and not reload):
            return
        if ctl.running:
            self.show_message("The new device or model is used after the current analysis.")
            self._reload_after_run = True
            return
        device = self._device_override or self.settings.analysis.device
        model_dir = self._model_dir_override or self.settings.analysis.model_dir
        ctl.load_engine(model_dir, device)

    def _engine_loading(self) -> None:
        self.device_label.setText("Loading model…")
        self.device_label.setStyleSheet("")
        self.model_label.setText("")

    def _engine_loaded(self, engine) -> None:
        info = engine.info
        self.device_label.setText(engine.device_label)
        self.device_label.setToolTip("The device running the model")
        self.model_label.setText(f"Model {info['name']} {info['version']}")
        self.model_label.setToolTip(f"SHA-256 {info['sha256']}\n{engine.model_dir}")
        self.engine_ready.emit()
        self.refresh_current(reload_field=True)
        if self.session.queued:
            self.start_analysis(*self.session.take_queue())

    def _engine_failed(self, error_text: str) -> None:
        self.device_label.setText("No model loaded")
        self.device_label.setStyleSheet("color: #c53030; font-weight: bold;")
        self.device_label.setToolTip(error_text)
        self.model_label.setText("")
        self.show_message("The model could not be loaded; images cannot be analysed.", error=True,
                          timeout_ms=0)
        self.engine_failed.emit(error_text)
        self.dialogs.error(self, "The model could not be loaded", error_text)

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
        try:
            self.session.require_open()
        except SessionRuleError as exc:
            self.dialogs.error(self, exc.title, str(exc))
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
        if self.session.locked:
            return 0
        self.remember_folder(inputs[0])
        if self.ensure_case() is None:
            return 0
        new = self.session.add_paths(paths)
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
        paths = self.session.pending_paths()
        if not paths:
            self.show_message("Every image is analysed. Use Re-analyse to run them again with "
                              "new settings.")
            return
        self.start_analysis(paths)

    def reanalyse_case(self) -> None:
        if self.analysis.running:
            self.show_message("Wait for the current analysis to finish.")
            return
        rows = self.session.rows
        existing = [r.path for r in rows if Path(r.path).exists()]
        gone = len(rows) - len(existing)
        if not existing:
            self.show_message("There are no image files to analyse.", error=True)
            return
        self.start_analysis(existing, self.seg_panel.params)
        if gone:
            self.show_message(f"Re-analysing {len(existing)} images; {gone} file(s) are no longer "
                              "at their saved location and keep their earlier results.")

    def start_analysis(self, paths: list[str], params: SegmentationParams | None = None) -> bool:
        if not paths:
            return False
        ctl = self.analysis
        if ctl.running or ctl.engine is None:
            self.session.enqueue(paths, params)
            if ctl.running:
                return False
            if ctl.engine_error:
                self.show_message("Images cannot be analysed: the model is not loaded. "
                                  "See Help ▸ About and Preferences.", error=True, timeout_ms=0)
            else:
                self.show_message("The images are analysed as soon as the model is loaded.")
                self.start_engine()
            return False
        case_id = self.ensure_case()
        if case_id is None:
            return False
        if self.session.locked:
            self.dialogs.error(self, "Case signed off", "This case is signed off and locked; it "
                               "cannot be analysed again.")
            return False
        from lab_app.core.pipeline import AnalysisOptions
        options = AnalysisOptions(segmentation=params or self.seg_panel.params,
                                  low_confidence_threshold=self.settings.analysis.low_confidence_threshold,
                                  chunk_size=CHUNK)
        ctl.start(paths, options, case_id)
        return True

    def _run_started(self, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.show_message(f"Analysing {total} image{'s' if total != 1 else ''} on "
                          f"{self.analysis.engine.device_label}…", timeout_ms=0)

    def cancel_analysis(self) -> None:
        if not self.analysis.cancel():
            return
        self.cancel_button.setEnabled(False)
        self.show_message("Cancelling: the images in progress are finished first…", timeout_ms=0)

    def _on_batch(self, batch: AnalysisBatch) -> None:
        if self._closed:
            return
        self.progress.setValue(batch.done)
        self._refresh_summary()
        row = self.current_row()
        if row is not None and any(it.path == row.path for it in batch.items):
            self.refresh_current()

    def _on_run_error(self, message: str) -> None:
        if self._closed:
            return
        self.show_message(message, error=True, timeout_ms=0)
        self.dialogs.error(self, "Analysis stopped", message)

    def _on_run_finished(self, run: RunSummary) -> None:
        if self._closed:
            return
        self.progress.hide()
        self.cancel_button.hide()
        self._refresh_summary()
        finished = run.finished
        if finished is not None and not run.error:
            done, total, failed = finished.done, finished.total, finished.failed
            if finished.cancelled:
                self.show_message(f"Cancelled: {done} of {total} images analysed; the rest stay "
                                  "pending (Ctrl+R analyses them).")
            else:
                flagged = sum(1 for r in self.session.rows if r.image is not None and r.flags
                              and not r.failed)
                self.show_message(f"Analysed {done} image{'s' if done != 1 else ''} in "
                                  f"{run.seconds:.1f} s: {failed} could not be read, {flagged} "
                                  "flagged for review.", timeout_ms=15000)
        if self.current_row() is None and self.proxy.rowCount():
            self.select_proxy_row(0)
        self.refresh_current()
        if self._reload_after_run:
            self._reload_after_run = False
            self.start_engine(reload=True)
        elif self.session.queued and not run.cancelled:
            self.start_analysis(*self.session.take_queue())
        if not self.analysis.running:
            self.analysis_finished.emit()

    @property
    def analysing(self) -> bool:
        return self.analysis.running
