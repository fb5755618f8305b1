"""Case fields, opening cases, exports, settings persistence, segmentation preview, overlays."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTextBrowser

from lab_app import RESEARCH_USE_ONLY
from lab_app.core.settings import load_settings
from lab_app.gui.dialogs import AboutDialog, AboutInfo, OpenCaseDialog
from lab_app.gui.theme import INVALID_STYLE


def test_fields_are_saved_as_they_are_edited_and_dates_are_checked(make_window, gui):
    win = make_window(load_engine=False)
    assert win.case is None
    gui.set_field(win, "technician", "Ana Tech")
    assert win.case is not None                       # first edit creates the case
    gui.set_field(win, "patient_id", "P-77")
    gui.set_field(win, "patient_birth_date", "2019-13-40")
    panel = win.case_panel
    assert panel.widgets["patient_birth_date"].styleSheet() == INVALID_STYLE
    assert "not a date" in panel.error_label.text()
    gui.set_field(win, "patient_birth_date", "2019-02-03")
    gui.set_field(win, "sample_id", "S-9")
    case = win.store.get_case(win.case.id)
    assert (case.patient.id, case.patient.birth_date, case.sample.id, case.technician) == \
        ("P-77", "2019-02-03", "S-9", "Ana Tech")
    assert "P-77" in win.windowTitle()


def test_required_fields_block_sign_off_and_report(make_window, image_folder, gui, tmp_path):
    win = gui.analysed_window(make_window, image_folder)
    win.dialogs.save_path = str(tmp_path / "r.pdf")
    win.export_pdf()
    assert "Patient ID" in win.dialogs.errors[-1][1]
    win.sign_off()
    assert "Patient ID is required" in win.dialogs.errors[-1][1]
    assert not (tmp_path / "r.pdf").exists()


def test_export_pdf_through_the_action(make_window, image_folder, gui, tmp_path):
    from pypdf import PdfReader
    win = gui.analysed_window(make_window, image_folder)
    gui.set_field(win, "patient_id", "P-REPORT-1")
    gui.set_field(win, "sample_id", "S-REPORT-1")
    out = tmp_path / "out" / "case report.pdf"
    out.parent.mkdir()
    win.dialogs.save_path = str(out)
    with gui.qtbot.waitSignal(win.report_written, timeout=120000) as sig:
        win.actions_.export_pdf.trigger()
    assert sig.args == [str(out)]
    text = "\n".join(page.extract_text() for page in PdfReader(str(out)).pages)
    assert "P-REPORT-1" in text
    assert "research use" in text.lower()
    assert not win.dialogs.errors
    assert "Report saved" in win.statusBar().currentMessage()


def test_export_csv_through_the_action(make_window, image_folder, gui, tmp_path):
    win = gui.analysed_window(make_window, image_folder)
    out = tmp_path / "rows.csv"
    win.dialogs.save_path = str(out)
    win.actions_.export_csv.trigger()
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 13 and lines[0].startswith("case_id")


def test_open_case_restores_images_and_decisions(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    gui.set_field(win, "patient_id", "P-OPEN")
    win.select_proxy_row(0)
    row = win.current_row()
    win.dialogs.override = ("Early", "checked at 100x")
    win.override_current(1 if row.result.prediction != "Early" else 0)
    case_id = win.case.id
    win.new_case()
    assert win.model.rowCount() == 0 and win.case is None
    win.dialogs.case_to_open = case_id
    win.actions_.open_case.trigger()
    assert win.case.id == case_id and win.model.rowCount() == 12
    assert win.case_panel.value("patient_id") == "P-OPEN"
    restored = win.model.rows()[win.model.find(row.path)]
    assert restored.image.decision.status == "overridden"
    # Recent cases list it.
    win._fill_recent_menu()
    labels = [a.text() for a in win.recent_menu.actions()]
    assert any(f"Case {case_id}" in t and "P-OPEN" in t for t in labels)


def test_open_case_dialog_searches(qtbot, make_window, gui):
    win = make_window(load_engine=False)
    from lab_app.core.case_models import Patient, Sample
    win.store.create_case(patient=Patient("ALPHA-1", "Jane Roe"), sample=Sample("S-A"), actor="t")
    win.store.create_case(patient=Patient("BETA-2", "John Doe"), sample=Sample("S-B"), actor="t")
    dlg = OpenCaseDialog(win, win.store)
    qtbot.addWidget(dlg)
    assert dlg.table.rowCount() == 2
    qtbot.keyClicks(dlg.search, "roe")
    dlg.refresh()
    assert dlg.table.rowCount() == 1 and dlg.table.item(0, 1).text() == "ALPHA-1"
    assert dlg.case_id() == int(dlg.table.item(0, 0).text())


def _threshold_between(model_dir, folder) -> tuple[float, dict[str, float]]:
    """The confidences the model gives the folder's fields (the pipeline, no window) and a
    threshold in their widest gap with at least two calls on each side: the fields all sit at
    0.91-0.99, so a fixed threshold would flag all or none."""
    from lab_app.core.imaging import iter_image_paths
    from lab_app.core.pipeline import ImageAnalysed, analyse
    from model.inference import InferenceEngine
    engine = InferenceEngine(model_dir, device="cpu")
    conf = {e.result.path: e.result.confidence for e in analyse(iter_image_paths([folder]), engine)
            if isinstance(e, ImageAnalysed)}
    c = sorted(conf.values())
    width, i = max((c[i + 1] - c[i], i) for i in range(1, len(c) - 2))
    assert width > 1e-4, c
    t = round((c[i] + c[i + 1]) / 2, 6)
    assert {p for p, v in conf.items() if v < t} != \
           {p for p, v in conf.items() if v < engine.low_confidence_threshold}
    return t, conf


def test_settings_round_trip(make_window, gui, gui_dirs, image_folder, model_dir):
    cfg, _ = gui_dirs
    threshold, confidence = _threshold_between(model_dir, image_folder)
    win = make_window()
    new = replace(win.settings, lab=replace(win.settings.lab, name="Haematology Lab 3",
                                            confidence_threshold=0.75),
                  analysis=replace(win.settings.analysis, low_confidence_threshold=threshold))
    win.dialogs.new_settings = new
    win.actions_.preferences.trigger()
    stored = load_settings(cfg)
    assert stored.lab.name == "Haematology Lab 3" and stored.lab.confidence_threshold == 0.75
    assert stored.analysis.low_confidence_threshold == threshold
    # Window state: overlays, size, last folder, segmentation settings.
    win.actions_.show_mask.setChecked(True)
    win.actions_.show_outlines.setChecked(False)
    win.resize(1100, 700)
    win.remember_folder(str(image_folder))
    win.seg_panel.spins["min_cell_area"].setValue(90)
    win.close()
    again = make_window(load_engine=False)
    assert again.settings.lab.name == "Haematology Lab 3"
    assert again.actions_.show_mask.isChecked() and not again.actions_.show_outlines.isChecked()
    assert (again.width(), again.height()) == (1100, 700)
    assert again.last_folder() == str(image_folder)
    assert again.seg_panel.params.min_cell_area == 90
    # The analysis uses the saved threshold.
    again.start_engine()
    gui.qtbot.waitUntil(lambda: again.engine is not None, timeout=30000)
    gui.set_field(again, "technician", "T")
    again.open_paths([image_folder])
    gui.wait_analysed(again)
    images = again.store.get_case(again.case.id).images
    assert {i.path: round(i.result.confidence, 4) for i in images} == \
           {p: round(c, 4) for p, c in confidence.items()}
    flagged = {i.path for i in images if "low_confidence" in i.result.flags}
    assert flagged == {p for p, c in confidence.items() if c < threshold}
    assert 2 <= len(flagged) <= len(images) - 2


def test_segmentation_preview_and_reanalysis(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    qtbot = gui.qtbot
    win.select_proxy_row(0)
    qtbot.waitUntil(lambda: win._field is not None)
    before = win._field.seg.count
    assert f"{before} stained region" in win.viewer.cells_label.text()
    spin = win.seg_panel.spins["min_cell_area"]
    with qtbot.waitSignal(win.field_shown, timeout=10000):
        spin.setValue(5000)           # only huge blobs count
    assert win._field.seg.count < before or before == 0
    assert "preview" in win.viewer.cells_label.text()
    assert win.seg_panel.params.preset == "custom"
    with qtbot.waitSignal(win.analysis_finished, timeout=60000):
        win.seg_panel.reanalyse_button.click()
    case = win.store.get_case(win.case.id)
    assert all(img.result.segmentation["min_cell_area"] == 5000 for img in case.images
               if img.result.status == "ok")
    assert any(e.action == "reanalyse" for e in win.store.audit(case.id))


def test_overlay_keys_toggle_the_viewer(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    qtbot = gui.qtbot
    win.select_proxy_row(0)
    qtbot.waitUntil(lambda: win._field is not None)
    view = win.viewer.view
    view.setFocus()
    start = (view.show_mask, view.show_outlines, view.show_cam)
    for key in (Qt.Key.Key_M, Qt.Key.Key_O, Qt.Key.Key_A):
        qtbot.keyClick(view, key)
    assert (view.show_mask, view.show_outlines, view.show_cam) == tuple(not s for s in start)
    assert view.show_cam == win.actions_.show_cam.isChecked()
    qtbot.waitUntil(lambda: win._field_cam is not None and win._field_cam[0] is not None)
    assert not view._cam.pixmap().isNull()
    z = view.zoom
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.zoom > z
    qtbot.keyClick(view, Qt.Key.Key_F)
    assert abs(view.zoom - z) < 1e-6


def test_about_shows_the_model_card_and_research_use_statement(make_window, qtbot):
    win = make_window()
    win.actions_.about.trigger()
    info = win.dialogs.abouts[-1]
    assert info.model_name == win.engine.info["name"] and info.device == "CPU: ONNX Runtime"
    assert info.card_markdown
    dlg = AboutDialog(win, info)
    qtbot.addWidget(dlg)
    header = dlg.findChild(QLabel, "aboutHeader")
    assert RESEARCH_USE_ONLY in header.text()
    card = dlg.findChild(QTextBrowser, "modelCard")
    assert card is not None and card.toPlainText().strip()
    assert info.card_markdown == Path(win.engine.model_dir, "MODEL_CARD.md").read_text(encoding="utf-8")
    assert RESEARCH_USE_ONLY in win.toolbar.findChild(QLabel, "ruoLabel").text()


def test_about_says_whose_figures_a_refit_quotes(qtbot):
    """A refit has no held-out figures of its own: the dialog quotes its recipe run's, as the
    PDF report does, instead of calling them the model's validation."""
    metrics = {"accuracy": 0.9726, "macro_f1": 0.9721, "n": 511, "ece": 0.016,
               "recipe": {"name": "mobilenetv2-all", "version": "recipe-plain-s1"}}
    dlg = AboutDialog(None, AboutInfo(model_name="mobilenetv2-all", model_version="2.2.0",
                                      metrics=metrics))
    qtbot.addWidget(dlg)
    text = " ".join(label.text() for label in dlg.findChildren(QLabel))
    assert "recipe run mobilenetv2-all recipe-plain-s1 (the model is a refit on all images)" in text
    assert "accuracy 97.3%" in text and "n=511" in text


def test_preferences_and_sign_off_dialogs(qtbot):
    from lab_app.core.settings import Settings
    from lab_app.gui.dialogs import PreferencesDialog, SignOffDialog
    dlg = PreferencesDialog(None, Settings())
    qtbot.addWidget(dlg)
    dlg.lab_name.setText("Lab 7")
    dlg.low_conf.setValue(0.55)
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    out = dlg.result_settings()
    out.validate()
    assert (out.lab.name, out.analysis.low_confidence_threshold, out.analysis.device) == ("Lab 7", 0.55, "cpu")
    so = SignOffDialog(None, "Ana", "", True, "Case call: Pre-B ALL")
    qtbot.addWidget(so)
    ok = so.buttons.button(so.buttons.StandardButton.Ok)
    assert not ok.isEnabled()                 # the lab requires a reviewer
    so.reviewer.setText("Bob")
    assert ok.isEnabled() and so.names() == ("Ana", "Bob")


def test_shortcuts_are_listed_and_unique(make_window):
    win = make_window(load_engine=False)
    win.actions_.shortcuts.trigger()
    title, html = win.dialogs.texts[-1]
    table = {name.strip(): keys.split(", ") for name, keys in
             re.findall(r"<tr><td>(.*?)</td><td><b>(.*?)</b></td></tr>", html)}
    acts = win.actions_
    for act, key in ((acts.accept, "Return"), (acts.next_undecided, "N"), (acts.show_mask, "M"),
                     (acts.show_outlines, "O"), (acts.show_cam, "A"), (acts.fit, "F"),
                     (acts.export_pdf, "Ctrl+P"), (acts.analyse, "Ctrl+R"),
                     (acts.reset_decision, "Backspace"), (acts.override[0], "1"),
                     (acts.override[3], "4")):
        name = act.text().replace("&", "").rstrip("…").strip()
        assert key in table.get(name, []), f"{name}: {key} not listed in {table.get(name)}"
        assert key in [s.toString() for s in act.shortcuts()], f"{name} is not bound to {key}"
    # Every bound action is listed, with all its keys.
    bound = [a for a in acts.all if a.shortcuts()]
    assert len(table) == len(bound)
    seen = {}
    for act in win.actions_.all:
        for seq in act.shortcuts():
            text = seq.toString()
            assert text not in seen, f"{text} is bound to {seen[text]} and {act.text()}"
            seen[text] = act.text()


def test_a_field_typed_but_not_confirmed_is_saved_on_close(make_window, gui, gui_dirs):
    win = make_window(load_engine=False)
    gui.set_field(win, "technician", "Ana Tech")
    case_id = win.case.id
    w = win.case_panel.widgets["sample_id"]
    w.setFocus()
    gui.qtbot.keyClicks(w, "S-LATE")          # no Enter, no focus change
    win.close()
    from lab_app.core.cases import CaseStore
    with CaseStore(gui_dirs[1]) as store:
        assert store.get_case(case_id).sample.id == "S-LATE"


def test_closing_an_untouched_window_creates_no_case(make_window, gui_dirs):
    win = make_window(load_engine=False)
    win.close()
    from lab_app.core.cases import CaseStore
    with CaseStore(gui_dirs[1]) as store:
        assert store.list_cases() == []


def test_export_csv_adds_the_extension_and_remembers_the_folder(make_window, image_folder, gui,
                                                                tmp_path):
    win = gui.analysed_window(make_window, image_folder)
    gui.set_field(win, "patient_id", "P 12/3")
    out = tmp_path / "exports" / "case rows"
    out.parent.mkdir()
    win.dialogs.save_path = str(out)
    win.actions_.export_csv.trigger()
    written = out.with_name("case rows.csv")
    assert written.is_file() and not out.exists()
    assert "P 12/3" in written.read_text(encoding="utf-8")
    assert not win.dialogs.errors
    win.dialogs.save_path = None                     # cancelled: nothing written, no message
    win.actions_.export_csv.trigger()
    assert win.dialogs.save_suggested == str(out.parent / f"case-{win.case.id}-P_12_3.csv")
    assert sorted(p.name for p in out.parent.iterdir()) == ["case rows.csv"]
