"""The case's images as a Qt table model (over a plain list) and the filter/sort proxy.

One ``ResultsModel`` feeds both the image list (column 0 with thumbnails) and the results table;
both views sit on one ``ResultsFilter`` proxy and share its selection model, so selecting an
image anywhere selects it everywhere. The rows live in the Qt-free case session; updates come
from it in batches and are signalled as one ``dataChanged`` range per batch, which keeps a
500-image run cheap.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt)
from PySide6.QtGui import QColor, QFont

from lab_app.core.case_models import OVERRIDDEN as DEC_OVERRIDDEN
from lab_app.core.case_models import PENDING as DEC_PENDING
from lab_app.core.case_models import CaseImage
from lab_app.core.case_rows import ImageRow
from lab_app.core.vocabulary import COUNT_EXPLAINED

from . import theme
from .theme import CLASS_IDS, class_label, error_reason, flag_label

ROW_ROLE = Qt.ItemDataRole.UserRole + 1      # the ImageRow object
SORT_ROLE = Qt.ItemDataRole.UserRole + 2     # a sortable key
STATE_ROLE = Qt.ItemDataRole.UserRole + 3    # theme state name
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 4   # second line of the image list

_Index = QModelIndex | QPersistentModelIndex


def row_detail(row: ImageRow) -> str:
    """Short second line of an image in the list."""
    state = row.state
    r = row.result
    if state == theme.PENDING or (state == theme.ANALYSING and r is None):
        return theme.STATE_LABELS[state]
    if state == theme.ANALYSING:
        return f"{theme.STATE_LABELS[state]} (was {class_label(r.prediction, 'no call')})"
    if state == theme.ERROR:
        return f"Error: {error_reason(row.name, r.error)}"
    if state == theme.OUT_OF_SCOPE:
        return "Out of scope"
    if state == theme.OVERRIDDEN:
        return f"Overridden: {class_label(row.image.decision.override_class)}"
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
    ("cells", "Regions"), ("flags", "Flags"), ("decision", "Decision"), ("final", "Final call"),
] + [(f"p_{cid}", f"p({cid})") for cid in CLASS_IDS]
COL = {key: i for i, (key, _) in enumerate(COLUMNS)}
_NUMERIC = {"confidence", "cells"} | {f"p_{cid}" for cid in CLASS_IDS}


class ResultsModel(QAbstractTableModel):
    """A Qt view of a :class:`~lab_app.core.session.CaseSession`'s rows: it reads the session's
    list and turns the session's row events into Qt's model signals. ``_count`` is the number of
    rows the views have been told about (Qt wants it to change between begin/end calls)."""

    def __init__(self, session: Any, thumbnails: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._count = len(session.rows)
        self._thumbs = thumbnails
        if thumbnails is not None:
            thumbnails.ready.connect(self._on_thumbnail)
        self._bold = QFont()
        self._bold.setBold(True)
        session.events.connect("rows_reset", self._on_reset)
        session.events.connect("rows_inserted", self._on_inserted)
        session.events.connect("rows_changed", self._rows_changed)

    # -- Qt model API ---------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._count

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
            if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section][0] == "cells":
                return COUNT_EXPLAINED
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
        row = self.session.rows[index.row()]
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
            return row_detail(row)
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
            elif r.scope_reason:
                lines.append(r.scope_reason)
            if r.flags:
                lines.append("Flags: " + ", ".join(flag_label(f) for f in r.flags))
            d = row.image.decision
            if d.status != DEC_PENDING:
                who = f" by {d.actor}" if d.actor else ""
                lines.append(f"Decision: {d.status}{who}" + (f" ({d.reason})" if d.reason else ""))
        return "\n".join(lines)

    # -- reading --------------------------------------------------------------------------
    def rows(self) -> list[ImageRow]:
        return list(self.session.rows)

    def row(self, i: int) -> ImageRow:
        return self.session.rows[i]

    def find(self, path: str) -> int:
        return self.session.find(path)

    def images(self) -> list[CaseImage]:
        return self.session.images()

    # -- session events -------------------------------------------------------------------
    def _on_reset(self) -> None:
        self.beginResetModel()
        self._count = len(self.session.rows)
        self.endResetModel()

    def _on_inserted(self, first: int, last: int) -> None:
        self.beginInsertRows(QModelIndex(), first, last)
        self._count = last + 1
        self.endInsertRows()

    def _rows_changed(self, rows: list[int]) -> None:
        if rows:
            self.dataChanged.emit(self.index(min(rows), 0),
                                  self.index(max(rows), len(COLUMNS) - 1))

    def _on_thumbnail(self, path: str) -> None:
        i = self.session.find(path)
        if 0 <= i < self._count:
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
    "poor_capture": ("Poor capture (exposure, compression, noise)", lambda r: "poor_capture" in r.flags),
    "error": ("Errors", lambda r: r.failed),
    "reviewed": ("Reviewed", lambda r: r.reviewed),
    "pending": ("Not analysed yet", lambda r: r.image is None),
}


class ResultsFilter(QSortFilterProxyModel):
    """Filter by class (the final call if decided, else the model's) and by flag/state."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._class: str | None = None
        self._show = "all"
        self._flagged_first = False
        self._input_order = False      # sorted only for "flagged first": keep the input order
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

    def set_flagged_first(self, on: bool) -> None:
        """Flagged images before the others; inside each part the current order (a clicked
        column, else the input order)."""
        self._flagged_first = on
        if on and self.sortColumn() < 0:
            self._input_order = True
            super().sort(0, Qt.SortOrder.AscendingOrder)   # sorting on; lessThan keeps input order
        elif not on and self._input_order:
            self._input_order = False
            super().sort(-1)                                 # back to the input order
        self.invalidate()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._input_order = False      # a column the technician clicked
        super().sort(column, order)

    def lessThan(self, left: _Index, right: _Index) -> bool:  # noqa: N802 - Qt API
        model = self.sourceModel()
        if self._flagged_first:
            lf, rf = bool(model.row(left.row()).flags), bool(model.row(right.row()).flags)
            if lf != rf:
                # Flagged first whatever the direction of the clicked column.
                return lf if self.sortOrder() == Qt.SortOrder.AscendingOrder else rf
            if self._input_order:
                return left.row() < right.row()
        return super().lessThan(left, right)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        row: ImageRow = model.row(source_row)
        if self._class is not None and row.shown_class != self._class:
            return False
        return bool(SHOW_FILTERS[self._show][1](row))

    def row_at(self, proxy_row: int) -> ImageRow:
        return self.sourceModel().row(self.mapToSource(self.index(proxy_row, 0)).row())
