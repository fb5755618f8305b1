"""Case fields when the case database refuses a write: what was typed is never lost."""

from __future__ import annotations

from lab_app.core.cases import CaseStore
from lab_app.core.errors import CaseStoreError


def _busy_once(store, monkeypatch):
    """The store's next update_case fails as a locked SQLite database does; later ones work."""
    real = store.update_case
    calls = []

    def update_case(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise CaseStoreError("The case database is busy or read-only (database is locked); "
                                 "try again.")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "update_case", update_case)
    return calls


def test_a_field_the_database_refused_is_saved_again_on_enter(make_window, gui, monkeypatch):
    win = make_window(load_engine=False)
    gui.set_field(win, "patient_id", "P-1")           # creates the case
    calls = _busy_once(win.store, monkeypatch)
    gui.set_field(win, "patient_name", "Ada Lovelace")
    assert [t for t, _ in win.dialogs.errors] == ["Field not saved"]
    assert "stays in the field" in win.dialogs.errors[0][1]
    assert win.case_panel.value("patient_name") == "Ada Lovelace"
    assert win.case_panel.dirty()
    # Enter again (the database is free now) saves it.
    gui.qtbot.keyClick(win.case_panel.widgets["patient_name"], "\r")
    assert len(calls) == 2
    assert win.store.get_case(win.case.id).patient.name == "Ada Lovelace"
    assert not win.case_panel.dirty()


def test_a_field_the_database_refused_is_saved_when_the_window_closes(make_window, gui,
                                                                       monkeypatch, gui_dirs):
    _, db = gui_dirs
    win = make_window(load_engine=False)
    gui.set_field(win, "patient_id", "P-1")
    case_id = win.case.id
    _busy_once(win.store, monkeypatch)
    gui.set_field(win, "patient_name", "Ada Lovelace")
    assert win.dialogs.errors
    win.close()
    store = CaseStore(db)
    try:
        assert store.get_case(case_id).patient.name == "Ada Lovelace"
    finally:
        store.close()


def test_fields_typed_before_a_refused_case_creation_are_saved_on_close(make_window, gui,
                                                                        monkeypatch, gui_dirs):
    _, db = gui_dirs
    win = make_window(load_engine=False)
    real = win.store.create_case
    tries = []

    def create_case(*args, **kwargs):
        tries.append(1)
        if len(tries) == 1:
            raise CaseStoreError("The case database is busy or read-only (database is locked); "
                                 "try again.")
        return real(*args, **kwargs)

    monkeypatch.setattr(win.store, "create_case", create_case)
    gui.set_field(win, "patient_id", "P-9")
    assert win.case is None and win.dialogs.errors
    win.close()
    store = CaseStore(db)
    try:
        assert [c.patient_id for c in store.list_cases()] == ["P-9"]
    finally:
        store.close()
