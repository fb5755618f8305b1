"""The window says when an opened case was changed outside the program (its audit chain is
broken) and keeps it read-only."""

from __future__ import annotations

from lab_app.core.case_models import Patient
from lab_app.core.cases import CaseStore

from helpers import raw_sql, result


def test_opening_a_changed_case_shows_a_message(make_window, gui_dirs):
    _, db = gui_dirs
    with CaseStore(db) as store:
        case = store.create_case(patient=Patient("P-9"), technician="Tech",
                                 results=[result("a.jpg"), result("b.jpg")])
        intact = store.create_case(patient=Patient("P-10"), technician="Tech",
                                   results=[result("c.jpg")])
    raw_sql(db, "UPDATE images SET prediction = 'Pro' WHERE path = '/slides/a.jpg'")
    win = make_window(load_engine=False)
    assert win.open_case(intact.id)
    assert win.dialogs.errors == []
    assert win.open_case(case.id)
    (title, text), = win.dialogs.errors
    assert title == "Case changed outside the program"
    assert f"Case {case.id} was changed outside the program" in text and "a.jpg" in text
    assert "read-only" in text


def test_a_changed_case_is_read_only_in_the_session(tmp_path):
    from lab_app.core.session import CaseSession, SessionRuleError
    import pytest
    db = tmp_path / "c.sqlite3"
    with CaseStore(db) as store:
        case = store.create_case(patient=Patient("P-1"), technician="Tech",
                                 results=[result("a.jpg")])
    raw_sql(db, "UPDATE cases SET patient_name = 'Someone Else'")
    with CaseStore(db) as store:
        session = CaseSession(store)
        session.open_case(case.id)
        assert session.changed_outside and session.locked
        states = session.action_states()
        assert not (states.analyse or states.add_images or states.sign_off) and states.export_pdf
        with pytest.raises(SessionRuleError, match="changed outside the program"):
            session.require_open()
        with pytest.raises(SessionRuleError, match="changed outside the program"):
            session.decide(session.rows[0], "Tech", "accepted")
        assert "changed outside" in str(session.sign_off_blocker())
        session.new_case()
        assert not session.changed_outside and not session.locked
