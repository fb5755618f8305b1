"""The main window: layout, menus, status bar, settings and shutdown.

The window is a view: the open case, its rows and its rules live in a Qt-free
:class:`~lab_app.core.session.CaseSession`; the engine and the analysis worker in an
:class:`~lab_app.gui.analysis_controller.AnalysisController`. The window builds the panels,
connects them to the two, and asks the technician what only a person can answer. Its glue code
sits in three mixins so that each file stays readable: ``window_case`` (case fields,
open/new/sign-off, exports), ``window_analysis`` (engine and run messages, adding images) and
``window_review`` (selection, viewer, decisions, navigation).

Start-up is cheap on purpose: the window is built and shown without importing torch or
onnxruntime; ``start_engine()`` (called by ``labapp`` right after the first paint) loads the model
in a worker thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QHeaderView, QLabel, QMainWindow,
                               QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSplitter, QTableView, QTabWidget,
                               QToolBar, QWidget)

from lab_app import RESEARCH_USE_ONLY
from lab_app.core.errors import CaseStoreError
from lab_app.core.session import CaseSession
from lab_app.core.settings import Settings, SettingsError, load_settings, save_settings

from .actions import Actions
from .analysis_controller import AnalysisController
from .camera_panel import CameraPanel
from .cell_gallery import CellGallery
from .case_panel import CasePanel
from .dialogs import Dialogs
from .gui_state import GuiState
from .image_list import ImageListPanel, NoDecorationDelegate
from .prediction_panel import PredictionPanel
from .results_model import COL, ResultsFilter, ResultsModel
from .segmentation_panel import SegmentationPanel, params_from_json
from .summary_panel import SummaryPanel
from .thumbnails import ThumbnailCache
from .viewer import ViewerPanel
from .watch_controller import FolderWatchController
from .window_analysis import AnalysisMixin
from .window_case import CaseMixin
from .window_review import ReviewMixin

log = logging.getLogger(__name__)

APP_TITLE = "ALL Subtype Workstation"
# Room a window frame and title bar take around the client area (pixels, generous).
FRAME_ALLOWANCE = (16, 48)


def _scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless vertical scroll area, so that its dock can shrink (1366 x 768)."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


class MainWindow(CaseMixin, AnalysisMixin, ReviewMixin, QMainWindow):
    engine_ready = Signal()
    engine_failed = Signal(str)
    analysis_finished = Signal()
    field_shown = Signal(str)
    report_written = Signal(str)

    def __init__(self, *, store_path: str | Path | None = None, config_dir: str | Path | None = None,
                 model_dir: str | Path | None = None, device: str | None = None,
                 dialogs: Dialogs | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"{APP_TITLE} — research use only")
        self.setAcceptDrops(True)
        self.dialogs = dialogs or Dialogs()
        self._config_dir = config_dir
        self.gui_state = GuiState(config_dir)
        self._startup_errors: list[tuple[str, str]] = []
        self.settings = self._load_settings()
        self._model_dir_override = str(model_dir) if model_dir else None
        self._device_override = device
        self._init_state()
        self.session = CaseSession(self._open_store(store_path))
        self.analysis = AnalysisController(self.session, self)
        self.watcher = FolderWatchController(self)

        self.thumbs = ThumbnailCache(self)
        self.model = ResultsModel(self.session, self.thumbs, self)
        self.proxy = ResultsFilter(self)
        self.proxy.setSourceModel(self.model)
        self._aux_pool = QThreadPool(self)        # reports
        self._aux_pool.setMaxThreadCount(1)
        self._view_pool = QThreadPool(self)       # viewer fields
        self._view_pool.setMaxThreadCount(1)
        self._scan_pool = QThreadPool(self)       # listing the images in folders
        self._scan_pool.setMaxThreadCount(1)

        self._build_widgets()
        self.actions_ = Actions(self)
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect()
        self._restore_state()
        self._start_accounts()
        self.new_case(confirm=False)
        QTimer.singleShot(0, self._show_startup_errors)

    # ------------------------------------------------------------------------------ set-up
    def _init_state(self) -> None:
        self._report_job = None
        self._scan_jobs: list = []
        self._folder_note = ""   # input folders of the last adding that held no images
        self._field = None
        self._field_cam = None
        self._field_request = 0
        self._pending_highlight: tuple[str, int] | None = None
        self._closed = False
        self._reload_after_run = False

    # What the window shows comes from the session and the controller.
    @property
    def store(self):
        return self.session.store

    @property
    def case(self):
        return self.session.case

    @property
    def engine(self):
        return self.analysis.engine

    @property
    def engine_error(self) -> str | None:
        return self.analysis.engine_error

    def _load_settings(self) -> Settings:
        try:
            return load_settings(self._config_dir)
        except SettingsError as exc:
            self._startup_errors.append(("Settings not loaded", f"{exc} The defaults are used "
                                         "until you save new preferences."))
            return Settings()

    def _open_store(self, path: str | Path | None):
        from lab_app.core.cases import CaseStore
        from lab_app.core.settings import database_location
        try:    # --db, else the lab settings' database (a lab network's server), else this PC's
            return CaseStore(database_location(path, self._config_dir))
        except CaseStoreError as exc:
            self._startup_errors.append(("Case database unavailable",
                                         f"{exc} Results cannot be saved until this is fixed."))
            return None

    def _start_accounts(self) -> None:
        """A store with accounts (lab_app/core/accounts.py) asks who signs in; cancelled, the
        window closes. Without accounts (the default) nothing changes: single-user mode."""
        self.actions_.sign_out.setVisible(False)
        if self.store is None:
            return
        from lab_app.core.accounts import Accounts
        try:
            enabled = Accounts(self.store).enabled()
        except CaseStoreError as exc:
            self._startup_errors.append(("Accounts unavailable", str(exc)))
            return
        if not enabled:
            return
        self.session.accounts_on = True
        self.actions_.sign_out.setVisible(True)
        if not self.sign_in():
            QTimer.singleShot(0, self.close)

    def _show_startup_errors(self) -> None:
        for title, text in self._startup_errors:
            self.show_message(text, error=True)
            self.dialogs.error(self, title, text)
        self._startup_errors = []

    def _build_widgets(self) -> None:
        self.viewer = ViewerPanel()
        self.setCentralWidget(self.viewer)
        self.viewer.view.clear_field("Drop images or a folder here, or use File ▸ Add images "
                                     "(Ctrl+I) / Add folder (Ctrl+Shift+I).")

        self.image_list = ImageListPanel(self.proxy)
        self.prediction = PredictionPanel()
        self.case_panel = CasePanel()
        self.seg_panel = SegmentationPanel()
        saved = self.gui_state.segmentation()
        self.seg_panel.set_params(params_from_json(saved) if saved else
                                  params_from_json({"preset": self.settings.analysis.segmentation_preset}
                                                   if self.settings.analysis.segmentation_preset
                                                   in ("default", "dataset") else None))
        self.summary = SummaryPanel()

        self.table = QTableView()
        self.table.setObjectName("resultsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)   # input order until asked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSelectionModel(self.image_list.view.selectionModel())
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setHighlightSections(False)
        widths = {"file": 170, "status": 95, "call": 150, "confidence": 80, "cells": 50,
                  "flags": 150, "decision": 140, "final": 150}
        for key, w in widths.items():
            self.table.setColumnWidth(COL[key], w)
        for key, i in COL.items():
            if key.startswith("p_"):
                self.table.setColumnWidth(i, 72)
        self.table.setItemDelegate(NoDecorationDelegate(self.table))
        self.table.setAccessibleName("Results table")

        results = QSplitter(Qt.Orientation.Horizontal)
        results.setObjectName("resultsSplitter")
        results.addWidget(self.table)
        summary_area = _scrolled(self.summary)
        summary_area.setMinimumWidth(330)
        results.addWidget(summary_area)
        results.setStretchFactor(0, 3)
        results.setStretchFactor(1, 1)
        results.setSizes([900, 300])

        self.dock_images = self._dock("Images", "dockImages", self.image_list,
                                      Qt.DockWidgetArea.LeftDockWidgetArea)
        self.dock_prediction = self._dock("Prediction", "dockPrediction", _scrolled(self.prediction),
                                          Qt.DockWidgetArea.RightDockWidgetArea)
        self.side_tabs = QTabWidget()
        self.side_tabs.setObjectName("sideTabs")
        self.side_tabs.addTab(self.case_panel, "Case")
        self.side_tabs.addTab(_scrolled(self.seg_panel), "Segmentation")
        self.dock_case = self._dock("Case and settings", "dockCase", self.side_tabs,
                                    Qt.DockWidgetArea.RightDockWidgetArea)
        self.dock_results = self._dock("Results", "dockResults", results,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.gallery = CellGallery()
        self.dock_gallery = self._dock("Cells", "dockCells", self.gallery,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.dock_results, self.dock_gallery)
        self.dock_results.raise_()
        self.camera_panel = CameraPanel()
        self.dock_camera = self._dock("Camera", "dockCamera", self.camera_panel,
                                      Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.dock_case, self.dock_camera)
        self.dock_camera.hide()
        # The results run under the image list too, so that file, status, call and confidence
        # fit at 1280 px; the prediction and case docks keep the full height (review buttons).
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        # The review area: plain-key shortcuts (Enter, 1-4, N, M, O, A) work inside it only.
        self.review_widgets = [self.image_list, self.viewer, self.table, self.prediction,
                               self.summary]

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        a = self.actions_
        bar = self.menuBar()
        m = bar.addMenu("&File")
        for act in (a.add_images, a.add_folder):
            m.addAction(act)
        m.addSeparator()
        for act in (a.watch_folder, a.camera):
            m.addAction(act)
        m.addSeparator()
        for act in (a.export_pdf, a.export_csv, a.export_fhir, a.export_hl7):
            m.addAction(act)
        m.addSeparator()
        m.addAction(a.preferences)
        m.addSeparator()
        m.addAction(a.sign_out)       # shown when the store has accounts
        m.addAction(a.quit)
        m = bar.addMenu("&Case")
        for act in (a.new_case, a.open_case):
            m.addAction(act)
        self.recent_menu = m.addMenu("Recent &cases")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        m.addSeparator()
        m.addAction(a.focus_case)
        m.addAction(a.sign_off)
        m = bar.addMenu("&Analysis")
        for act in (a.analyse, a.reanalyse, a.cancel):
            m.addAction(act)
        m = bar.addMenu("&Review")
        m.addAction(a.accept)
        om = m.addMenu("&Override to")
        for act in a.override:
            om.addAction(act)
        m.addAction(a.reset_decision)
        m.addSeparator()
        for act in (a.next_undecided, a.prev_undecided, a.next_flagged, a.prev_flagged,
                    a.next_image, a.prev_image):
            m.addAction(act)
        m = bar.addMenu("&View")
        for act in (a.show_mask, a.show_outlines, a.show_cam):
            m.addAction(act)
        m.addSeparator()
        for act in (a.fit, a.zoom_in, a.zoom_out, a.actual_size):
            m.addAction(act)
        m.addSeparator()
        m.addAction(a.gallery)
        m.addSeparator()
        m.addAction(a.focus_list)
        m.addSeparator()
        for dock in (self.dock_images, self.dock_prediction, self.dock_case, self.dock_results):
            m.addAction(dock.toggleViewAction())
        m = bar.addMenu("&Help")
        m.addAction(a.shortcuts)
        m.addAction(a.about)
        # Shortcuts of the review area are bound to its widgets; the others to the window.
        for w in self.review_widgets:
            w.addActions(a.review)
        for act in a.all:
            if act not in a.review:
                self.addAction(act)

    def _build_toolbar(self) -> None:
        a = self.actions_
        tb = QToolBar("Main", self)
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(16, 16))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for act, short in ((a.add_images, "Add images"), (a.add_folder, "Add folder"),
                           (a.analyse, "Analyse"), (a.cancel, "Cancel"), (a.show_mask, "Mask"),
                           (a.show_outlines, "Outlines"), (a.show_cam, "Activation map"),
                           (a.export_pdf, "Export PDF"), (a.sign_off, "Sign off")):
            act.setIconText(short)
        for act in (a.add_images, a.add_folder, a.analyse, a.cancel):
            tb.addAction(act)
        tb.addSeparator()
        for act in (a.show_mask, a.show_outlines, a.show_cam):
            tb.addAction(act)
        tb.addSeparator()
        for act in (a.export_pdf, a.sign_off):
            tb.addAction(act)
        ruo = QLabel(f"  {RESEARCH_USE_ONLY}  ")
        ruo.setObjectName("ruoLabel")
        ruo.setStyleSheet("color: #a61b1b; font-weight: bold;")
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        tb.addWidget(ruo)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setObjectName("analysisProgress")
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%v / %m")
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the analysis (Esc)")
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.cancel_button.hide()
        self.device_label = QLabel("Loading model…")
        self.device_label.setObjectName("deviceLabel")
        self.model_label = QLabel("")
        self.model_label.setObjectName("modelLabel")
        self.watch_label = QLabel("")
        self.watch_label.setObjectName("watchLabel")
        self.watch_label.hide()
        sb.addPermanentWidget(self.watch_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.device_label)
        sb.addPermanentWidget(self.model_label)

    def _connect(self) -> None:
        a = self.actions_
        a.new_case.triggered.connect(lambda: self.new_case())
        a.open_case.triggered.connect(self.open_case_dialog)
        a.add_images.triggered.connect(self.add_images_dialog)
        a.add_folder.triggered.connect(self.add_folder_dialog)
        a.watch_folder.triggered.connect(self.watch_folder_action)
        a.camera.triggered.connect(self.show_camera)
        self.dock_camera.visibilityChanged.connect(
            lambda visible: a.camera.setChecked(visible or not self.dock_camera.isHidden()))
        self.watcher.files_ready.connect(self._watched_files)
        self.watcher.stopped.connect(self._watch_stopped)
        self.camera_panel.capture_requested.connect(self.capture_field)
        a.gallery.triggered.connect(self.show_gallery)
        self.dock_gallery.visibilityChanged.connect(self._gallery_visibility)
        self.gallery.cell_activated.connect(self.show_cell)
        a.export_pdf.triggered.connect(self.export_pdf)
        a.export_csv.triggered.connect(self.export_csv)
        a.export_fhir.triggered.connect(lambda: self.export_lis("fhir"))
        a.export_hl7.triggered.connect(lambda: self.export_lis("hl7"))
        a.sign_off.triggered.connect(self.sign_off)
        a.preferences.triggered.connect(self.edit_preferences)
        a.sign_out.triggered.connect(self.switch_user)
        a.quit.triggered.connect(self.close)
        a.analyse.triggered.connect(self.analyse_pending)
        a.reanalyse.triggered.connect(self.reanalyse_case)
        a.cancel.triggered.connect(self.cancel_analysis)
        a.accept.triggered.connect(self.accept_current)
        for n, act in enumerate(a.override):
            act.triggered.connect(lambda _=False, k=n: self.override_current(k))
        a.reset_decision.triggered.connect(self.reset_decision)
        a.next_undecided.triggered.connect(lambda: self.go_undecided(+1))
        a.prev_undecided.triggered.connect(lambda: self.go_undecided(-1))
        a.next_flagged.triggered.connect(lambda: self.go_flagged(+1))
        a.prev_flagged.triggered.connect(lambda: self.go_flagged(-1))
        a.next_image.triggered.connect(lambda: self.step_image(+1))
        a.prev_image.triggered.connect(lambda: self.step_image(-1))
        a.show_mask.toggled.connect(lambda on: self.set_overlay(mask=on))
        a.show_outlines.toggled.connect(lambda on: self.set_overlay(outlines=on))
        a.show_cam.toggled.connect(lambda on: self.set_overlay(cam=on))
        a.fit.triggered.connect(self.viewer.view.fit)
        a.zoom_in.triggered.connect(lambda: self.viewer.view.zoom_by(1.25))
        a.zoom_out.triggered.connect(lambda: self.viewer.view.zoom_by(0.8))
        a.actual_size.triggered.connect(self.viewer.view.actual_size)
        a.focus_list.triggered.connect(lambda: self.image_list.view.setFocus())
        a.focus_case.triggered.connect(self.focus_case_fields)
        a.about.triggered.connect(self.show_about)
        a.shortcuts.triggered.connect(self.show_shortcuts)

        ctl = self.analysis
        ctl.engine_loading.connect(self._engine_loading)
        ctl.engine_ready.connect(self._engine_loaded)
        ctl.engine_failed.connect(self._engine_failed)
        ctl.run_started.connect(self._run_started)
        ctl.batch_applied.connect(self._on_batch)
        ctl.run_failed.connect(self._on_run_error)
        ctl.run_finished.connect(self._on_run_finished)
        self.session.events.connect("case_changed", lambda _case: self._case_changed())
        self.session.events.connect("busy_changed", self._update_actions)

        sel = self.image_list.view.selectionModel()
        sel.currentRowChanged.connect(self._on_current_changed)
        self.prediction.accept_requested.connect(self.accept_current)
        self.prediction.override_requested.connect(self.override_current)
        self.prediction.next_requested.connect(lambda: self.go_undecided(+1))
        self.case_panel.edited.connect(self.save_case_field)
        self.case_panel.new_case_requested.connect(lambda: self.new_case())
        self.case_panel.open_case_requested.connect(self.open_case_dialog)
        self.case_panel.sign_off_requested.connect(self.sign_off)
        self.seg_panel.params_changed.connect(self.preview_segmentation)
        self.seg_panel.reanalyse_requested.connect(self.reanalyse_case)
        self.image_list.filters_changed.connect(self._after_filter)
        self.proxy.modelReset.connect(self._update_actions)
        self.model.dataChanged.connect(lambda *args: self._update_actions())
        self.model.rowsInserted.connect(lambda *args: self._update_actions())

    # ------------------------------------------------------------------------- persistence
    def _restore_state(self) -> None:
        geometry = self.gui_state.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self._default_geometry()
        state = self.gui_state.window_state()
        self._needs_default_docks = state is None or not self.restoreState(state)
        self.actions_.show_mask.setChecked(self.gui_state.get_bool("view/mask", False))
        self.actions_.show_outlines.setChecked(self.gui_state.get_bool("view/outlines", True))
        self.actions_.show_cam.setChecked(self.gui_state.get_bool("view/cam", False))
        self.set_overlay()

    def _default_geometry(self) -> None:
        """First run: 1366 x 768 where the screen has room for it and its frame, centred;
        otherwise (1366 x 768 and 1280 x 1024 screens, 150 % scaling) maximised, so nothing is
        cut off by the screen edge or the taskbar."""
        screen = QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else None
        w, h = 1366, 768
        if avail is None or avail.width() <= 0:
            self.resize(w, h)
            return
        if avail.width() < w + FRAME_ALLOWANCE[0] or avail.height() < h + FRAME_ALLOWANCE[1]:
            self.resize(min(w, avail.width()), min(h, avail.height()))
            self.setWindowState(Qt.WindowState.WindowMaximized)
            return
        self.resize(w, h)
        self.move(avail.x() + (avail.width() - w) // 2, avail.y() + (avail.height() - h) // 2)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if getattr(self, "_needs_default_docks", False):
            self._needs_default_docks = False
            self._default_docks()
        if not getattr(self, "_focused_once", False):
            self._focused_once = True
            self.image_list.view.setFocus()   # review keys work at once

    def _default_docks(self) -> None:
        self.resizeDocks([self.dock_images], [250], Qt.Orientation.Horizontal)
        self.resizeDocks([self.dock_prediction, self.dock_case], [330, 330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.dock_prediction, self.dock_case], [300, 400], Qt.Orientation.Vertical)
        self.resizeDocks([self.dock_results], [185], Qt.Orientation.Vertical)

    def save_gui_state(self) -> None:
        self.gui_state.save_window(self.saveGeometry(), self.saveState())
        a = self.actions_
        self.gui_state.set_bool("view/mask", a.show_mask.isChecked())
        self.gui_state.set_bool("view/outlines", a.show_outlines.isChecked())
        self.gui_state.set_bool("view/cam", a.show_cam.isChecked())
        self.gui_state.set_segmentation(self.seg_panel.params.to_json())
        self.gui_state.sync()

    def edit_preferences(self) -> None:
        new = self.dialogs.preferences(self, self.settings)
        if new is None:
            return
        self.apply_settings(new)

    def apply_settings(self, new: Settings) -> bool:
        """Validate, save and use new settings; reload the engine if its device/model changed."""
        try:
            save_settings(new, self._config_dir)
        except (SettingsError, OSError) as exc:
            self.dialogs.error(self, "Preferences not saved", f"The preferences could not be saved: {exc}")
            return False
        old = self.settings
        self.settings = new
        self.show_message("Preferences saved.")
        if (old.analysis.device, old.analysis.model_dir) != (new.analysis.device, new.analysis.model_dir):
            self._device_override = None
            self._model_dir_override = None
            self.start_engine(reload=True)
        return True

    # ------------------------------------------------------------------------ status / help
    def show_message(self, text: str, error: bool = False, timeout_ms: int = 8000) -> None:
        (log.warning if error else log.info)("%s", text)
        self.statusBar().setStyleSheet("QStatusBar { color: #c53030; }" if error else "")
        self.statusBar().showMessage(text, timeout_ms)

    def about_info(self):
        from .dialogs import AboutInfo, read_model_card
        info = AboutInfo()
        model_dir = None
        if self.engine is not None:
            e = self.engine
            info = AboutInfo(model_name=e.info["name"], model_version=str(e.info["version"]),
                             model_sha256=e.info["sha256"], device=e.device_label,
                             model_dir=str(e.model_dir), metrics=e.info.get("metrics"))
            model_dir = e.model_dir
        else:
            model_dir = self._model_dir()
            if model_dir is not None:
                info.model_dir = str(model_dir)
        info.card_markdown = read_model_card(model_dir)
        return info

    def show_about(self) -> None:
        self.dialogs.about(self, self.about_info())

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td>{name}</td><td><b>{keys}</b></td></tr>"
                       for name, keys in self.actions_.shortcut_rows())
        self.dialogs.text(self, "Keyboard shortcuts",
                          "<p>Review keys (Enter, 1–4, N, M, O, A, F, +, −) work when the image "
                          "list, the viewer or the results have the focus; not while typing in a "
                          "case field.</p><table cellpadding='3'>" + rows + "</table>"
                          "<p>Mouse: wheel zooms, drag pans. Drop files or folders anywhere on "
                          "the window to add them.</p>")

    def focus_case_fields(self) -> None:
        self.dock_case.show()
        self.side_tabs.setCurrentWidget(self.case_panel)
        self.case_panel.focus_field("patient_id")

    # ------------------------------------------------------------------------- drag & drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_paths(paths))

    # ----------------------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        event.accept()

    def shutdown(self, timeout_ms: int = 60000) -> None:
        """Stop every worker (cancel token + wait), save the window state, close the store."""
        if self._closed:
            return
        if self.store is not None and self.case_panel.dirty():
            self.case_panel.flush()   # a field typed into but not yet confirmed is saved too
        self._closed = True
        self.watcher.stop()
        self.camera_panel.shutdown()
        self.gallery.shutdown()
        stopped = self.analysis.shutdown(timeout_ms)
        self.save_gui_state()
        self.thumbs.shutdown()
        self._view_pool.clear()
        for pool in (self._aux_pool, self._view_pool, self._scan_pool):
            stopped = pool.waitForDone(timeout_ms) and stopped
        if not stopped:
            log.error("a background task did not stop within %d s", timeout_ms // 1000)
        if self.store is not None:
            self.store.close()

    def _case_changed(self) -> None:
        self._update_title()
        self._update_actions()

    def _update_actions(self) -> None:
        a = self.actions_
        allowed = self.session.action_states()
        a.cancel.setEnabled(allowed.cancel)
        a.analyse.setEnabled(allowed.analyse)
        a.reanalyse.setEnabled(allowed.reanalyse)
        a.export_pdf.setEnabled(allowed.export_pdf)
        a.export_csv.setEnabled(allowed.export_csv)
        a.export_fhir.setEnabled(allowed.export_csv)
        a.export_hl7.setEnabled(allowed.export_csv)
        a.sign_off.setEnabled(allowed.sign_off)
        a.add_images.setEnabled(allowed.add_images)
        a.add_folder.setEnabled(allowed.add_images)
        self.seg_panel.reanalyse_button.setEnabled(allowed.reanalyse)
        # Signed out (accounts): only signing in, help and quitting; the rest follows the states.
        managed = {a.cancel, a.analyse, a.reanalyse, a.export_pdf, a.export_csv, a.export_fhir,
                   a.export_hl7, a.sign_off, a.add_images, a.add_folder}
        always = {a.sign_out, a.quit, a.about, a.shortcuts}
        for act in a.all:
            if act not in managed and act not in always:
                act.setEnabled(not self.session.signed_out)

    def select_proxy_row(self, proxy_row: int) -> None:
        idx = self.proxy.index(proxy_row, 0)
        if not idx.isValid():
            return
        self.image_list.view.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.image_list.view.scrollTo(idx)
        self.table.scrollTo(idx)

    def remember_folder(self, path: str) -> None:
        p = Path(path)
        folder = p if p.is_dir() else p.parent
        self.gui_state.set_str("paths/last_folder", str(folder))

    def last_folder(self) -> str:
        return self.gui_state.get_str("paths/last_folder", str(Path.home()))

    def _model_dir(self) -> Path | None:
        chosen = self._model_dir_override or self.settings.analysis.model_dir
        if chosen:
            return Path(chosen)
        from model.errors import ModelLoadError
        from model.modeldir import default_model_dir
        try:
            return default_model_dir()
        except ModelLoadError:
            return None
