"""The case summary: counts per class (model calls and reviewed calls) and the case call."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from lab_app.core.case_models import CaseImage
from lab_app.core.case_summary import summarize

from .theme import CLASS_COLOURS, CLASS_IDS, class_label


class SummaryPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("summaryPanel")
        self.call_label = QLabel()
        self.call_label.setObjectName("caseCall")
        self.call_label.setWordWrap(True)
        self.call_label.setTextFormat(Qt.TextFormat.RichText)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        for col, text in enumerate(("Class", "Model", "Reviewed")):
            head = QLabel(f"<b>{text}</b>")
            grid.addWidget(head, 0, col, alignment=Qt.AlignmentFlag.AlignLeft if col == 0
                           else Qt.AlignmentFlag.AlignRight)
        self.model_counts: dict[str, QLabel] = {}
        self.reviewed_counts: dict[str, QLabel] = {}
        for row, cid in enumerate(CLASS_IDS, start=1):
            name = QLabel(f"<span style='color:{CLASS_COLOURS[cid]}'>■</span> {class_label(cid)}")
            grid.addWidget(name, row, 0)
            for store, col in ((self.model_counts, 1), (self.reviewed_counts, 2)):
                lab = QLabel("0")
                lab.setAlignment(Qt.AlignmentFlag.AlignRight)
                store[cid] = lab
                grid.addWidget(lab, row, col)
        self.other_label = QLabel()
        self.other_label.setObjectName("summaryOther")
        self.other_label.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.setSpacing(4)
        lay.addWidget(self.call_label)
        lay.addLayout(grid)
        lay.addWidget(self.other_label)
        lay.addStretch(1)
        self.update_summary([])

    def update_summary(self, images: list[CaseImage], pending_rows: int = 0) -> None:
        summary = summarize(images)
        model = Counter(img.result.prediction for img in images
                        if not img.failed and img.result.prediction)
        for cid in CLASS_IDS:
            self.model_counts[cid].setText(str(model.get(cid, 0)))
            self.reviewed_counts[cid].setText(str(summary.call.counts.get(cid, 0)))
        call = summary.call.call
        colour = CLASS_COLOURS.get(call, "#1f2933")
        self.call_label.setText(
            f"Case call: <span style='color:{colour}'><b>{summary.label}</b></span>"
            f" <span style='color:#5f6b76'>· {summary.call.reviewed} reviewed image"
            f"{'s' if summary.call.reviewed != 1 else ''}</span>")
        self.call_label.setToolTip(summary.rule)
        parts = [f"{summary.pending} undecided"]
        if summary.failed:
            parts.append(f"{len(summary.failed)} failed")
        if summary.out_of_scope:
            parts.append(f"{len(summary.out_of_scope)} out of scope (not counted)")
        if pending_rows:
            parts.append(f"{pending_rows} not analysed yet")
        duplicates = sum(1 for img in images if img.result.duplicate_of)
        if duplicates:
            parts.append(f"{duplicates} byte-identical duplicate{'s' if duplicates != 1 else ''}")
        self.other_label.setText(f"{len(images)} analysed: " + ", ".join(parts) + ".")
