"""Reviewing with the keyboard: accept (Enter), override (1-4 + reason), navigation, sign-off."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt

from lab_app.gui import theme
from lab_app.gui.dialogs import OverrideDialog
from lab_app.gui.theme import CLASS_IDS


def _focus_list(win, qtbot):
    win.activateWindow()
    win.image_list.view.setFocus()
    qtbot.waitUntil(win.image_list.view.hasFocus, timeout=5000)


def _first_reviewable(win) -> int:
    for r in range(win.proxy.rowCount()):
        row = win.proxy.row_at(r)
        if row.undecided and row.result.prediction and not row.image.out_of_scope:
            return r
    raise AssertionError("no reviewable image")


def _decision_audit(win, image_id):
    return [e for e in win.store.audit(win.case.id) if e.field == "decision" and e.image_id == image_id]


def test_enter_accepts_the_call_and_moves_on(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    qtbot = gui.qtbot
    r = _first_reviewable(win)
    win.select_proxy_row(r)
    row = win.current_row()
    _focus_list(win, qtbot)
    qtbot.keyClick(win.image_list.view, Qt.Key.Key_Return)
    stored = win.store.get_case(win.case.id).image(row.image.id)
    assert stored.decision.status == "accepted"
    assert stored.decision.actor == "Ana Tech"
    audit = _decision_audit(win, row.image.id)
    assert audit and audit[-1].new == "accepted" and audit[-1].actor == "Ana Tech"
    assert row.state == theme.ACCEPTED
    # Moved on to the next undecided image.
    assert win.current_row() is not row and win.current_row().undecided
    # The summary counts it: one reviewed image, of the accepted class.
    cid = row.result.prediction
    assert win.summary.reviewed_counts[cid].text() == "1"
    assert all(lab.text() == "0" for c, lab in win.summary.reviewed_counts.items() if c != cid)
    assert re.search(r"\b1 reviewed image\b(?!s)", win.summary.call_label.text())


def test_number_key_overrides_with_a_reason_and_is_audited(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    qtbot = gui.qtbot
    win.select_proxy_row(_first_reviewable(win))
    row = win.current_row()
    predicted = row.result.prediction
    target_index = next(i for i, c in enumerate(CLASS_IDS) if c != predicted)
    target = CLASS_IDS[target_index]
    _focus_list(win, qtbot)
    qtbot.keyClick(win.image_list.view, Qt.Key(Qt.Key.Key_1 + target_index))
    assert win.dialogs.override_calls == [(row.name, predicted, target)]
    stored = win.store.get_case(win.case.id).image(row.image.id)
    assert stored.decision.status == "overridden"
    assert stored.decision.override_class == target
    assert stored.decision.reason == win.dialogs.override_reason_text
    audit = _decision_audit(win, row.image.id)[-1]
    assert audit.reason == win.dialogs.override_reason_text
    assert f"overridden to {target}" in audit.new
    assert row.state == theme.OVERRIDDEN
    assert row.image.final_class == target


def test_cancelled_override_changes_nothing(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    win.dialogs.override = None
    win.select_proxy_row(_first_reviewable(win))
    row = win.current_row()
    other = next(i for i, c in enumerate(CLASS_IDS) if c != row.result.prediction)
    _focus_list(win, gui.qtbot)
    gui.qtbot.keyClick(win.image_list.view, Qt.Key(Qt.Key.Key_1 + other))
    assert win.store.get_case(win.case.id).image(row.image.id).decision.status == "pending"
    assert not _decision_audit(win, row.image.id)


def test_key_of_the_predicted_class_accepts(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    win.select_proxy_row(_first_reviewable(win))
    row = win.current_row()
    _focus_list(win, gui.qtbot)
    gui.qtbot.keyClick(win.image_list.view, Qt.Key(Qt.Key.Key_1 + CLASS_IDS.index(row.result.prediction)))
    assert not win.dialogs.override_calls
    assert win.store.get_case(win.case.id).image(row.image.id).decision.status == "accepted"


def test_enter_and_digits_in_a_case_field_do_not_review(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    win.select_proxy_row(_first_reviewable(win))
    gui.set_field(win, "patient_id", "P-2024-0117")
    case = win.store.get_case(win.case.id)
    assert case.patient.id == "P-2024-0117"
    assert all(img.decision.status == "pending" for img in case.images)
    assert not win.dialogs.override_calls
    audit = [e for e in win.store.audit(win.case.id) if e.field == "patient_id"]
    assert audit and audit[-1].new == "P-2024-0117" and audit[-1].actor == "Ana Tech"


def test_decision_needs_the_technician_name(make_window, image_folder, gui):
    win = make_window()
    win.open_paths([image_folder])
    gui.wait_analysed(win)
    win.select_proxy_row(_first_reviewable(win))
    win.accept_current()
    assert win.dialogs.errors and "Technician" in win.dialogs.errors[-1][1]
    assert all(img.decision.status == "pending" for img in win.store.get_case(win.case.id).images)


def test_n_goes_to_the_next_undecided_and_backspace_undoes(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    qtbot = gui.qtbot
    win.select_proxy_row(0)
    first = win.current_row()
    _focus_list(win, qtbot)
    qtbot.keyClick(win.image_list.view, Qt.Key.Key_N)
    assert win.current_proxy_row() != 0 and win.current_row().undecided
    win.select_proxy_row(_first_reviewable(win))
    row = win.current_row()
    win.accept_current()
    win.select_proxy_row(win.proxy.mapFromSource(win.model.index(win.model.find(row.path), 0)).row())
    _focus_list(win, qtbot)
    qtbot.keyClick(win.image_list.view, Qt.Key.Key_Backspace)
    assert win.store.get_case(win.case.id).image(row.image.id).decision.status == "pending"
    assert first is not None


def test_filters_by_class_and_flag(make_window, image_folder, gui):
    (image_folder / "broken.jpg").write_bytes(b"nope")
    win = gui.analysed_window(make_window, image_folder)
    panel = win.image_list
    panel.set_filters(show="error")
    assert win.proxy.rowCount() == 1 and win.proxy.row_at(0).name == "broken.jpg"
    assert "1 of 13" in panel.count_label.text()
    predicted = next(r.result.prediction for r in win.model.rows() if r.result.prediction)
    panel.set_filters(cid=predicted, show="all")
    n = sum(1 for r in win.model.rows() if r.shown_class == predicted)
    assert win.proxy.rowCount() == n > 0
    panel.set_filters(show="undecided")
    before = win.proxy.rowCount()
    win.select_proxy_row(_first_reviewable(win))
    win.accept_current()
    assert win.proxy.rowCount() == before - 1     # the decided image leaves the filtered list
    assert win.current_row() is not None and win.current_row().undecided


def test_results_table_sorts_by_confidence(make_window, image_folder, gui):
    from lab_app.gui.results_model import COL
    win = gui.analysed_window(make_window, image_folder)
    win.table.sortByColumn(COL["confidence"], Qt.SortOrder.DescendingOrder)
    confs = [win.proxy.row_at(r).result.confidence or -1 for r in range(win.proxy.rowCount())]
    assert confs == sorted(confs, reverse=True)
    # The list follows the table (one proxy, one selection).
    win.table.selectRow(2)
    assert win.current_proxy_row() == 2


def test_sign_off_locks_the_case(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    gui.set_field(win, "patient_id", "P-1")
    gui.set_field(win, "sample_id", "S-1")
    win.sign_off()
    assert win.dialogs.errors and "decision" in win.dialogs.errors[-1][1]
    for r in win.model.rows():
        if r.undecided:
            if r.result.prediction and not r.image.out_of_scope:
                win.store.set_decision(win.case.id, r.image.id, "Ana Tech", "accepted")
            else:
                win.store.set_decision(win.case.id, r.image.id, "Ana Tech", "overridden",
                                       override_class="Pre", reason="seen in the field")
    win.open_case(win.case.id)
    win.dialogs.sign_off_names = ("Ana Tech", "Rev Iewer")
    win.sign_off()
    case = win.store.get_case(win.case.id)
    assert case.status == "signed" and case.signed_by == "Ana Tech"
    assert win.case.locked
    assert win.case_panel.widgets["patient_id"].isReadOnly()
    # A change now needs an amendment with its reason; without one nothing changes.
    r = next(i for i in range(win.proxy.rowCount()) if win.proxy.row_at(i).decision == "accepted")
    win.select_proxy_row(r)
    row = win.current_row()
    before = [i.decision for i in case.images]
    other = next(i for i, c in enumerate(CLASS_IDS) if c != row.result.prediction)
    win.override_current(other)
    assert [i.decision for i in win.store.get_case(case.id).images] == before
    win.dialogs.amend_reason_text = "Second look at 100x after sign-off."
    win.override_current(other)
    case = win.store.get_case(case.id)
    assert case.status == "amended" and win.case.status == "amended"
    assert case.image(row.image.id).decision.status == "overridden"
    assert case.amendments and case.amendments[-1].reason == "Second look at 100x after sign-off."
    assert any(e.action == "amend" for e in win.store.audit(case.id))


def test_override_dialog_needs_a_reason(qtbot):
    dlg = OverrideDialog(None, "f.jpg", "Pre", "Pro")
    qtbot.addWidget(dlg)
    ok = dlg.buttons.button(dlg.buttons.StandardButton.Ok)
    assert not ok.isEnabled()
    assert dlg.group.checkedId() == CLASS_IDS.index("Pro")
    qtbot.keyClicks(dlg.reason.lineEdit(), "Nuclear chromatin pattern")
    assert ok.isEnabled()
    assert dlg.choice() == ("Pro", "Nuclear chromatin pattern")
