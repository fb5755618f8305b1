"""The window with accounts (lab_app/core/accounts.py): sign-in at start, the technician from the
account, sign-off asking for the password again; without accounts nothing asks."""

from __future__ import annotations

import pytest

from lab_app.core.accounts import MEANING, MEANING_REVIEWER, Accounts
from lab_app.core.case_models import LabInfo, Patient, Sample
from lab_app.core.cases import CaseStore

from helpers import result

PW = {"ada": "admin-pass-1", "ana": "ana-pass-12", "rui": "rui-pass-12"}


@pytest.fixture
def accounts_db(gui_dirs):
    _, db = gui_dirs
    with CaseStore(db) as store:
        a = Accounts(store)
        a.create_user("ada", PW["ada"], "admin", actor="it")
        a.create_user("ana", PW["ana"], "technician", full_name="Ana Tech", actor="ada")
        a.create_user("rui", PW["rui"], "reviewer", full_name="Rui Review", actor="ada")
        case = store.create_case(patient=Patient("P-1", "Pat"), sample=Sample("S-1"),
                                 technician="Ana Tech (ana)", lab=LabInfo("Lab"),
                                 actor="Ana Tech (ana)", results=[result("a.jpg")])
    return db, case.id


def test_no_accounts_no_sign_in(make_window, scripted_dialogs):
    win = make_window(load_engine=False, dialogs=scripted_dialogs)
    assert scripted_dialogs.sign_in_messages == [] and win.session.account is None
    assert not win.case_panel.widgets["technician"].isReadOnly()


def test_sign_in_then_e_sign_off_with_the_password(make_window, scripted_dialogs, accounts_db):
    db, case_id = accounts_db
    scripted_dialogs.sign_in_answers = [("ana", "wrong-pass"), ("ana", PW["ana"])]
    win = make_window(load_engine=False, dialogs=scripted_dialogs)
    assert scripted_dialogs.sign_in_messages == ["", "The user name or the password is wrong."]
    assert win.session.account.signature == "Ana Tech (ana)"
    tech = win.case_panel.widgets["technician"]
    assert tech.text() == "Ana Tech (ana)" and tech.isReadOnly()       # not free text
    assert win.case_panel.widgets["reviewer"].isReadOnly()
    win.settings.lab.require_reviewer = True
    assert win.open_case(case_id)
    win.session.decide(win.session.rows[0], win.technician(), "accepted")
    # a wrong password: refused, the case stays open
    scripted_dialogs.e_sign_off_answer = ("not-it", "rui", PW["rui"])
    win.sign_off()
    assert scripted_dialogs.errors[-1][0] == "Signature not accepted"
    assert not win.store.get_case(case_id).locked
    scripted_dialogs.e_sign_off_answer = (PW["ana"], "rui", PW["rui"])
    win.sign_off()
    assert scripted_dialogs.e_sign_off_calls[-1] == ("Ana Tech (ana)", True)
    case = win.store.get_case(case_id)
    assert case.locked and case.signed_by == "Ana Tech (ana)" and case.reviewer == "Rui Review (rui)"
    signs = [(e.actor, e.reason) for e in win.store.audit(case_id) if e.action == "sign_off"]
    assert signs == [("Ana Tech (ana)", MEANING), ("Rui Review (rui)", MEANING_REVIEWER)]


def test_cancelled_sign_in_closes_the_window(make_window, scripted_dialogs, accounts_db, qtbot):
    scripted_dialogs.sign_in_answers = [None]
    win = make_window(load_engine=False, dialogs=scripted_dialogs)
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=5000)
    assert win.session.account is None


def test_the_dialogs_hide_passwords_and_need_what_the_lab_requires(qtbot):
    from PySide6.QtWidgets import QDialogButtonBox, QLineEdit

    from lab_app.gui.dialogs import ESignOffDialog, SignInDialog
    sign_in = SignInDialog(None, "postgresql://lab@db/cases", "The user name or the password is wrong.")
    qtbot.addWidget(sign_in)
    ok = sign_in.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert sign_in.password.echoMode() == QLineEdit.EchoMode.Password and not ok.isEnabled()
    assert not sign_in.error.isHidden()
    qtbot.keyClicks(sign_in.name, " ana ")
    qtbot.keyClicks(sign_in.password, PW["ana"])
    assert ok.isEnabled() and sign_in.credentials() == ("ana", PW["ana"])

    dlg = ESignOffDialog(None, "Ana Tech (ana)", True, "Case call: <b>Pre-B</b>")
    qtbot.addWidget(dlg)
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.keyClicks(dlg.password, PW["ana"])
    assert not ok.isEnabled()                      # the lab requires a reviewer
    qtbot.keyClicks(dlg.reviewer, "rui")
    assert not ok.isEnabled()                      # ... with the reviewer's password
    qtbot.keyClicks(dlg.reviewer_password, PW["rui"])
    assert ok.isEnabled() and dlg.signatures() == (PW["ana"], "rui", PW["rui"])
    assert dlg.reviewer_password.echoMode() == QLineEdit.EchoMode.Password


def test_a_change_from_another_workstation_is_not_overwritten(make_window, scripted_dialogs,
                                                              gui_dirs):
    """Two desks on one store (here one SQLite file; tests/unit/test_case_store_network.py runs
    the same rule on PostgreSQL): the window's decision on a stale case is refused, not lost."""
    _, db = gui_dirs
    with CaseStore(db) as other:
        case = other.create_case(patient=Patient("P-1"), sample=Sample("S-1"), technician="Ana Tech",
                                 results=[result("a.jpg"), result("b.jpg")])
    win = make_window(load_engine=False, dialogs=scripted_dialogs)
    assert win.open_case(case.id)
    with CaseStore(db) as other:                    # the second workstation
        other.set_decision(case.id, case.images[0].id, "Bea Tech", "overridden", "Early",
                           "blasts", expected_version=other.get_case(case.id).version)
    win.select_proxy_row(0)
    win.accept_current()
    title, text = scripted_dialogs.errors[-1]
    assert title == "Decision not saved"
    assert "changed at another workstation since you opened it (last by Bea Tech" in text
    stored = win.store.get_case(case.id).images[0].decision
    assert (stored.status, stored.actor) == ("overridden", "Bea Tech")


def test_the_case_database_is_a_setting(qtbot, tmp_path):
    from lab_app.core.settings import Settings, database_location, load_settings, save_settings
    from lab_app.gui.dialogs import PreferencesDialog
    dlg = PreferencesDialog(None, Settings())
    qtbot.addWidget(dlg)
    assert dlg.result_settings().lab.database is None          # default: this PC's data folder
    url = "postgresql://labapp@db.lab.local:5432/labcases?sslmode=require"
    dlg.database.setText(f"  {url} ")
    save_settings(dlg.result_settings(), tmp_path)
    assert load_settings(tmp_path).lab.database == url
    assert database_location(None, tmp_path) == url             # no --db: the setting
    assert database_location("other.sqlite3", tmp_path) == "other.sqlite3"


def test_sign_out_then_another_person_signs_in(make_window, scripted_dialogs, accounts_db):
    """File ▸ Sign out… (Ctrl+Shift+L): what was typed is saved under the account that typed
    it, the case closes, nothing can be changed while nobody is signed in, and the next person's
    sign-in makes them the technician."""
    from PySide6.QtGui import QKeySequence

    from lab_app.core.session import SessionRuleError
    db, case_id = accounts_db
    scripted_dialogs.sign_in_answers = [("ana", PW["ana"])]
    win = make_window(load_engine=False, dialogs=scripted_dialogs)
    act = win.actions_.sign_out
    assert act.isVisible() and act.shortcut() == QKeySequence("Ctrl+Shift+L")
    file_menu = win.menuBar().actions()[0].menu()
    assert act in file_menu.actions()
    assert win.open_case(case_id)
    win.case_panel.widgets["physician"].setText("Dr. Typed")        # typed, not confirmed
    row = win.session.rows[0]

    scripted_dialogs.sign_in_answers = [None]                      # nobody signs in at once
    act.trigger()
    assert win.session.signed_out and win.case is None and win.session.rows == []
    assert act.text() == "Sign &in…" and win.windowTitle().startswith("Signed out")
    stored = win.store.get_case(case_id)
    assert stored.physician == "Dr. Typed"
    assert [e.actor for e in win.store.audit(case_id) if e.field == "physician"] == ["Ana Tech (ana)"]
    # nothing can be changed, opened or started while signed out
    assert not win.case_panel.isEnabled() and not win.centralWidget().isEnabled()
    for name in ("add_images", "new_case", "open_case", "accept", "sign_off", "export_pdf",
                 "watch_folder", "camera", "preferences"):
        assert not getattr(win.actions_, name).isEnabled(), name
    assert act.isEnabled() and win.actions_.quit.isEnabled()
    assert not win.open_case(case_id)
    assert scripted_dialogs.errors[-1][0] == "Signed out"
    with pytest.raises(SessionRuleError, match="Nobody is signed in"):
        win.session.decide(row, "Ana Tech (ana)", "accepted")
    with pytest.raises(SessionRuleError, match="Nobody is signed in"):
        win.session.ensure_case({}, LabInfo("Lab"), "x")

    scripted_dialogs.sign_in_answers = [("rui", PW["rui"])]         # the next person
    act.trigger()
    assert win.session.account.signature == "Rui Review (rui)" and not win.session.signed_out
    assert act.text() == "Sign &out…" and win.case_panel.isEnabled()
    assert win.actions_.open_case.isEnabled() and win.actions_.add_images.isEnabled()
    assert win.case_panel.widgets["technician"].text() == "Rui Review (rui)"
    assert win.open_case(case_id) and win.case.physician == "Dr. Typed"


def test_single_user_mode_has_no_sign_out(make_window, scripted_dialogs):
    win = make_window(load_engine=False, dialogs=scripted_dialogs)
    assert not win.actions_.sign_out.isVisible() and not win.session.signed_out
    assert win.actions_.open_case.isEnabled()
