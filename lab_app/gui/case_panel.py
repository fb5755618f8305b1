"""The case panel: patient and sample fields (validated), technician, case status and sign-off.

Each field is saved when its editing is finished (``edited(field, value)``); the main window
writes it to the case store. Field names are the case store's (``update_case`` keywords).
"""

from __future__ import annotations

import datetime as dt
from html import escape

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGridLayout, QLabel, QLineEdit,
                               QPushButton, QScrollArea, QVBoxLayout, QWidget)

from lab_app.core.case_models import Case

from .theme import INVALID_STYLE

# (field, label, required, kind)
FIELDS: list[tuple[str, str, bool, str]] = [
    ("patient_id", "Patient ID", True, "text"),
    ("patient_name", "Patient name", False, "text"),
    ("patient_birth_date", "Date of birth", False, "date"),
    ("patient_sex", "Sex", False, "sex"),
    ("sample_id", "Sample ID", True, "text"),
    ("specimen", "Specimen", False, "text"),
    ("collected_on", "Collected on", False, "date"),
    ("received_on", "Received on", False, "date"),
    ("physician", "Physician", False, "text"),
    ("technician", "Technician", True, "text"),
    ("reviewer", "Reviewer", False, "text"),
]
LABELS = {name: label for name, label, _, _ in FIELDS}
REQUIRED = tuple(name for name, _, req, _ in FIELDS if req)
SEXES = [("", ""), ("F", "F (female)"), ("M", "M (male)"), ("X", "X"), ("U", "U (unknown)")]


def check_date(text: str) -> str | None:
    """None when ``text`` is empty or a valid date YYYY-MM-DD, else the problem as a sentence."""
    text = text.strip()
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return f"'{text}' is not a date; use YYYY-MM-DD, e.g. 2024-03-31."
    if day > dt.date.today():
        return f"{text} is in the future."
    if day.year < 1900:
        return f"{text} is before 1900."
    return None


def case_values(case: Case) -> dict[str, str]:
    p, s = case.patient, case.sample
    return {"patient_id": p.id, "patient_name": p.name, "patient_birth_date": p.birth_date or "",
            "patient_sex": p.sex, "sample_id": s.id, "specimen": s.specimen,
            "collected_on": (s.collected_on or "")[:10], "received_on": (s.received_on or "")[:10],
            "physician": case.physician, "technician": case.technician,
            "reviewer": case.reviewer}


class CasePanel(QWidget):
    edited = Signal(str, str)          # field, new value (validated)
    new_case_requested = Signal()
    open_case_requested = Signal()
    sign_off_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("casePanel")
        self.widgets: dict[str, QLineEdit | QComboBox] = {}
        # Fields never typed in: with accounts, technician and reviewer come from the accounts.
        self.fixed_fields: set[str] = set()
        self._saved: dict[str, str] = {}
        self._loading = False
        self.status_label = QLabel()
        self.status_label.setObjectName("caseStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        self.error_label = QLabel()
        self.error_label.setObjectName("caseErrors")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)   # quotes what was typed
        self.error_label.setStyleSheet("color: #c53030;")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(3)
        date_re = QRegularExpressionValidator(QRegularExpression(r"[0-9\-]{0,10}"), self)
        for name, label, required, kind in FIELDS:
            if kind == "sex":
                w = QComboBox()
                for value, text in SEXES:
                    w.addItem(text, value)
                w.activated.connect(lambda _i, n=name: self._finished(n))
            else:
                w = QLineEdit()
                w.editingFinished.connect(lambda n=name: self._finished(n))
                if kind == "date":
                    w.setPlaceholderText("YYYY-MM-DD")
                    w.setValidator(date_re)
                elif required:
                    w.setPlaceholderText("required")
            w.setObjectName(f"field_{name}")
            w.setAccessibleName(label + (" (required)" if required else ""))
            self.widgets[name] = w
            form.addRow(f"{label}{' *' if required else ''}", w)

        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Start a new case (Ctrl+N)")
        self.new_button.clicked.connect(self.new_case_requested)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Find and open an earlier case (Ctrl+O)")
        self.open_button.clicked.connect(self.open_case_requested)
        self.sign_button = QPushButton("Sign off…")
        self.sign_button.setObjectName("signOffButton")
        self.sign_button.setToolTip("Sign the case off and lock it (Ctrl+Shift+S)")
        self.sign_button.clicked.connect(self.sign_off_requested)
        buttons = QGridLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.new_button, 0, 0)
        buttons.addWidget(self.open_button, 0, 1)
        buttons.addWidget(self.sign_button, 0, 2)

        inner = QWidget()
        inner_lay = QVBoxLayout(inner)
        inner_lay.setContentsMargins(8, 4, 8, 4)
        inner_lay.setSpacing(4)
        inner_lay.addWidget(self.status_label)
        inner_lay.addLayout(form)
        inner_lay.addWidget(self.error_label)
        inner_lay.addLayout(buttons)
        inner_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)
        self.set_case(None)

    # -- values ---------------------------------------------------------------------------
    def value(self, name: str) -> str:
        w = self.widgets[name]
        if isinstance(w, QComboBox):
            return str(w.currentData() or "")
        return w.text().strip()

    def values(self) -> dict[str, str]:
        return {name: self.value(name) for name in self.widgets}

    def set_value(self, name: str, value: str) -> None:
        w = self.widgets[name]
        if isinstance(w, QComboBox):
            i = w.findData(value or "")
            if i < 0:
                w.addItem(value, value)
                i = w.count() - 1
            w.setCurrentIndex(i)
        else:
            w.setText(value or "")
        self._mark(name, None)

    def set_case(self, case: Case | None, defaults: dict[str, str] | None = None) -> None:
        """Show a stored case (None: a new, unsaved case with ``defaults``)."""
        self._loading = True
        values = case_values(case) if case is not None else {
            name: "" for name in self.widgets} | {"specimen": "Peripheral blood smear"} | (defaults or {})
        for name, value in values.items():
            self.set_value(name, value)
        self._saved = dict(values) if case is not None else {}
        self._baseline = dict(values)   # what "nothing typed" looks like
        locked = case is not None and case.locked
        for name, w in self.widgets.items():
            if isinstance(w, QLineEdit):
                w.setReadOnly(locked or name in self.fixed_fields)
            else:
                w.setEnabled(not locked)
        self.sign_button.setEnabled(case is not None and not locked)
        self.error_label.setText("")
        self.status_label.setText(_status_html(case))
        self._loading = False

    # -- validation -----------------------------------------------------------------------
    def problems(self, for_sign_off: bool = False) -> list[str]:
        """Sentences for every invalid field (required ones only when ``for_sign_off``)."""
        out = []
        for name, label, required, kind in FIELDS:
            value = self.value(name)
            if kind == "date":
                err = check_date(value)
                if err:
                    out.append(f"{label}: {err}")
                    self._mark(name, err)
            if for_sign_off and required and not value:
                out.append(f"{label} is required.")
                self._mark(name, f"{label} is required.")
        self.error_label.setText("\n".join(out))
        return out

    def _mark(self, name: str, problem: str | None) -> None:
        w = self.widgets[name]
        w.setStyleSheet(INVALID_STYLE if problem else "")
        w.setToolTip(problem or "")

    def _finished(self, name: str) -> None:
        if self._loading:
            return
        value = self.value(name)
        kind = next(k for n, _, _, k in FIELDS if n == name)
        err = check_date(value) if kind == "date" else None
        label = LABELS[name]
        if not err and name in REQUIRED and not value and self._saved.get(name):
            err = f"{label} is required."
        self._mark(name, err)
        if err:
            self.error_label.setText(f"{label}: {err}" if not err.startswith(label) else err)
            return
        self.error_label.setText("")
        if self._saved.get(name, "") != value:
            self._saved[name] = value
            self.edited.emit(name, value)

    def dirty(self) -> bool:
        """Whether a field holds something typed that is not saved."""
        values = self.values()
        if self._saved:
            return any(values[n] != self._saved.get(n, "") for n in values)
        return any(values[n] != self._baseline.get(n, "") for n in values)

    def flush(self) -> None:
        """Save what is typed but not yet confirmed (the window is closing)."""
        if self._loading:
            return
        for name, w in self.widgets.items():
            if isinstance(w, QLineEdit) and not w.isReadOnly():
                self._finished(name)

    def mark_saved(self, values: dict[str, str]) -> None:
        self._saved.update(values)

    def mark_unsaved(self, name: str, stored: str | None) -> None:
        """Saving ``name`` failed: what is typed stays unsaved, so that Enter or closing the
        window tries again (``stored``: the value the case store holds, None: no case yet)."""
        if stored is None:
            self._saved.pop(name, None)
        else:
            self._saved[name] = stored

    def focus_field(self, name: str) -> None:
        w = self.widgets[name]
        w.setFocus(Qt.FocusReason.OtherFocusReason)
        if isinstance(w, QLineEdit):
            w.selectAll()


def _status_html(case: Case | None) -> str:
    if case is None:
        return ("<b>New case</b> (not saved yet)<br><span style='color:#5f6b76'>It is saved when "
                "you enter a field or add images.</span>")
    created = case.created_at[:16].replace("T", " ")
    if case.status == "open":
        return f"<b>Case {case.id}</b> · open · created {created} UTC"
    signed = (case.signed_at or "")[:16].replace("T", " ")
    state = "amended" if case.amended else "signed off"
    who = f" by {escape(case.signed_by)}" if case.signed_by else ""
    rev = f", reviewed by {escape(case.reviewer_signed_by)}" if case.reviewer_signed_by else ""
    return (f"<b>Case {case.id}</b> · <span style='color:#2f855a'><b>{state}</b></span>{who}"
            f"{rev} on {signed} UTC · locked")
