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

from lab_app.core.cases import default_data_dir
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
        note = getattr(engine, "fallback_note", None)
        self.device_label.setText(engine.device_label + (" (GPU not available)" if note else ""))
        self.device_label.setStyleSheet("color: #b7791f; font-weight: bold;" if note else "")
        self.device_label.setToolTip(note or "The device running the model")
        if note:
            self.show_message(note, error=True, timeout_ms=0)
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

        def scan() -> tuple[list[str], list[str]]:
            from lab_app.core.imaging import folders_without_images, iter_image_paths
            paths = [str(p) for p in iter_image_paths(inputs)]
            return paths, folders_without_images(inputs, paths)

        job = CallableWorker(scan, "looking for images", expected=(OSError,))
        job.signals.finished.connect(lambda done: self._paths_found(inputs, *done.value, job))
        job.signals.errored.connect(lambda msg: self._paths_not_found(msg, job))
        self._scan_jobs.append(job)
        self.show_message("Looking for images…", timeout_ms=0)
        self._scan_pool.start(job)
        return True

    def _paths_not_found(self, message: str, job) -> None:
        self._scan_jobs.remove(job)
        self.dialogs.error(self, "Images not opened", f"The images could not be listed: {message}")

    def _paths_found(self, inputs: list[str], paths: list[str], empty: list[str], job) -> int:
        """The images found in ``inputs`` are added and analysed; ``empty``: the input folders
        that held none (named in the status bar beside the run's messages, no dialog: the
        other folders' images are analysed)."""
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
        note = empty_folders_note(empty)
        new = self.session.add_paths(paths)
        if not new:
            self.show_message(_joined("These images are already in the case.", note))
            return 0
        if self.proxy.rowCount() and not self.image_list.view.selectionModel().currentIndex().isValid():
            self.select_proxy_row(0)
        # Kept until the run ends, so its start and its summary say it too.
        self._folder_note = note
        if not self.start_analysis(new) and note:   # they wait for the model or another run
            self.show_message(note, timeout_ms=0)
        self._refresh_summary()
        return len(new)

    def _noted(self, text: str) -> str:
        """A run message with the note on input folders that held no images, if any."""
        return _joined(text, self._folder_note)

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
        self.show_message(self._noted(f"Analysing {total} image{'s' if total != 1 else ''} on "
                                      f"{self.analysis.engine.device_label}…"), timeout_ms=0)

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
                # A cancelled re-analysis leaves nothing pending: the rest keep their results.
                rest = ("the rest stay pending (Ctrl+R analyses them)." if self.session.pending_count()
                        else "the rest keep their earlier results.")
                self.show_message(self._noted(f"Cancelled: {done} of {total} images analysed; {rest}"))
            else:
                flagged = sum(1 for r in self.session.rows if r.image is not None and r.flags
                              and not r.failed)
                self.show_message(self._noted(f"Analysed {done} image{'s' if done != 1 else ''} "
                                              f"in {run.seconds:.1f} s: {failed} could not be "
                                              f"read, {flagged} flagged for review."),
                                  timeout_ms=15000)
        self._folder_note = ""
        if self.current_row() is None and self.proxy.rowCount():
            self.select_proxy_row(0)
        self.refresh_current()
        self._refresh_gallery()
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

    # ------------------------------------------------------------------- at the microscope
    def watch_folder_action(self, checked: bool = True) -> None:
        """File ▸ Watch a folder: ask for the folder (the last one suggested), or stop."""
        if not checked:
            self.watcher.stop()
            return
        start = self.gui_state.get_str("paths/watch_folder", "") or self.last_folder()
        folder = self.dialogs.open_folder(self, start)
        if not folder or not self.watch_folder(folder):
            self.actions_.watch_folder.setChecked(self.watcher.active)

    def watch_folder(self, folder: str | Path, include_existing: bool = False) -> bool:
        """Analyse each image saved into ``folder`` from now on (``include_existing``: and the
        images already there) into the open case."""
        from lab_app.core.watch import WatchError
        try:
            self.session.require_open()
            self.watcher.start(folder, include_existing=include_existing)
        except (SessionRuleError, WatchError) as exc:
            self.dialogs.error(self, getattr(exc, "title", "Folder not watched"), str(exc))
            return False
        self.gui_state.set_str("paths/watch_folder", str(folder))
        self.watch_label.setText(f"Watching {Path(folder).name}")
        self.watch_label.setToolTip(f"Each image saved into {folder} is analysed as it arrives "
                                    "(File ▸ Watch a folder to stop)")
        self.watch_label.show()
        self.actions_.watch_folder.setChecked(True)
        self.show_message(f"Watching {folder}: each image saved there is analysed as it arrives.")
        return True

    def _watch_stopped(self, reason: str) -> None:
        self.watch_label.hide()
        self.actions_.watch_folder.setChecked(False)
        if self._closed:
            return
        if reason:
            self.show_message(reason, error=True, timeout_ms=0)
            self.dialogs.error(self, "Folder no longer watched", reason)
        else:
            self.show_message("Stopped watching the folder.")

    def _watched_files(self, paths: list[str]) -> None:
        if self._closed:
            return
        if self.session.locked:
            self.show_message(f"{len(paths)} new image(s) in the watched folder were not added: "
                              "this case is signed off. Start a new case (Ctrl+N).", error=True,
                              timeout_ms=0)
            return
        if self.ensure_case() is None:
            return
        new = self.session.add_paths(paths)
        if new:
            self.start_analysis(new)
            self._refresh_summary()
            self._select_path(new[-1])
            self.show_message(f"{len(new)} new image{'s' if len(new) != 1 else ''} from the "
                              "watched folder.")

    def show_camera(self, checked: bool = True) -> None:
        if checked:
            self.dock_camera.show()
            self.dock_camera.raise_()
            self.camera_panel.setFocus()
            if not self.camera_panel.running:
                self.camera_panel.start(self.gui_state.get_str("camera/source", "0"))
        else:
            self.camera_panel.stop()
            self.dock_camera.hide()

    def capture_field(self, frame, camera: str) -> str | None:
        """Save a live frame losslessly into the case's capture folder and analyse it at once."""
        from lab_app.core.camera import CameraError, save_capture
        try:
            self.session.require_open()
        except SessionRuleError as exc:
            self.dialogs.error(self, exc.title, str(exc))
            return None
        case_id = self.ensure_case()
        if case_id is None:
            return None
        # Captures stay on this PC (next to its SQLite file; in its data folder with a server).
        base = Path(self.store.path).parent if self.store.path is not None else default_data_dir()
        folder = base / "captures" / f"case-{case_id}"
        try:
            record = save_capture(frame, folder, case_id=case_id, camera=camera)
        except CameraError as exc:
            self.dialogs.error(self, "Field not captured", str(exc))
            return None
        self.gui_state.set_str("camera/source", self.camera_panel.source_edit.text())
        self.session.add_paths([record.path])
        self.start_analysis([record.path])
        self._refresh_summary()
        self._select_path(record.path)
        self.show_message(f"Captured {Path(record.path).name}; analysing…")
        return record.path

    def _select_path(self, path: str) -> None:
        i = self.session.find(path)
        if i >= 0:
            proxy_row = self.proxy_row_of(i)
            if proxy_row >= 0:
                self.select_proxy_row(proxy_row)


def empty_folders_note(folders: list[str]) -> str:
    """One sentence naming the input folders that held no image files ('' when none)."""
    if not folders:
        return ""
    if len(folders) == 1:
        return f"The folder {folders[0]} holds no image files; nothing in it is analysed."
    names = ", ".join(folders[:-1]) + " and " + folders[-1]
    return f"The folders {names} hold no image files; nothing in them is analysed."


def _joined(text: str, note: str) -> str:
    return f"{text} {note}" if note else text
