"""The image list: thumbnails with their state, filters by class and by flag."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QIcon, QImage, QPainter, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QLabel, QListView,
                               QStyle, QStyledItemDelegate, QStyleOptionViewItem, QVBoxLayout,
                               QWidget)

from . import theme
from .results_model import DETAIL_ROLE, SHOW_FILTERS, STATE_ROLE, ResultsFilter
from .theme import CLASS_IDS, class_label

THUMB = 52
PAD = 6


class ImageDelegate(QStyledItemDelegate):
    """Thumbnail, a colour strip for the state, the file name and a one-line status."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(200, THUMB + 2 * PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pal = option.palette
        if selected:
            painter.fillRect(rect, pal.color(QPalette.ColorRole.Highlight))
        elif index.row() % 2:
            painter.fillRect(rect, pal.color(QPalette.ColorRole.AlternateBase))
        state = index.data(STATE_ROLE) or theme.PENDING
        painter.fillRect(QRect(rect.left(), rect.top(), 4, rect.height()),
                         QColor(theme.STATE_COLOURS[state]))
        thumb_rect = QRect(rect.left() + 4 + PAD, rect.top() + PAD, THUMB, THUMB)
        image = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(image, QImage) and not image.isNull():
            scaled = QSize(image.width(), image.height()).scaled(thumb_rect.size(),
                                                                 Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            target.moveCenter(thumb_rect.center())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, image)
        else:
            painter.fillRect(thumb_rect, QColor("#e6e9ec"))
        text_left = thumb_rect.right() + PAD + 2
        width = rect.right() - text_left - PAD
        fg = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        font = option.font
        name_font = painter.font()
        name_font.setPointSizeF(font.pointSizeF())
        name_font.setBold(True)
        painter.setFont(name_font)
        fm = QFontMetrics(name_font)
        name = fm.elidedText(str(index.data(Qt.ItemDataRole.DisplayRole) or ""),
                             Qt.TextElideMode.ElideMiddle, width)
        painter.setPen(fg)
        line_h = fm.height()
        top = rect.top() + PAD
        painter.drawText(QRect(text_left, top, width, line_h), Qt.AlignmentFlag.AlignLeft, name)
        detail_font = painter.font()
        detail_font.setBold(False)
        painter.setFont(detail_font)
        fm2 = QFontMetrics(detail_font)
        detail = str(index.data(DETAIL_ROLE) or "")
        painter.setPen(fg if selected else QColor(theme.STATE_COLOURS[state]))
        # Two lines for the detail (flags and errors can be long).
        rest = QRect(text_left, top + line_h + 1, width, rect.bottom() - top - line_h - PAD)
        lines = _wrap(detail, fm2, width, max(1, rest.height() // fm2.height()))
        for k, line in enumerate(lines):
            painter.drawText(QRect(text_left, rest.top() + k * fm2.height(), width, fm2.height()),
                             Qt.AlignmentFlag.AlignLeft, line)
        painter.restore()


class NoDecorationDelegate(QStyledItemDelegate):
    """For the results table: no thumbnail in the File column (the image list shows them)."""

    def initStyleOption(self, option: QStyleOptionViewItem,
                        index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        option.features &= ~QStyleOptionViewItem.ViewItemFeature.HasDecoration
        option.icon = QIcon()
        option.decorationSize = QSize(0, 0)


def _wrap(text: str, fm: QFontMetrics, width: int, max_lines: int) -> list[str]:
    words, lines, current = text.split(), [], ""
    for w in words:
        trial = f"{current} {w}".strip()
        if fm.horizontalAdvance(trial) <= width or not current:
            current = trial
        else:
            lines.append(current)
            current = w
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = fm.elidedText(lines[-1] + " …", Qt.TextElideMode.ElideRight, width)
    return [fm.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in lines]


class ImageListPanel(QWidget):
    """Filters above a list view of the proxy model."""

    filters_changed = Signal()

    def __init__(self, proxy: ResultsFilter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.proxy = proxy
        self.class_combo = QComboBox()
        self.class_combo.setAccessibleName("Filter by class")
        self.class_combo.addItem("All classes", None)
        for cid in CLASS_IDS:
            self.class_combo.addItem(class_label(cid), cid)
        self.show_combo = QComboBox()
        self.show_combo.setAccessibleName("Filter by flag or state")
        for key, (label, _) in SHOW_FILTERS.items():
            self.show_combo.addItem(label, key)
        self.class_combo.currentIndexChanged.connect(self._apply)
        self.show_combo.currentIndexChanged.connect(self._apply)

        self.view = QListView()
        self.view.setObjectName("imageList")
        self.view.setModel(proxy)
        self.view.setModelColumn(0)
        self.view.setItemDelegate(ImageDelegate(self.view))
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setAlternatingRowColors(True)
        self.view.setAccessibleName("Images of the case")

        self.count_label = QLabel()
        self.count_label.setObjectName("imageCount")
        proxy.rowsInserted.connect(self._update_count)
        proxy.rowsRemoved.connect(self._update_count)
        proxy.modelReset.connect(self._update_count)
        proxy.layoutChanged.connect(self._update_count)

        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.addWidget(self.class_combo, 1)
        filters.addWidget(self.show_combo, 1)
        self.flagged_first = QCheckBox("Flagged first")
        self.flagged_first.setObjectName("flaggedFirst")
        self.flagged_first.setToolTip("List the images with a flag before the others (review the "
                                      "doubtful fields first)")
        self.flagged_first.toggled.connect(self._order)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.count_label, 1)
        bottom.addWidget(self.flagged_first)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(filters)
        lay.addWidget(self.view, 1)
        lay.addLayout(bottom)
        self._update_count()

    def _apply(self) -> None:
        self.proxy.set_class_filter(self.class_combo.currentData())
        self.proxy.set_show_filter(self.show_combo.currentData())
        self._update_count()
        self.filters_changed.emit()

    def _order(self, on: bool) -> None:
        self.proxy.set_flagged_first(on)
        self.filters_changed.emit()

    def set_filters(self, cid: str | None = None, show: str = "all") -> None:
        self.class_combo.setCurrentIndex(max(0, self.class_combo.findData(cid)))
        self.show_combo.setCurrentIndex(max(0, self.show_combo.findData(show)))

    def _update_count(self, *args) -> None:
        shown = self.proxy.rowCount()
        total = self.proxy.sourceModel().rowCount() if self.proxy.sourceModel() else 0
        text = f"{total} image{'s' if total != 1 else ''}"
        if shown != total:
            text = f"{shown} of {total} images shown"
        self.count_label.setText(text)
