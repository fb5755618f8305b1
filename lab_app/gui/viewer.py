"""The field viewer: zoom and pan (QGraphicsView) with toggled overlays.

Overlays: the segmentation mask (M), cell outlines with their numbers (O) and the activation map
of the top class (A). The picture and the overlays are computed by ``field_loader`` in a worker
thread; this module only turns arrays into scene items.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QFont, QImage, QPainter, QPainterPath, QPen, QPixmap,
                           QWheelEvent)
from PySide6.QtWidgets import (QFrame, QGraphicsItem, QGraphicsItemGroup, QGraphicsPathItem,
                               QGraphicsPixmapItem, QGraphicsScene, QGraphicsSimpleTextItem,
                               QGraphicsView, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout,
                               QWidget)

from lab_app.core.vocabulary import MASK_RGBA

OUTLINE_COLOUR = QColor(40, 255, 90)
HIGHLIGHT_COLOUR = QColor(255, 214, 0)
ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.05, 64.0


def mask_to_qimage(mask: np.ndarray, rgba: tuple[int, int, int, int] = MASK_RGBA) -> QImage:
    h, w = mask.shape[:2]
    out = np.zeros((h, w, 4), np.uint8)
    out[mask > 0] = rgba
    return QImage(out.data, w, h, out.strides[0], QImage.Format.Format_RGBA8888).copy()


def cam_to_qimage(cam: np.ndarray, width: int, height: int) -> QImage:
    """The heat map of a [0, 1] map (core.overlays, as the report draws it), resized to the field."""
    from lab_app.core.overlays import heat_map_rgba   # OpenCV: loaded when a map is first shown
    rgba = heat_map_rgba(cam, width, height)
    return QImage(rgba.data, width, height, rgba.strides[0], QImage.Format.Format_RGBA8888).copy()


class FieldView(QGraphicsView):
    """Wheel zooms around the cursor, dragging pans; ``fit()`` shows the whole field."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fieldView")
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QBrush(QColor("#2d3339")))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAcceptDrops(False)   # drops go to the main window
        self.setAccessibleName("Field viewer")
        self._base = QGraphicsPixmapItem()
        self._base.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._mask = QGraphicsPixmapItem(self._base)
        self._cam = QGraphicsPixmapItem(self._base)
        self._outlines = QGraphicsItemGroup(self._base)
        for item in (self._base,):
            self._scene.addItem(item)
        self._mask.setZValue(1)
        self._cam.setZValue(2)
        self._outlines.setZValue(3)
        self._fitted = True
        self._placeholder = ""
        self.show_mask = False
        self.show_outlines = False
        self.show_cam = False
        self._apply_visibility()

    # -- content --------------------------------------------------------------------------
    def clear_field(self, placeholder: str = "") -> None:
        self.highlight_cell(None)
        self._base.setPixmap(QPixmap())
        self._mask.setPixmap(QPixmap())
        self._cam.setPixmap(QPixmap())
        self._clear_outlines()
        self._placeholder = placeholder
        self._scene.setSceneRect(QRectF())
        self.viewport().update()

    def has_field(self) -> bool:
        return not self._base.pixmap().isNull()

    def set_field(self, image: QImage, keep_view: bool = False) -> None:
        self.highlight_cell(None)
        self._placeholder = ""
        self._base.setPixmap(QPixmap.fromImage(image))
        self._scene.setSceneRect(QRectF(0, 0, image.width(), image.height()))
        self._cam.setPixmap(QPixmap())
        if not keep_view or self._fitted:
            self.fit()

    def set_segmentation(self, seg: Any) -> None:
        if seg is None:
            self._mask.setPixmap(QPixmap())
            self._clear_outlines()
            return
        self._mask.setPixmap(QPixmap.fromImage(mask_to_qimage(seg.mask)))
        self._build_outlines(seg.cells)

    def set_cam(self, cam: np.ndarray | None) -> None:
        if cam is None or not self.has_field():
            self._cam.setPixmap(QPixmap())
            return
        px = self._base.pixmap()
        self._cam.setPixmap(QPixmap.fromImage(cam_to_qimage(cam, px.width(), px.height())))

    def _clear_outlines(self) -> None:
        for child in self._outlines.childItems():
            self._outlines.removeFromGroup(child)
            self._scene.removeItem(child)

    def _build_outlines(self, cells: list[Any]) -> None:
        self._clear_outlines()
        path = QPainterPath()
        for cell in cells:
            pts = cell.contour
            if len(pts) < 2:
                continue
            path.moveTo(float(pts[0][0]) + 0.5, float(pts[0][1]) + 0.5)
            for x, y in pts[1:]:
                path.lineTo(float(x) + 0.5, float(y) + 0.5)
            path.closeSubpath()
        outline = QGraphicsPathItem(path)
        pen = QPen(OUTLINE_COLOUR, 1.6)
        pen.setCosmetic(True)        # same width at every zoom
        outline.setPen(pen)
        self._outlines.addToGroup(outline)
        font = QFont()
        font.setBold(True)
        font.setPointSizeF(9)
        halo_pen = QPen(QColor(0, 0, 0, 230), 3.0)
        halo_pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        for cell in cells:
            # A dark halo under white text reads on pale and dark stain alike.
            for pen, brush in ((halo_pen, QColor(0, 0, 0, 230)), (Qt.PenStyle.NoPen, QColor("white"))):
                label = QGraphicsSimpleTextItem(str(cell.label))
                label.setFont(font)
                label.setBrush(QBrush(brush))
                label.setPen(pen if isinstance(pen, QPen) else QPen(pen))
                label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
                br = label.boundingRect()
                label.setPos(QPointF(*cell.centroid))
                # Centred on the centroid at every zoom (offset in screen pixels).
                label.setTransform(label.transform().translate(-br.width() / 2, -br.height() / 2))
                self._outlines.addToGroup(label)

    def highlight_cell(self, cell: Any | None) -> None:
        """Draw one cell's outline thick in yellow and centre the view on it (the gallery's
        click-through); None removes the highlight."""
        if getattr(self, "_highlight", None) is not None:
            self._scene.removeItem(self._highlight)
            self._highlight = None
        if cell is None or len(cell.contour) < 2:
            return
        path = QPainterPath()
        pts = cell.contour
        path.moveTo(float(pts[0][0]) + 0.5, float(pts[0][1]) + 0.5)
        for x, y in pts[1:]:
            path.lineTo(float(x) + 0.5, float(y) + 0.5)
        path.closeSubpath()
        item = QGraphicsPathItem(path, self._base)
        pen = QPen(HIGHLIGHT_COLOUR, 4.0)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setZValue(5)
        self._highlight = item
        self.centerOn(QPointF(*cell.centroid))

    @property
    def highlighted(self) -> bool:
        return getattr(self, "_highlight", None) is not None

    # -- overlay switches -----------------------------------------------------------------
    def set_overlays(self, mask: bool | None = None, outlines: bool | None = None,
                     cam: bool | None = None) -> None:
        if mask is not None:
            self.show_mask = mask
        if outlines is not None:
            self.show_outlines = outlines
        if cam is not None:
            self.show_cam = cam
        self._apply_visibility()

    def _apply_visibility(self) -> None:
        self._mask.setVisible(self.show_mask)
        self._outlines.setVisible(self.show_outlines)
        self._cam.setVisible(self.show_cam)

    # -- zoom and pan ---------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        if not self.has_field():
            return
        self.fitInView(self._base, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float) -> None:
        if not self.has_field():
            return
        target = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom * factor))
        factor = target / self.zoom
        if not math.isclose(factor, 1.0):
            self.scale(factor, factor)
            self._fitted = False
            self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        if self.has_field():
            self.zoom_by(self.devicePixelRatioF() ** -1 / self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(ZOOM_STEP ** (delta / 120))
            event.accept()
        else:
            super().wheelEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawForeground(painter, rect)
        if self._placeholder and not self.has_field():
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor("#c9d1d9"))
            painter.drawText(self.viewport().rect().adjusted(24, 24, -24, -24),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._placeholder)
            painter.restore()


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` literally (Qt detects rich text in tooltips too)."""
    if not text:
        return ""
    return f"<p style='white-space:pre'>{html.escape(text)}</p>"


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with an ellipsis instead of being cut off."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # File names are shown as they are: Qt would otherwise render "<b>x</b>.jpg" as HTML.
        self.setTextFormat(Qt.TextFormat.PlainText)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        self._full = text
        self.setToolTip(plain_tooltip(text))
        self._elide()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle,
                                              max(0, self.width() - 2))
        super().setText(shown)


class ViewerPanel(QWidget):
    """A header line (file, size, cell count, overlays) above the field view."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = FieldView()
        # Header texts never widen the window (a long file name is shortened, not the docks).
        self.title = ElidedLabel()
        self.title.setObjectName("viewerTitle")
        self.cells_label = ElidedLabel()
        self.cells_label.setObjectName("cellCount")
        self.cells_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.overlay_label = QLabel()
        self.overlay_label.setObjectName("overlayState")
        self.zoom_label = QLabel()
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z:.0%}"))
        head = QHBoxLayout()
        head.setContentsMargins(6, 3, 6, 3)
        head.addWidget(self.title, 2)
        head.addSpacing(12)
        head.addWidget(self.cells_label, 3)
        head.addSpacing(12)
        head.addWidget(self.zoom_label)
        self.overlay_label.hide()   # the toolbar's Mask / Outlines / Activation buttons show it
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(head)
        lay.addWidget(self.view, 1)
        self.update_overlay_label()

    def update_overlay_label(self, cam_note: str = "") -> None:
        v = self.view
        parts = [f"{'■' if on else '□'} {name}" for name, on in
                 (("Mask (M)", v.show_mask), ("Outlines (O)", v.show_outlines),
                  ("Activation (A)", v.show_cam))]
        self.overlay_label.setText("  ".join(parts))
        self.overlay_label.setToolTip(cam_note or "Overlays: M, O and A switch them on and off.")
