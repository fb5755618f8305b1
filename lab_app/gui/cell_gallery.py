"""The cell gallery: every segmented cell of the case as a crop, grouped by its image's call.

Morphologists review cells side by side (CellaVision's cell view). The crops are cut in a worker
thread from each analysed field, segmented as the analysis segmented it (core.cells), cached per
file and segmentation, and shown in a grid: a group per call (the technician's call once decided,
else the model's), sorted inside it by cell size, stain colour or image order. A tile says which
image and which cell number it is; clicking it (or Enter) shows the field with that cell
highlighted. Arrow keys move through the tiles.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListView, QVBoxLayout, QWidget)

from model.classes import CLASS_IDS

from .field_loader import rgb_to_qimage
from .theme import CLASS_COLOURS, class_label
from .worker import CallableWorker

log = logging.getLogger(__name__)

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
CELL_ROLE = Qt.ItemDataRole.UserRole + 2
SORTS = {"size": "Cell size (largest first)", "colour": "Stain colour (hue)",
         "image": "Image and cell number"}
NO_CALL = "none"


class CellGallery(QWidget):
    cell_activated = Signal(str, int)       # field path, cell number

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cellGallery")
        self._cache: dict[tuple[str, str], list[Any]] = {}    # (path, segmentation) -> crops
        self._rows: list[Any] = []
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._job: CallableWorker | None = None
        self._dirty = False

        self.sort_box = QComboBox()
        self.sort_box.setObjectName("gallerySort")
        for key, label in SORTS.items():
            self.sort_box.addItem(label, key)
        self.sort_box.currentIndexChanged.connect(lambda _i: self._fill())
        self.status = QLabel("")
        self.status.setObjectName("galleryStatus")
        self.model = QStandardItemModel(self)
        self.view = QListView()
        self.view.setObjectName("galleryView")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(88, 88))
        self.view.setGridSize(QSize(112, 124))
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideLeft)   # keep the field number and #cell
        self.view.setSpacing(2)
        self.view.setModel(self.model)
        self.view.setAccessibleName("Cell gallery")
        self.view.clicked.connect(self._activate)
        self.view.activated.connect(self._activate)

        top = QHBoxLayout()
        top.addWidget(QLabel("Sort cells by:"))
        top.addWidget(self.sort_box)
        top.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)

    # ------------------------------------------------------------------------------ data
    def show_rows(self, rows: list[Any]) -> None:
        """Show the cells of these case rows (analysed ones); crops not yet cut are cut in the
        background and the grid fills when they are ready."""
        self._rows = [r for r in rows if r.image is not None and r.result.status == "ok"]
        missing = [r for r in self._rows if self._key(r) not in self._cache]
        self._fill()
        if missing:
            self._cut(missing)

    @staticmethod
    def _key(row: Any) -> tuple[str, str]:
        return row.path, json.dumps(row.result.segmentation or {}, sort_keys=True)

    def _cut(self, rows: list[Any]) -> None:
        if self._job is not None:
            self._dirty = True     # cut the rest when this job ends
            return
        todo = [(r.path, self._key(r), r.result) for r in rows]

        def cut() -> dict:
            from lab_app.core.cells import field_cells, params_for
            from lab_app.core.errors import LabAppError
            from lab_app.core.imaging import load_rgb
            out = {}
            for path, key, result in todo:
                try:
                    out[key] = field_cells(path, load_rgb(path).rgb, params_for(result))
                except (LabAppError, OSError) as exc:
                    log.info("no cells from %s: %s", path, exc)
                    out[key] = []
            return out

        self.status.setText(f"Cutting the cells of {len(todo)} image(s)…")
        job = CallableWorker(cut, "cutting the cells")
        job.signals.finished.connect(self._cut_done)
        job.signals.errored.connect(self._cut_failed)
        self._job = job
        self._pool.start(job)

    def _cut_done(self, done) -> None:
        self._job = None
        self._cache.update(done.value)
        self._fill()
        if self._dirty:
            self._dirty = False
            missing = [r for r in self._rows if self._key(r) not in self._cache]
            if missing:
                self._cut(missing)

    def _cut_failed(self, message: str) -> None:
        self._job = None
        self.status.setText(message)

    @property
    def busy(self) -> bool:
        return self._job is not None

    # ------------------------------------------------------------------------------ grid
    def _fill(self) -> None:
        sort = self.sort_box.currentData()
        groups: dict[str, list[tuple[Any, Any]]] = {}
        for order, row in enumerate(self._rows):
            group = row.shown_class or NO_CALL
            for crop in self._cache.get(self._key(row), []):
                groups.setdefault(group, []).append((order, row, crop))
        self.model.clear()
        total = 0
        for group in [*CLASS_IDS, NO_CALL]:
            cells = groups.get(group, [])
            if not cells:
                continue
            if sort == "size":
                cells.sort(key=lambda t: (-t[2].area, t[0], t[2].cell))
            elif sort == "colour":
                cells.sort(key=lambda t: (t[2].hue, t[0], t[2].cell))
            else:
                cells.sort(key=lambda t: (t[0], t[2].cell))
            name = class_label(group).split(" (")[0] if group != NO_CALL else "No call"
            header = QStandardItem(f"{name}\n{len(cells)} cell{'s' if len(cells) != 1 else ''}")
            header.setToolTip(f"Cells of the images called {class_label(group, 'nothing')} (the "
                              "technician's call once decided, else the model's)")
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)
            header.setForeground(QColor(CLASS_COLOURS.get(group, "#5f6b76")))
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            self.model.appendRow(header)
            for _order, row, crop in cells:
                item = QStandardItem(QIcon(QPixmap.fromImage(rgb_to_qimage(crop.crop))),
                                     f"{Path(row.path).stem} #{crop.cell}")
                item.setToolTip(f"{row.name}, cell {crop.cell}: {crop.area} px, hue {crop.hue:.0f}\n"
                                "Click or press Enter to show it in its field.")
                item.setData(row.path, PATH_ROLE)
                item.setData(crop.cell, CELL_ROLE)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                self.model.appendRow(item)
                total += 1
        pending = sum(1 for r in self._rows if self._key(r) not in self._cache)
        self.status.setText(f"{total} cells from {len(self._rows) - pending} image(s)"
                            + (f"; {pending} still being cut…" if pending else ""))

    def tiles(self) -> list[tuple[str, int]]:
        """(path, cell number) of every tile in grid order (headers left out)."""
        out = []
        for i in range(self.model.rowCount()):
            item = self.model.item(i)
            if item.data(PATH_ROLE):
                out.append((item.data(PATH_ROLE), int(item.data(CELL_ROLE))))
        return out

    def _activate(self, index) -> None:
        path = index.data(PATH_ROLE)
        if path:
            self.cell_activated.emit(path, int(index.data(CELL_ROLE)))

    def shutdown(self) -> None:
        self._pool.waitForDone(10000)
