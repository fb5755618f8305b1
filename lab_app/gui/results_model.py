"""The case's images as a Qt table model (over a plain list) and the filter/sort proxy.

One ``ResultsModel`` feeds both the image list (column 0 with thumbnails) and the results table;
both views sit on one ``ResultsFilter`` proxy and share its selection model, so selecting an
image anywhere selects it everywhere. Updates come in batches (``apply_images``) and are
signalled as one ``dataChanged`` range per batch, which keeps a 500-image run cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt)
from PySide6.QtGui import QColor, QFont

from lab_app.core.case_models import ACCEPTED as DEC_ACCEPTED
from lab_app.core.case_models import OVERRIDDEN as DEC_OVERRIDDEN
from lab_app.core.case_models import PENDING as DEC_PENDING
from lab_app.core.case_models import CaseImage

from . import theme
from .theme import CLASS_IDS, class_label, error_reason, flag_label

ROW_ROLE = Qt.ItemDataRole.UserRole + 1      # the ImageRow object
SORT_ROLE = Qt.ItemDataRole.UserRole + 2     # a sortable key
STATE_ROLE = Qt.ItemDataRole.UserRole + 3    # theme state name
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 4   # second line of the image list

_Index = QModelIndex | QPersistentModelIndex


@dataclass
class ImageRow:
    """One image of the case: its path, and once analysed, the stored CaseImage."""
    path: str
    image: CaseImage | None = None
    running: bool = False

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def result(self):
        return self.image.result if self.image is not None else None

    @property
    def failed(self) -> bool:
        return self.image is not None and self.image.failed

    @property
    def decision(self) -> str | None:
        return self.image.decision.status if self.image is not None else None

    @property
    def undecided(self) -> bool:
        """Needs the technician's decision before sign-off (in scope, pending)."""
        return (self.image is not None and self.image.in_scope
                and self.image.decision.status == DEC_PENDING)

    @property
    def reviewable(self) -> bool:
        return self.image is not None and not self.image.failed

    @property
    def shown_class(self) -> str | None:
        """The technician's call once decided, else the model's prediction."""
        if self.image is None:
            return None
        return self.image.final_class or self.image.result.prediction

    @property
    def flags(self) -> list[str]:
        return list(self.image.result.flags) if self.image is not None else []

    @property
    def state(self) -> str:
        if self.running:
            return theme.ANALYSING          # also during a re-analysis
        if self.image is None:
            return theme.PENDING
        if self.image.failed:
            return theme.ERROR
        status = self.image.decision.status
        if status == DEC_ACCEPTED:
            return theme.ACCEPTED
        if status == DEC_OVERRIDDEN:
            return theme.OVERRIDDEN
        if self.image.out_of_scope:
            return theme.OUT_OF_SCOPE
        if self.image.result.flags:
            return theme.NEEDS_REVIEW
        return theme.DONE

    def detail(self) -> str:
        """Short second line for the image list."""
        state = self.state
        r = self.result
        if state == theme.PENDING or (state == theme.ANALYSING and r is None):
            return theme.STATE_LABELS[state]
        if state == theme.ANALYSING:
            return f"{theme.STATE_LABELS[state]} (was {class_label(r.prediction, 'no call')})"
        if state == theme.ERROR:
            return f"Error: {error_reason(self.name, r.error)}"
        if state == theme.OUT_OF_SCOPE:
            return "Out of scope"
        if state == theme.OVERRIDDEN:
            return f"Overridden: {class_label(self.image.decision.override_class)}"
        call = class_label(r.prediction, "no call")
        conf = f" {r.confidence:.0%}" if r.confidence is not None else ""
        if state == theme.ACCEPTED:
            return f"Accepted: {call}{conf}"
        if state == theme.NEEDS_REVIEW:
            return f"{call}{conf} · {', '.join(flag_label(f) for f in r.flags)}"
        return f"{call}{conf}"


# (key, header)
COLUMNS: list[tuple[str, str]] = [
    ("file", "File"), ("status", "Status"), ("call", "Model call"), ("confidence", "Confidence"),
    ("cells", "Cells"), ("flags", "Flags"), ("decision", "Decision"), ("final", "Final call"),
] + [(f"p_{cid}", f"p({cid})") for cid in CLASS_IDS]
COL = {key: i for i, (key, _) in enumerate(COLUMNS)}
_NUMERIC = {"confidence", "cells"} | {f"p_{cid}" for cid in CLASS_IDS}


class ResultsModel(QAbstractTableModel):
    def __init__(self, thumbnails: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ImageRow] = []
        self._by_path: dict[str, int] = {}
        self._thumbs = thumbnails
        if thumbnails is not None:
            thumbnails.ready.connect(self._on_thumbnail)
        self._bold = QFont()
        self._bold.setBold(True)

    # -- Qt model API ---------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section][1]
            if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section][0].startswith("p_"):
                cid = COLUMNS[section][0][2:]
                return f"Calibrated probability of {class_label(cid)}"
        elif role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        key = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, key)
        if role == SORT_ROLE:
            return self._sort_key(row, key)
        if role == ROW_ROLE:
            return row
        if role == STATE_ROLE:
            return row.state
        if role == DETAIL_ROLE:
            return row.detail()
        if role == Qt.ItemDataRole.DecorationRole and key == "file" and self._thumbs is not None:
            return self._thumbs.get(row.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role == Qt.ItemDataRole.ForegroundRole and key == "status":
            return QColor(theme.STATE_COLOURS[row.state])
        if role == Qt.ItemDataRole.FontRole and key == "final" and row.image is not None \
                and row.image.final_class:
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and key in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # -- content --------------------------------------------------------------------------
    def _display(self, row: ImageRow, key: str) -> str:
        r = row.result
        if key == "file":
            return row.name
        if key == "status":
            return theme.STATE_LABELS[row.state]
        if r is None:
            return ""
        if key == "call":
            if r.status != "ok":
                return "—"
            return class_label(r.prediction, "no call")
        if key == "confidence":
            return f"{r.confidence:.1%}" if r.confidence is not None else ""
        if key == "cells":
            return "" if r.cells is None else str(r.cells)
        if key == "flags":
            return ", ".join(flag_label(f) for f in r.flags)
        if key == "decision":
            d = row.image.decision
            if d.status == DEC_OVERRIDDEN:
                return f"Overridden: {d.reason or ''}"
            return "" if row.failed else d.status.capitalize()
        if key == "final":
            return class_label(row.image.final_class, "")
        if key.startswith("p_"):
            p = r.probabilities.get(key[2:])
            return f"{p:.1%}" if p is not None else ""
        return ""

    def _sort_key(self, row: ImageRow, key: str) -> Any:
        r = row.result
        if key in _NUMERIC:
            if r is None:
                return -1.0
            value = (r.confidence if key == "confidence" else r.cells if key == "cells"
                     else r.probabilities.get(key[2:]))
            return -1.0 if value is None else float(value)
        if key == "file":
            return row.name.casefold()
        return self._display(row, key).casefold()

    def _tooltip(self, row: ImageRow) -> str:
        lines = [row.path]
        r = row.result
        if r is not None:
            if r.status != "ok":
                lines.append(f"Error: {r.error}")
            elif r.error:
                lines.append(r.error)  # the out-of-scope reason
            if r.flags:
                lines.append("Flags: " + ", ".join(flag_label(f) for f in r.flags))
            d = row.image.decision
            if d.status != DEC_PENDING:
                who = f" by {d.actor}" if d.actor else ""
                lines.append(f"Decision: {d.status}{who}" + (f" ({d.reason})" if d.reason else ""))
        return "\n".join(lines)

    # -- updates --------------------------------------------------------------------------
    def rows(self) -> list[ImageRow]:
        return list(self._rows)

    def row(self, i: int) -> ImageRow:
        return self._rows[i]

    def find(self, path: str) -> int:
        return self._by_path.get(str(path), -1)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self._by_path = {}
        self.endResetModel()

    def set_images(self, images: Iterable[CaseImage]) -> None:
        """Replace everything by a stored case's images."""
        self.beginResetModel()
        self._rows = [ImageRow(img.path, img) for img in images]
        self._by_path = {r.path: i for i, r in enumerate(self._rows)}
        self.endResetModel()

    def add_paths(self, paths: Iterable[str | Path]) -> list[str]:
        """Append rows for paths not yet listed; returns the paths that were new."""
        new = []
        for p in paths:
            p = str(p)
            if p not in self._by_path and p not in new:
                new.append(p)
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for p in new:
                self._by_path[p] = len(self._rows)
                self._rows.append(ImageRow(p))
            self.endInsertRows()
        return new

    def set_running(self, paths: Iterable[str], running: bool = True) -> None:
        changed = []
        for p in paths:
            i = self._by_path.get(str(p), -1)
            if i >= 0 and self._rows[i].running != running:
                self._rows[i].running = running
                changed.append(i)
        self._rows_changed(changed)

    def clear_running(self) -> None:
        changed = [i for i, r in enumerate(self._rows) if r.running]
        for i in changed:
            self._rows[i].running = False
        self._rows_changed(changed)

    def apply_images(self, items: Sequence[tuple[str, CaseImage]]) -> list[int]:
        """Store analysed/decided images on their rows (by input path). Returns the rows."""
        changed, added = [], []
        for path, image in items:
            path = str(path)
            i = self._by_path.get(path, -1)
            if i < 0:
                i = self._by_path.get(str(image.path), -1)
            if i < 0:
                added.append(ImageRow(path, image))
                continue
            row = self._rows[i]
            row.image = image
            row.running = False
            changed.append(i)
        self._rows_changed(changed)
        if added:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            for r in added:
                self._by_path[r.path] = len(self._rows)
                self._rows.append(r)
            self.endInsertRows()
            changed += list(range(first, first + len(added)))
        return changed

    def update_image(self, image: CaseImage) -> int:
        """A decision changed: replace every row that shows this stored image."""
        changed = [i for i, r in enumerate(self._rows)
                   if r.image is not None and r.image.id == image.id]
        for i in changed:
            self._rows[i].image = image
        self._rows_changed(changed)
        return changed[0] if changed else -1

    def images(self) -> list[CaseImage]:
        seen, out = set(), []
        for r in self._rows:
            if r.image is not None and r.image.id not in seen:
                seen.add(r.image.id)
                out.append(r.image)
        return out

    def _rows_changed(self, rows: list[int]) -> None:
        if rows:
            self.dataChanged.emit(self.index(min(rows), 0),
                                  self.index(max(rows), len(COLUMNS) - 1))

    def _on_thumbnail(self, path: str) -> None:
        i = self._by_path.get(path, -1)
        if i >= 0:
            idx = self.index(i, 0)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


# What the "Show" filter offers: key -> (label, predicate)
SHOW_FILTERS: dict[str, tuple[str, Any]] = {
    "all": ("All images", lambda r: True),
    "undecided": ("Undecided", lambda r: r.undecided),
    "flagged": ("Flagged (any flag)", lambda r: bool(r.flags)),
    "low_confidence": ("Low confidence", lambda r: "low_confidence" in r.flags),
    "no_cells": ("No cells found", lambda r: "no_cells" in r.flags),
    "out_of_scope": ("Out of scope", lambda r: "out_of_scope" in r.flags),
    "damaged_file": ("Damaged files", lambda r: "damaged_file" in r.flags),
    "out_of_focus": ("Out of focus", lambda r: "out_of_focus" in r.flags),
    "unlike_training": ("Unlike the training images", lambda r: "unlike_training" in r.flags),
    "error": ("Errors", lambda r: r.failed),
    "reviewed": ("Reviewed", lambda r: r.decision in (DEC_ACCEPTED, DEC_OVERRIDDEN)),
    "pending": ("Not analysed yet", lambda r: r.image is None),
}


class ResultsFilter(QSortFilterProxyModel):
    """Filter by class (the final call if decided, else the model's) and by flag/state."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._class: str | None = None
        self._show = "all"
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    @property
    def class_filter(self) -> str | None:
        return self._class

    @property
    def show_filter(self) -> str:
        return self._show

    def set_class_filter(self, cid: str | None) -> None:
        self._refilter(lambda: setattr(self, "_class", cid or None))

    def set_show_filter(self, key: str) -> None:
        if key not in SHOW_FILTERS:
            raise ValueError(f"unknown filter {key!r}")
        self._refilter(lambda: setattr(self, "_show", key))

    def _refilter(self, change) -> None:
        if hasattr(self, "beginFilterChange"):      # Qt >= 6.9
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        row: ImageRow = model.row(source_row)
        if self._class is not None and row.shown_class != self._class:
            return False
        return bool(SHOW_FILTERS[self._show][1](row))

    def row_at(self, proxy_row: int) -> ImageRow:
        return self.sourceModel().row(self.mapToSource(self.index(proxy_row, 0)).row())
