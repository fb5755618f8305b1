"""File names, patient fields and reasons are shown as plain text: a file called <b>x.jpg (a
name cannot hold "/", so no closing tag) is shown with its brackets, never as bold HTML."""

from __future__ import annotations

import shutil

from PySide6.QtCore import Qt

from helpers import SAMPLES

NAME = "<b>x &amp; <i>y.jpg"


def test_a_file_name_with_tags_is_shown_literally(make_window, tmp_path, gui):
    folder = tmp_path / "tags"
    folder.mkdir()
    shutil.copy(SAMPLES[0], folder / NAME)
    win = gui.analysed_window(make_window, folder)
    win.select_proxy_row(0)
    gui.qtbot.waitUntil(lambda: win.viewer.title.text() != "")
    title = win.viewer.title
    assert title.textFormat() == Qt.TextFormat.PlainText
    assert title.text() == NAME
    assert "&lt;b&gt;" in title.toolTip()               # the tooltip shows it literally too
    assert win.prediction.file_label.textFormat() == Qt.TextFormat.PlainText
    assert win.prediction.file_label.text() == NAME
    assert win.prediction.conf_label.textFormat() == Qt.TextFormat.PlainText


def test_dialogs_and_the_case_status_escape_user_text(qtbot):
    from lab_app.core.case_models import Case, Patient, Sample
    from lab_app.gui.case_panel import _status_html
    from lab_app.gui.dialogs import AboutDialog, AboutInfo, OverrideDialog, plain_message_box
    from PySide6.QtWidgets import QLabel, QMessageBox

    dlg = OverrideDialog(None, NAME, "Pre", "Pro")
    qtbot.addWidget(dlg)
    intro = dlg.findChildren(QLabel)[0]
    assert "&lt;b&gt;x &amp;amp; &lt;i&gt;y" in intro.text() and "<b>x" not in intro.text()
    about = AboutDialog(None, AboutInfo(model_name="<b>m</b>", model_dir="/m/<i>d</i>"))
    qtbot.addWidget(about)
    assert not any("<i>d</i>" in lbl.text() or "<b>m</b>" in lbl.text()
                   for lbl in about.findChildren(QLabel))
    case = Case(1, Patient("P"), Sample(), status="signed", signed_by="<b>Ana</b>",
                signed_at="2024-01-01T00:00:00")
    assert "&lt;b&gt;Ana&lt;/b&gt;" in _status_html(case)
    box = plain_message_box(None, QMessageBox.Icon.Warning, "t", NAME)
    assert box.textFormat() == Qt.TextFormat.PlainText
