"""The prediction panel: the four class probabilities as bars, the call, flags and the decision."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (QGridLayout, QLabel, QMenu, QPushButton, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from lab_app.core.results import capture_note, flag_reason, white_balance_note
from lab_app.core.vocabulary import COUNT_EXPLAINED, count_text

from . import theme
from .results_model import ImageRow
from .theme import CLASS_COLOURS, CLASS_IDS, class_colour, class_label, error_reason, flag_label


class ProbabilityBars(QWidget):
    """One line per class: override key (1-4), name, bar, percentage. The model's call is bold;
    the technician's own call (after an override) carries a check mark."""

    ROW_H = 24

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("probabilityBars")
        self._probs: dict[str, float] = {}
        self._top: str | None = None
        self._final: str | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Class probabilities")

    def set_probabilities(self, probs: dict[str, float], top: str | None, final: str | None) -> None:
        self._probs, self._top, self._final = dict(probs), top, final
        self.setAccessibleDescription(", ".join(f"{class_label(c)} {probs.get(c, 0):.0%}"
                                                for c in CLASS_IDS) if probs else "none")
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, self.ROW_H * len(CLASS_IDS) + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, self.sizeHint().height())

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        font = QFont(self.font())
        bold = QFont(font)
        bold.setBold(True)
        fm = QFontMetrics(bold)
        w = self.width()
        pct_w = fm.horizontalAdvance("100.0%") + 6
        label_w = min(int(w * 0.62), max(fm.horizontalAdvance(f"✓ 4  {class_label(c)}")
                                         for c in CLASS_IDS) + 8)
        bar_w = max(20, w - label_w - pct_w)
        y = 2
        for n, cid in enumerate(CLASS_IDS, start=1):
            prob = self._probs.get(cid)
            strong = cid in (self._top, self._final)
            p.setFont(bold if strong else font)
            p.setPen(text)
            mark = "✓ " if cid == self._final else "   "
            label = QFontMetrics(p.font()).elidedText(f"{mark}{n}  {class_label(cid)}",
                                                      Qt.TextElideMode.ElideRight, label_w - 4)
            p.drawText(QRectF(0, y, label_w, self.ROW_H), Qt.AlignmentFlag.AlignVCenter, label)
            track = QRectF(label_w, y + 5, bar_w, self.ROW_H - 10)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("#e3e7eb"))
            p.drawRoundedRect(track, 3, 3)
            if prob:
                fill = QRectF(track.left(), track.top(), max(2.0, track.width() * prob), track.height())
                colour = class_colour(cid)
                if self._top and cid != self._top:
                    colour.setAlpha(140)
                p.setBrush(colour)
                p.drawRoundedRect(fill, 3, 3)
            p.setPen(text)
            p.drawText(QRectF(w - pct_w, y, pct_w, self.ROW_H),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       "" if prob is None else f"{prob:.1%}")
            y += self.ROW_H
        p.end()


class PredictionPanel(QWidget):
    accept_requested = Signal()
    override_requested = Signal(int)      # 0..3 (class index)
    next_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("predictionPanel")
        self.file_label = QLabel()
        self.file_label.setObjectName("predictionFile")
        self.file_label.setWordWrap(True)
        self.file_label.setTextFormat(Qt.TextFormat.PlainText)    # a file name, shown as it is
        self.call_label = QLabel()
        self.call_label.setObjectName("callLabel")
        f = self.call_label.font()
        f.setPointSizeF(f.pointSizeF() * 1.4)
        f.setBold(True)
        self.call_label.setFont(f)
        self.call_label.setWordWrap(True)
        self.conf_label = QLabel()
        self.conf_label.setObjectName("confidenceLabel")
        self.conf_label.setWordWrap(True)
        self.conf_label.setTextFormat(Qt.TextFormat.PlainText)    # may quote a file name
        self.bars = ProbabilityBars()
        self.cells_label = QLabel()
        self.cells_label.setObjectName("predictionCells")
        self.cells_label.setToolTip(COUNT_EXPLAINED)
        self.cells_label.setTextFormat(Qt.TextFormat.RichText)    # its parts are escaped
        self.flags_label = QLabel()
        self.flags_label.setObjectName("flagsLabel")
        self.flags_label.setWordWrap(True)
        self.flags_label.setTextFormat(Qt.TextFormat.RichText)
        self.decision_label = QLabel()
        self.decision_label.setObjectName("decisionLabel")
        self.decision_label.setWordWrap(True)
        self.decision_label.setTextFormat(Qt.TextFormat.RichText)

        self.accept_button = QPushButton("Accept (Enter)")
        self.accept_button.setMinimumWidth(60)
        self.accept_button.setObjectName("acceptButton")
        self.accept_button.setAutoDefault(False)
        self.accept_button.clicked.connect(self.accept_requested)
        self.override_button = QToolButton()
        self.override_button.setText("Override (1–4)")
        self.override_button.setObjectName("overrideButton")
        self.override_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.override_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.override_button.setMinimumWidth(60)
        menu = QMenu(self.override_button)
        for n, cid in enumerate(CLASS_IDS):
            act = menu.addAction(f"&{n + 1}  {class_label(cid)}…")
            act.triggered.connect(lambda _=False, k=n: self.override_requested.emit(k))
        self.override_button.setMenu(menu)
        self.next_button = QPushButton("Next undecided (N)")
        self.next_button.setObjectName("nextButton")
        self.next_button.setAutoDefault(False)
        self.next_button.clicked.connect(self.next_requested)

        buttons = QGridLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.accept_button, 0, 0)
        buttons.addWidget(self.override_button, 0, 1)
        buttons.addWidget(self.next_button, 1, 0, 1, 2)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.setSpacing(3)
        lay.addWidget(self.file_label)
        lay.addWidget(self.call_label)
        lay.addWidget(self.conf_label)
        lay.addWidget(self.bars)
        lay.addWidget(self.cells_label)
        lay.addWidget(self.flags_label)
        lay.addWidget(self.decision_label)
        lay.addLayout(buttons)
        lay.addStretch(1)
        self.show_row(None)

    def show_row(self, row: ImageRow | None, locked: bool = False) -> None:
        """Show one image's result (None: nothing selected)."""
        can_decide = False
        if row is None:
            self.file_label.setText("")
            self._call("No image selected", "#5f6b76")
            self.conf_label.setText("Open images or a case, then pick an image in the list.")
            self._clear_details()
        else:
            dup = row.image.result.duplicate_of if row.image is not None else None
            self.file_label.setText(row.name + (f"\n(byte-identical copy of {Path(dup).name})"
                                                if dup else ""))
            r = row.result
            if r is None:
                self._call(theme.STATE_LABELS[row.state], theme.STATE_COLOURS[row.state])
                self.conf_label.setText("The result appears here when the image is analysed.")
                self._clear_details()
            elif r.status != "ok":
                self._call("Not analysed", theme.STATE_COLOURS[theme.ERROR])
                self.conf_label.setText(error_reason(row.name, r.error))
                self._clear_details()
                self.decision_label.setText("No decision is possible for an image that could not "
                                            "be analysed.")
            else:
                img = row.image
                if r.prediction:
                    self._call(class_label(r.prediction), CLASS_COLOURS.get(r.prediction, "#1f2933"))
                    self.conf_label.setText(f"Model call, confidence {r.confidence:.1%} (calibrated)")
                else:
                    self._call("No call", theme.STATE_COLOURS[theme.OUT_OF_SCOPE])
                    self.conf_label.setText("The model makes no call for this image.")
                top = max(r.probabilities, key=r.probabilities.get) if r.probabilities else None
                self.bars.set_probabilities(r.probabilities, r.prediction or top, img.final_class)
                self.bars.show()
                captured = capture_note(r)
                self.cells_label.setText(f"Found: {count_text(r.cells)}"
                                         + (f"<br>{_esc(captured)}" if captured else ""))
                self.flags_label.setText(_flags_html(r))
                self.decision_label.setText(_decision_html(img) + (
                    "<br><i>The case is signed off: a change is recorded as an amendment with a "
                    "reason.</i>" if locked else ""))
                can_decide = True
        for label in (self.file_label, self.conf_label, self.cells_label, self.flags_label,
                      self.decision_label):
            label.setVisible(bool(label.text()))
        has_call = (row is not None and row.result is not None and row.result.prediction is not None
                    and not row.image.out_of_scope)
        self.accept_button.setEnabled(can_decide and has_call)
        self.override_button.setEnabled(can_decide)

    def _clear_details(self) -> None:
        self.bars.set_probabilities({}, None, None)
        self.bars.hide()
        self.cells_label.setText("")
        self.flags_label.setText("")
        self.decision_label.setText("")

    def _call(self, text: str, colour: str) -> None:
        self.call_label.setText(text)
        self.call_label.setStyleSheet(f"color: {colour};")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _flags_html(result) -> str:
    note = white_balance_note(result)
    extra = f"<br><span style='color:#5f6b76'>{_esc(note)}</span>" if note else ""
    if not result.flags:
        return "<span style='color:#2f855a'>No flags</span>" + extra
    parts = []
    for f in result.flags:
        text = flag_label(f)
        reason = flag_reason(f, result)
        if reason:
            text += f": {_esc(reason)}"
        parts.append(f"<span style='color:{theme.STATE_COLOURS[theme.NEEDS_REVIEW]}'>⚠ {text}</span>")
    return "<br>".join(parts) + extra


def _decision_html(img) -> str:
    d = img.decision
    when = f", {d.at[:16].replace('T', ' ')} UTC" if d.at else ""
    who = f" by {_esc(d.actor)}" if d.actor else ""
    if d.status == "accepted":
        return (f"<span style='color:{theme.STATE_COLOURS[theme.ACCEPTED]}'><b>Accepted</b></span>"
                f"{who}{when}")
    if d.status == "overridden":
        return (f"<span style='color:{theme.STATE_COLOURS[theme.OVERRIDDEN]}'><b>Overridden to "
                f"{_esc(class_label(d.override_class))}</b></span>{who}{when}<br>"
                f"Reason: {_esc(d.reason or '')}")
    if not img.in_scope:
        return "Not counted in the case call (out of scope); override to count it."
    return "<b>Decision pending</b>: accept the call or override it."
