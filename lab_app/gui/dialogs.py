"""Every dialog the window opens goes through a ``Dialogs`` object.

The main window never calls ``QFileDialog``/``QMessageBox`` directly: it calls
``self.dialogs.<method>``. Tests replace the methods (``monkeypatch.setattr(win.dialogs, ...)``)
and ``labapp --screenshot`` uses :class:`QuietDialogs`, which never blocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from html import escape as html_escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                               QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QMessageBox, QPlainTextEdit,
                               QPushButton, QRadioButton, QTableWidget, QTableWidgetItem,
                               QTabWidget, QTextBrowser, QVBoxLayout, QWidget)

from lab_app import RESEARCH_USE_ONLY, __version__
from lab_app.core.model_figures import model_metrics_line
from lab_app.core.settings import DEVICES, PAGE_SIZES, Settings

from .theme import CLASS_IDS, RUO_COLOUR, class_label

log = logging.getLogger(__name__)

OVERRIDE_REASONS = [
    "Morphology is more consistent with the chosen subtype.",
    "Blasts in this field resemble the chosen subtype.",
    "Cells in the field are not representative of the sample.",
    "Image quality misled the model (focus, stain, artefact).",
]

IMAGE_FILTER = "Images (*.jpg *.jpeg *.jpe *.jfif *.png *.tif *.tiff *.bmp *.dib *.webp);;All files (*)"


class Dialogs:
    """Modal dialogs; each method returns what the user chose (None when cancelled)."""

    # -- files ----------------------------------------------------------------------------
    def open_images(self, parent: QWidget, start: str) -> list[str]:
        files, _ = QFileDialog.getOpenFileNames(parent, "Add images", start, IMAGE_FILTER)
        return files

    def open_folder(self, parent: QWidget, start: str) -> str | None:
        folder = QFileDialog.getExistingDirectory(parent, "Add a folder of images", start)
        return folder or None

    def save_file(self, parent: QWidget, caption: str, suggested: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(parent, caption, suggested, file_filter)
        return path or None

    # -- messages -------------------------------------------------------------------------
    # Messages carry file names, patient fields and reasons: always plain text, never HTML.
    def error(self, parent: QWidget, title: str, text: str) -> None:
        plain_message_box(parent, QMessageBox.Icon.Warning, title, text).exec()

    def info(self, parent: QWidget, title: str, text: str) -> None:
        plain_message_box(parent, QMessageBox.Icon.Information, title, text).exec()

    def confirm(self, parent: QWidget, title: str, text: str) -> bool:
        box = plain_message_box(parent, QMessageBox.Icon.Question, title, text,
                                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    # -- review ---------------------------------------------------------------------------
    def override_reason(self, parent: QWidget, image_name: str, predicted: str | None,
                        target: str) -> tuple[str, str] | None:
        """(class id, reason) or None."""
        dlg = OverrideDialog(parent, image_name, predicted, target)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return dlg.choice()

    def amend_reason(self, parent: QWidget, text: str) -> str | None:
        """The reason for an amendment of a signed-off case (None when cancelled)."""
        from PySide6.QtWidgets import QInputDialog
        reason, ok = QInputDialog.getText(parent, "Amend a signed-off case", text)
        reason = reason.strip()
        return reason if ok and reason else None

    def sign_off(self, parent: QWidget, technician: str, reviewer: str,
                 require_reviewer: bool, summary_text: str) -> tuple[str, str] | None:
        dlg = SignOffDialog(parent, technician, reviewer, require_reviewer, summary_text)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return dlg.names()

    def sign_in(self, parent: QWidget | None, where: str, message: str = "") -> tuple[str, str] | None:
        """(user name, password), or None: accounts are enabled for the case store."""
        dlg = SignInDialog(parent, where, message)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return dlg.credentials()

    def e_sign_off(self, parent: QWidget, signer: str, require_reviewer: bool,
                   summary_text: str) -> tuple[str, str, str] | None:
        """(password, reviewer name, reviewer password), or None: sign-off with accounts."""
        dlg = ESignOffDialog(parent, signer, require_reviewer, summary_text)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return dlg.signatures()

    def open_case(self, parent: QWidget, store: Any) -> int | None:
        dlg = OpenCaseDialog(parent, store)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return dlg.case_id()

    def preferences(self, parent: QWidget, settings: Settings) -> Settings | None:
        dlg = PreferencesDialog(parent, settings)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return dlg.result_settings()

    def about(self, parent: QWidget, about: "AboutInfo") -> None:
        AboutDialog(parent, about).exec()

    def text(self, parent: QWidget, title: str, html: str) -> None:
        dlg = QDialog(parent)
        dlg.setWindowTitle(title)
        view = QTextBrowser()
        view.setHtml(html)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(dlg.reject)
        lay = QVBoxLayout(dlg)
        lay.addWidget(view)
        lay.addWidget(box)
        dlg.resize(560, 520)
        dlg.exec()


def plain_message_box(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str,
                      buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.Ok
                      ) -> QMessageBox:
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    return box


class QuietDialogs(Dialogs):
    """For unattended runs (``--screenshot``): messages go to the log, questions say no."""

    def error(self, parent: QWidget, title: str, text: str) -> None:
        log.error("%s: %s", title, text)

    def info(self, parent: QWidget, title: str, text: str) -> None:
        log.info("%s: %s", title, text)

    def confirm(self, parent: QWidget, title: str, text: str) -> bool:
        return False

    def open_images(self, parent, start):
        return []

    def open_folder(self, parent, start):
        return None

    def save_file(self, parent, caption, suggested, file_filter):
        return None

    def override_reason(self, parent, image_name, predicted, target):
        return None

    def sign_off(self, *args, **kwargs):
        return None

    def sign_in(self, *args, **kwargs):
        return None

    def e_sign_off(self, *args, **kwargs):
        return None

    def amend_reason(self, parent, text):
        return None

    def open_case(self, parent, store):
        return None

    def preferences(self, parent, settings):
        return None

    def about(self, parent, about):
        return None

    def text(self, parent, title, html):
        return None


class OverrideDialog(QDialog):
    """Choose the subtype (preselected from the key pressed) and give a reason (required)."""

    def __init__(self, parent: QWidget | None, image_name: str, predicted: str | None,
                 target: str) -> None:
        super().__init__(parent)
        self.setObjectName("overrideDialog")
        self.setWindowTitle("Override the call")
        intro = QLabel(f"<b>{html_escape(image_name)}</b><br>Model call: "
                       f"<b>{class_label(predicted, 'no call')}"
                       f"</b>. Choose your call and say why.")
        intro.setWordWrap(True)
        self.group = QButtonGroup(self)
        radios = QVBoxLayout()
        for n, cid in enumerate(CLASS_IDS):
            rb = QRadioButton(f"&{n + 1}  {class_label(cid)}")
            rb.setObjectName(f"override_{cid}")
            if cid == predicted:
                rb.setText(rb.text() + "  (model call)")
            self.group.addButton(rb, n)
            radios.addWidget(rb)
            if cid == target:
                rb.setChecked(True)
        self.reason = QComboBox()
        self.reason.setObjectName("overrideReason")
        self.reason.setEditable(True)
        self.reason.addItem("")
        self.reason.addItems(OVERRIDE_REASONS)
        self.reason.setCurrentIndex(0)
        self.reason.lineEdit().setPlaceholderText("Reason (required): type or pick one")
        self.reason.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.buttons = _ok_cancel_buttons(self, "Override")
        self.reason.editTextChanged.connect(self._update)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(radios)
        lay.addWidget(QLabel("Reason"))
        lay.addWidget(self.reason)
        lay.addWidget(self.buttons)
        self._update()
        self.reason.setFocus()
        self.resize(460, self.sizeHint().height())

    def _update(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(
            bool(self.reason.currentText().strip()) and self.group.checkedId() >= 0)

    def choice(self) -> tuple[str, str]:
        return CLASS_IDS[self.group.checkedId()], self.reason.currentText().strip()


class SignOffDialog(QDialog):
    def __init__(self, parent: QWidget | None, technician: str, reviewer: str,
                 require_reviewer: bool, summary_text: str) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign off the case")
        self.require_reviewer = require_reviewer
        text = QLabel(f"{summary_text}<br><br>Signing off locks the case; later changes are "
                      "recorded as amendments with a reason.")
        text.setWordWrap(True)
        self.technician = QLineEdit(technician)
        self.reviewer = QLineEdit(reviewer)
        self.reviewer.setPlaceholderText("required by this lab" if require_reviewer else "optional")
        form = QFormLayout()
        form.addRow("Technician *", self.technician)
        form.addRow("Reviewer" + (" *" if require_reviewer else ""), self.reviewer)
        self.buttons = _ok_cancel_buttons(self, "Sign off")
        self.technician.textChanged.connect(self._update)
        self.reviewer.textChanged.connect(self._update)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addLayout(form)
        lay.addWidget(self.buttons)
        self._update()

    def _update(self) -> None:
        ok = bool(self.technician.text().strip()) and (
            not self.require_reviewer or bool(self.reviewer.text().strip()))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def names(self) -> tuple[str, str]:
        return self.technician.text().strip(), self.reviewer.text().strip()


class SignInDialog(QDialog):
    """User name and password (accounts: lab_app/core/accounts.py)."""

    def __init__(self, parent: QWidget | None, where: str, message: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("signInDialog")
        self.setWindowTitle("Sign in")
        intro = QLabel(f"Sign in with your account of the case database<br><i>{html_escape(where)}"
                       "</i>")
        intro.setWordWrap(True)
        self.error = QLabel(message)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setStyleSheet("color: #b00020;")
        self.error.setVisible(bool(message))
        self.name = QLineEdit()
        self.name.setObjectName("signInName")
        self.password = _password_field("signInPassword")
        form = QFormLayout()
        form.addRow("User name", self.name)
        form.addRow("Password", self.password)
        self.buttons = _ok_cancel_buttons(self, "Sign in")
        self.name.textChanged.connect(self._update)
        self.password.textChanged.connect(self._update)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.error)
        lay.addLayout(form)
        lay.addWidget(self.buttons)
        self._update()

    def _update(self) -> None:
        ok = bool(self.name.text().strip()) and bool(self.password.text())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def credentials(self) -> tuple[str, str]:
        return self.name.text().strip(), self.password.text()


class ESignOffDialog(QDialog):
    """Sign-off with e-signatures: the signed-in account's password again, and the reviewer's
    account and password where there is one; says what the signature means."""

    def __init__(self, parent: QWidget | None, signer: str, require_reviewer: bool,
                 summary_text: str) -> None:
        super().__init__(parent)
        from lab_app.core.accounts import MEANING
        self.setObjectName("eSignOffDialog")
        self.setWindowTitle("Sign off the case")
        self.require_reviewer = require_reviewer
        text = QLabel(f"{summary_text}<br><br>Your signature means: <b>{MEANING}</b>. Signing "
                      "off locks the case; later changes are recorded as amendments with a reason.")
        text.setWordWrap(True)
        self.signer = QLabel(html_escape(signer))
        self.password = _password_field("signOffPassword", "your password, again")
        self.reviewer = QLineEdit()
        self.reviewer.setObjectName("signOffReviewer")
        self.reviewer.setPlaceholderText("user name: required by this lab" if require_reviewer
                                         else "user name (optional)")
        self.reviewer_password = _password_field("signOffReviewerPassword")
        form = QFormLayout()
        form.addRow("Signing as", self.signer)
        form.addRow("Password *", self.password)
        form.addRow("Reviewer" + (" *" if require_reviewer else ""), self.reviewer)
        form.addRow("Reviewer's password", self.reviewer_password)
        self.buttons = _ok_cancel_buttons(self, "Sign off")
        for w in (self.password, self.reviewer, self.reviewer_password):
            w.textChanged.connect(self._update)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addLayout(form)
        lay.addWidget(self.buttons)
        self._update()

    def _update(self) -> None:
        has_reviewer = bool(self.reviewer.text().strip())
        ok = bool(self.password.text()) and (not has_reviewer or bool(self.reviewer_password.text()))
        ok = ok and (has_reviewer or not self.require_reviewer)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def signatures(self) -> tuple[str, str, str]:
        return self.password.text(), self.reviewer.text().strip(), self.reviewer_password.text()


class OpenCaseDialog(QDialog):
    """The case history, searchable by patient ID, sample ID or patient name."""

    HEADERS = ("Case", "Patient ID", "Patient name", "Sample ID", "Status", "Images", "Updated (UTC)")

    def __init__(self, parent: QWidget | None, store: Any) -> None:
        super().__init__(parent)
        self.setObjectName("openCaseDialog")
        self.setWindowTitle("Open a case")
        self.store = store
        self.search = QLineEdit()
        self.search.setObjectName("caseSearch")
        self.search.setPlaceholderText("Search patient ID, sample ID or name")
        self.search.setClearButtonEnabled(True)
        self.table = QTableWidget(0, len(self.HEADERS))
        self.table.setObjectName("caseTable")
        self.table.setHorizontalHeaderLabels(self.HEADERS)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(self.accept)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.count = QLabel()
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.count)
        lay.addWidget(self.buttons)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._timer.start)
        self.refresh()
        self.resize(760, 460)

    def refresh(self) -> None:
        cases = self.store.search(self.search.text())
        self.table.setRowCount(len(cases))
        for r, c in enumerate(cases):
            values = (str(c.id), c.patient_id, c.patient_name, c.sample_id, c.status,
                      str(c.image_count), (c.updated_at or "")[:16].replace("T", " "))
            for col, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(Qt.ItemDataRole.UserRole, c.id)
                self.table.setItem(r, col, item)
        if cases:
            self.table.selectRow(0)
        self.count.setText(f"{len(cases)} case{'s' if len(cases) != 1 else ''}")
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(bool(cases))

    def case_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return int(self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole))


class PreferencesDialog(QDialog):
    """Lab details, thresholds, device and model folder (lab_app.core.settings)."""

    def __init__(self, parent: QWidget | None, settings: Settings) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self._settings = settings
        lab, an = settings.lab, settings.analysis
        self.lab_name = QLineEdit(lab.name)
        self.lab_address = QPlainTextEdit(lab.address)
        self.lab_address.setFixedHeight(70)
        self.logo = QLineEdit(lab.logo_path or "")
        logo_button = QPushButton("Browse…")
        logo_button.clicked.connect(self._browse_logo)
        logo_row = QHBoxLayout()
        logo_row.addWidget(self.logo, 1)
        logo_row.addWidget(logo_button)
        self.require_reviewer = QCheckBox("Sign-off needs a second person (reviewer)")
        self.require_reviewer.setChecked(lab.require_reviewer)
        self.page_size = QComboBox()
        self.page_size.addItems(list(PAGE_SIZES))
        self.page_size.setCurrentText(lab.report_page_size)
        self.report_threshold = _fraction_spin(lab.confidence_threshold,
                                               none_text="Model's calibrated threshold")
        self.report_threshold.setToolTip("The report marks calls below this confidence; by "
                                         "default below the model's calibrated threshold.")
        self.database = QLineEdit(lab.database or "")
        self.database.setObjectName("caseDatabase")
        self.database.setPlaceholderText("this computer's data folder")
        self.database.setToolTip("A case database file, or a lab network's shared store "
                                 "postgresql://user@host:port/dbname. Used from the next start "
                                 "of the program; --db overrides it.")
        lab_form = QFormLayout()
        lab_form.addRow("Lab name", self.lab_name)
        lab_form.addRow("Address", self.lab_address)
        lab_form.addRow("Logo (PNG/JPEG)", logo_row)
        lab_form.addRow("", self.require_reviewer)
        lab_form.addRow("Report page size", self.page_size)
        lab_form.addRow("Report: mark calls below", self.report_threshold)
        lab_form.addRow("Case database", self.database)

        self.low_conf = _fraction_spin(an.low_confidence_threshold, none_text="Model card default")
        self.low_conf.setObjectName("lowConfidence")
        self.low_conf.setToolTip("Images whose call is below this confidence get the "
                                 "'low confidence' flag. The model card's default was chosen on "
                                 "its validation data.")
        self.device = QComboBox()
        self.device.setObjectName("deviceCombo")
        for d, label in zip(DEVICES, ("Automatic (CUDA GPU when present)", "CPU", "CUDA GPU")):
            self.device.addItem(label, d)
        self.device.setCurrentIndex(max(0, self.device.findData(an.device)))
        self.model_dir = QLineEdit(an.model_dir or "")
        self.model_dir.setPlaceholderText("the bundled model")
        model_button = QPushButton("Browse…")
        model_button.clicked.connect(self._browse_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_dir, 1)
        model_row.addWidget(model_button)
        an_form = QFormLayout()
        an_form.addRow("Low-confidence flag below", self.low_conf)
        an_form.addRow("Device", self.device)
        an_form.addRow("Model folder", model_row)
        note = QLabel("Device and model changes take effect when no analysis is running.")
        note.setWordWrap(True)
        an_form.addRow("", note)

        tabs = QTabWidget()
        lab_page, an_page = QWidget(), QWidget()
        lab_page.setLayout(lab_form)
        an_page.setLayout(an_form)
        tabs.addTab(lab_page, "Lab and report")
        tabs.addTab(an_page, "Analysis")
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(tabs)
        lay.addWidget(box)
        self.resize(520, 400)

    def _browse_logo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Lab logo", self.logo.text(),
                                              "Images (*.png *.jpg *.jpeg)")
        if path:
            self.logo.setText(path)

    def _browse_model(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model folder", self.model_dir.text())
        if path:
            self.model_dir.setText(path)

    def result_settings(self) -> Settings:
        lab = replace(self._settings.lab, name=self.lab_name.text().strip(),
                      address=self.lab_address.toPlainText().strip(),
                      logo_path=self.logo.text().strip() or None,
                      require_reviewer=self.require_reviewer.isChecked(),
                      report_page_size=self.page_size.currentText(),
                      confidence_threshold=_fraction_or_none(self.report_threshold),
                      database=self.database.text().strip() or None)
        analysis = replace(self._settings.analysis, device=self.device.currentData(),
                           model_dir=self.model_dir.text().strip() or None,
                           low_confidence_threshold=_fraction_or_none(self.low_conf))
        return Settings(lab=lab, analysis=analysis)


_NONE_VALUE = -0.01  # below the range: the spin box shows its "none" text there


def _ok_cancel_buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    """OK (renamed to say what it does) and Cancel, wired to the dialog's accept and reject."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


def _password_field(object_name: str, placeholder: str = "") -> QLineEdit:
    """A line edit that shows dots, not the password typed."""
    field = QLineEdit()
    field.setObjectName(object_name)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    if placeholder:
        field.setPlaceholderText(placeholder)
    return field


def _fraction_spin(value: float | None, none_text: str | None = None) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(_NONE_VALUE if none_text else 0.0, 1.0)
    if none_text:
        spin.setSpecialValueText(none_text)
    spin.setSingleStep(0.05)
    spin.setDecimals(2)
    spin.setValue(_NONE_VALUE if value is None else value)
    return spin


def _fraction_or_none(spin: QDoubleSpinBox) -> float | None:
    return None if spin.value() < 0 else round(spin.value(), 2)


@dataclass
class AboutInfo:
    model_name: str = ""
    model_version: str = ""
    model_sha256: str = ""
    device: str = ""
    model_dir: str = ""
    metrics: dict | None = None
    card_markdown: str = ""


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None, info: AboutInfo) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About ALL Subtype Workstation")
        head = QLabel(
            f"<h2>ALL Subtype Workstation {__version__}</h2>"
            f"<p style='color:{RUO_COLOUR}; font-weight:bold'>{RESEARCH_USE_ONLY}</p>"
            "<p>Classifies Acute Lymphoblastic Leukemia subtypes (Benign (hematogones), Early "
            "Pre-B ALL, Pre-B ALL, Pro-B ALL) in peripheral blood smear images. Every call must be "
            "reviewed by a qualified person.</p>")
        head.setObjectName("aboutHeader")
        head.setWordWrap(True)
        # The report's wording: a refit's figures are its recipe run's, and it says so.
        mtext = model_metrics_line(info.metrics) if info.metrics else ""
        model = QLabel(
            f"<b>Model:</b> {html_escape(info.model_name or 'not loaded')} "
            f"{html_escape(info.model_version)}<br>"
            f"<b>SHA-256:</b> {info.model_sha256[:16]}{'…' if info.model_sha256 else ''}<br>"
            f"<b>Device:</b> {info.device or 'not loaded'}<br>"
            + (f"<b>Figures:</b> {html_escape(mtext)}<br>" if mtext else "")
            + (f"<b>Folder:</b> {html_escape(info.model_dir)}" if info.model_dir else ""))
        model.setWordWrap(True)
        model.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        card = QTextBrowser()
        card.setObjectName("modelCard")
        card.setOpenExternalLinks(False)
        card.setMarkdown(info.card_markdown or "_The model card is not available._")
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addWidget(model)
        lay.addWidget(QLabel("<b>Model card</b>"))
        lay.addWidget(card, 1)
        lay.addWidget(box)
        self.resize(640, 620)


def read_model_card(model_dir: str | Path | None) -> str:
    if not model_dir:
        return ""
    try:
        return (Path(model_dir) / "MODEL_CARD.md").read_text(encoding="utf-8")
    except OSError as exc:
        log.info("no model card in %s: %s", model_dir, exc)
        return ""
