"""The live camera panel: the microscope camera's picture, its focus score, and Space to capture.

A daemon thread reads frames from the source (OpenCV camera or image sequence, core.camera) and
keeps the newest; a GUI timer shows it about 12 times a second with its focus score, the same
sharpness measure as the out_of_focus flag, so the technician captures when the score is green.
Space (or the Capture button) asks the window to save the newest frame losslessly into the case
and analyse it at once (``capture_requested``).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QPixmap
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy,
                               QVBoxLayout, QWidget)

from lab_app.core.camera import OpenCVCamera, focus_ok, focus_score, open_source
from lab_app.core.errors import LabAppError

from .field_loader import rgb_to_qimage

log = logging.getLogger(__name__)

SHOW_MS = 80            # live view refresh
MAX_FPS = 15.0          # frames read per second at most (a sequence source reads instantly)
NO_CAMERA = ("No camera is attached, or it is in use by another program. Connect the "
             "microscope camera and press Start; or type a folder of images to practise.")


class _FrameGrabber:
    """Reads frames in a daemon thread; ``latest()`` is the newest frame (or None)."""

    def __init__(self, source) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._count = 0
        self._stop = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        misses = 0
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                frame = self.source.read()
            except (LabAppError, OSError) as exc:
                self.error = str(exc)
                return
            if frame is None:
                misses += 1
                if misses > 50:
                    self.error = "The camera stopped giving pictures; check its cable and press Start."
                    return
            else:
                misses = 0
                with self._lock:
                    self._frame, self._count = frame, self._count + 1
            self._stop.wait(max(0.0, 1.0 / MAX_FPS - (time.monotonic() - t0)))

    def latest(self) -> tuple[np.ndarray | None, int]:
        with self._lock:
            return self._frame, self._count

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.source.close()


class CameraPanel(QWidget):
    capture_requested = Signal(object, str)     # RGB frame, camera name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cameraPanel")
        self._grabber: _FrameGrabber | None = None
        self._shown = -1
        self.last_focus: float | None = None

        self.source_edit = QLineEdit("0")
        self.source_edit.setObjectName("cameraSource")
        self.source_edit.setToolTip("Camera number (0 = the first USB camera), or a folder of "
                                    "images / a video file to practise with")
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("cameraStart")
        self.start_button.clicked.connect(self.toggle)
        self.exposure_lock = QCheckBox("Lock exposure")
        self.wb_lock = QCheckBox("Lock white balance")
        for box in (self.exposure_lock, self.wb_lock):
            box.setEnabled(False)
            box.toggled.connect(self._apply_locks)
        self.view = QLabel(NO_CAMERA)
        self.view.setObjectName("cameraView")
        self.view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view.setWordWrap(True)
        self.view.setMinimumSize(240, 180)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.view.setStyleSheet("background: #2d3339; color: #e2e8f0; padding: 8px;")
        self.focus_label = QLabel("Focus: —")
        self.focus_label.setObjectName("cameraFocus")
        self.focus_label.setToolTip("Sharpness of the live picture, as the out-of-focus flag "
                                    "measures it; capture when it is green")
        self.capture_button = QPushButton("Capture (Space)")
        self.capture_button.setObjectName("cameraCapture")
        self.capture_button.setEnabled(False)
        self.capture_button.clicked.connect(self.capture)
        self.capture_action = QAction("Capture field", self)
        self.capture_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.capture_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.capture_action.triggered.connect(self.capture)
        self.addAction(self.capture_action)

        top = QHBoxLayout()
        top.addWidget(QLabel("Source:"))
        top.addWidget(self.source_edit, 1)
        top.addWidget(self.start_button)
        locks = QHBoxLayout()
        locks.addWidget(self.exposure_lock)
        locks.addWidget(self.wb_lock)
        locks.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.focus_label, 1)
        bottom.addWidget(self.capture_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(locks)
        layout.addWidget(self.view, 1)
        layout.addLayout(bottom)

        self._timer = QTimer(self)
        self._timer.setInterval(SHOW_MS)
        self._timer.timeout.connect(self._show_latest)

    # ------------------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self._grabber is not None

    @property
    def camera_name(self) -> str:
        return self._grabber.source.name if self._grabber is not None else ""

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start(self.source_edit.text())

    def start(self, spec: str) -> bool:
        self.stop()
        try:
            source = open_source(spec)
        except LabAppError as exc:
            self.view.setText(f"{exc}\n\n{NO_CAMERA}" if "No camera" not in str(exc) else str(exc))
            return False
        self.source_edit.setText(str(spec))
        self._grabber = _FrameGrabber(source)
        self._shown = -1
        locks = isinstance(source, OpenCVCamera)      # a sequence has nothing to lock
        self.exposure_lock.setEnabled(locks)
        self.wb_lock.setEnabled(locks)
        self.start_button.setText("Stop")
        self.view.setText("Waiting for the camera…")
        self._timer.start()
        return True

    def stop(self) -> None:
        self._timer.stop()
        if self._grabber is not None:
            self._grabber.stop()
            self._grabber = None
        self.start_button.setText("Start")
        self.capture_button.setEnabled(False)
        self.exposure_lock.setEnabled(False)
        self.wb_lock.setEnabled(False)

    def _apply_locks(self) -> None:
        if self._grabber is None:
            return
        src = self._grabber.source
        if not src.lock_exposure(self.exposure_lock.isChecked()) and self.exposure_lock.isChecked():
            self.exposure_lock.setChecked(False)
            self.exposure_lock.setToolTip("This camera does not let the exposure be locked.")
        if not src.lock_white_balance(self.wb_lock.isChecked()) and self.wb_lock.isChecked():
            self.wb_lock.setChecked(False)
            self.wb_lock.setToolTip("This camera does not let the white balance be locked.")

    # ----------------------------------------------------------------------- live view
    def latest_frame(self) -> np.ndarray | None:
        return self._grabber.latest()[0] if self._grabber is not None else None

    def _show_latest(self) -> None:
        grabber = self._grabber
        if grabber is None:
            return
        if grabber.error:
            message = grabber.error
            self.stop()
            self.view.setText(message)
            return
        frame, count = grabber.latest()
        if frame is None or count == self._shown:
            return
        self._shown = count
        pixmap = QPixmap.fromImage(rgb_to_qimage(np.ascontiguousarray(frame)))
        self.view.setPixmap(pixmap.scaled(self.view.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))
        score = focus_score(frame)
        self.last_focus = score
        sharp = focus_ok(score)
        colour = "#2f855a" if sharp else "#c53030"
        self.focus_label.setText(f"<span style='color:{colour}'><b>Focus {score:.2f}</b> "
                                 f"({'sharp' if sharp else 'refocus'})</span> · "
                                 f"{frame.shape[1]} × {frame.shape[0]} px")
        self.capture_button.setEnabled(True)

    def capture(self) -> bool:
        frame = self.latest_frame()
        if frame is None:
            return False
        self.capture_requested.emit(frame.copy(), self.camera_name)
        return True

    def shutdown(self) -> None:
        self.stop()
