"""The tamper-evident case store (lab_app/core/case_integrity.py): a change made outside the
program (a raw SQL UPDATE) is found when the case is verified, opened for a change, signed or
reported, and an existing database is brought in by the v4 migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lab_app.core.case_models import LabInfo, Patient, Sample
from lab_app.core.cases import CaseStore, DecisionChange
from lab_app.core.cases_schema import MIGRATIONS
from lab_app.core.errors import CaseLockedError

from helpers import raw_sql, result


def _signed_case(store: CaseStore):
    case = store.create_case(patient=Patient("P-1", "Ana Example", "1970-01-02", "F"),
                             sample=Sample("S-1"), technician="Tech", lab=LabInfo("Lab"),
                             results=[result("a.jpg"), result("b.jpg", "Pro")])
    for img in case.images:
        store.set_decision(case.id, img.id, "Tech", "accepted")
    return store.sign_off(case.id, "Tech")


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "cases.sqlite3"


def test_a_case_changed_only_by_the_program_verifies(db):
    with CaseStore(db) as store:
        case = _signed_case(store)
        store.amend(case.id, "Tech", "typo in the name", fields={"patient_name": "Ana Exemple"})
        store.amend(case.id, "Rev", "second look",
                    decisions=[DecisionChange(case.images[0].id, "overridden", "Early", "blasts")])
        found = store.verify_case(case.id)
        assert found.intact, found.problems
        assert len(found.digest) == 64
        assert all(e.entry_hash for e in store.audit(case.id))


@pytest.mark.parametrize("sql", [
    "UPDATE images SET prediction = 'Early' WHERE path = '/slides/b.jpg'",       # the call
    "UPDATE images SET confidence = 0.5 WHERE path = '/slides/a.jpg'",           # a figure
    "UPDATE images SET decision = 'pending' WHERE path = '/slides/a.jpg'",       # a decision
    "UPDATE cases SET patient_name = 'Someone Else'",                            # the patient
    "UPDATE cases SET signed_by = 'Nobody'",                                     # the sign-off
    "UPDATE audit SET actor = 'Nobody' WHERE action = 'sign_off'",               # the log
    "DELETE FROM audit WHERE id = (SELECT min(id) FROM audit)",                  # history
    "DELETE FROM images WHERE path = '/slides/a.jpg'",                           # an image
])
def test_a_raw_sql_change_on_a_signed_case_is_found(db, sql):
    with CaseStore(db) as store:
        case = _signed_case(store)
        before = store.verify_case(case.id)
    raw_sql(db, sql)
    with CaseStore(db) as store:
        found = store.verify_case(case.id)
        assert not found.intact
        assert f"Case {case.id} was changed outside the program" in found.message()
        assert before.intact


def test_an_image_row_inserted_outside_the_program_is_found(db):
    with CaseStore(db) as store:
        case = _signed_case(store)
    raw_sql(db, "INSERT INTO images (case_id, path, added_at, status) VALUES (?, '/x.jpg', 'now', 'ok')",
         case.id)
    with CaseStore(db) as store:
        problems = store.verify_case(case.id).problems
    assert any("no audit entry" in p for p in problems)


def test_a_changed_case_is_read_only_until_checked(db):
    """The next legitimate change must not seal over a change made outside the program."""
    with CaseStore(db) as store:
        case = store.create_case(patient=Patient("P-2"), technician="Tech",
                                 results=[result("a.jpg"), result("b.jpg")])
    raw_sql(db, "UPDATE images SET prediction = 'Pro' WHERE path = '/slides/a.jpg'")
    with CaseStore(db) as store:
        a = case.images[0].id
        with pytest.raises(CaseLockedError, match="changed outside the program"):
            store.set_decision(case.id, a, "Tech", "accepted")
        with pytest.raises(CaseLockedError, match="changed outside the program"):
            store.add_result(case.id, result("a.jpg"))
        # The untouched image can still be reviewed, but the case cannot be signed.
        store.set_decision(case.id, case.images[1].id, "Tech", "accepted")
        raw_sql(db, "UPDATE images SET decision = 'accepted' WHERE id = ?", a)
        with pytest.raises(CaseLockedError, match="changed outside the program"):
            store.sign_off(case.id, "Tech")
    raw_sql(db, "UPDATE cases SET patient_id = 'P-3'")
    with CaseStore(db) as store, pytest.raises(CaseLockedError):
        store.update_case(case.id, "Tech", physician="Dr. B")


def test_verify_all_names_each_changed_case(db):
    with CaseStore(db) as store:
        one, two = _signed_case(store), _signed_case(store)
    raw_sql(db, "UPDATE images SET prediction = 'Benign' WHERE case_id = ?", two.id)
    with CaseStore(db) as store:
        found = {f.case_id: f.intact for f in store.verify_all()}
    assert found == {one.id: True, two.id: False}


def test_a_v3_database_is_chained_at_migration(db):
    conn = sqlite3.connect(db, isolation_level=None)
    for step in MIGRATIONS[:3]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("""INSERT INTO cases (created_at, updated_at, patient_id, status)
                    VALUES ('2024-01-01', '2024-01-01', 'OLD-1', 'signed')""")
    conn.execute("""INSERT INTO images (case_id, path, added_at, status, prediction, confidence)
                    VALUES (1, '/old/a.jpg', '2024-01-01', 'ok', 'Pre', 0.9)""")
    conn.execute("""INSERT INTO audit (case_id, at, actor, action) VALUES (1, '2024-01-01', 'x',
                    'create')""")
    conn.close()
    with CaseStore(db) as store:
        found = store.verify_case(1)
        assert found.intact, found.problems
        actions = [e.action for e in store.audit(1)]
        assert "integrity" in actions                  # where coverage began is on record
    raw_sql(db, "UPDATE images SET prediction = 'Pro'")
    with CaseStore(db) as store:
        assert not store.verify_case(1).intact


def test_the_report_of_a_changed_case_carries_a_warning(db, tmp_path):
    pytest.importorskip("reportlab")
    from lab_app.core.report import render_report
    with CaseStore(db) as store:
        case = _signed_case(store)
    raw_sql(db, "UPDATE images SET prediction = 'Early' WHERE path = '/slides/b.jpg'")
    with CaseStore(db) as store:
        case = store.get_case(case.id)
        case.integrity = store.verify_case(case.id)
    text = _pdf_text(render_report(case, image_loader=lambda img: None))
    assert "changed outside the program" in text


def _pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader
    import io
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_labapp_report_names_a_changed_case_and_verify_checks_the_database(db, tmp_path, capsys):
    pytest.importorskip("reportlab")
    from lab_app.report_cli import main as report_main
    with CaseStore(db) as store:
        one, two = _signed_case(store), _signed_case(store)
    assert report_main([str(one.id), "--out", str(tmp_path / "one.pdf"), "--db", str(db)]) == 0
    assert "Audit chain digest" in _pdf_text((tmp_path / "one.pdf").read_bytes())
    assert report_main(["--verify", "--db", str(db)]) == 0
    raw_sql(db, "UPDATE images SET prediction = 'Early' WHERE case_id = ?", two.id)
    capsys.readouterr()
    assert report_main([str(two.id), "--out", str(tmp_path / "two.pdf"), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"Case {two.id} was changed outside the program" in err and "warning box" in err
    assert "changed outside the program" in _pdf_text((tmp_path / "two.pdf").read_bytes())
    assert report_main(["--verify", "--db", str(db)]) == 1
    captured = capsys.readouterr()
    assert f"Case {two.id} was changed" in captured.err and f"Case {one.id} " not in captured.err
    assert "2 cases checked" in captured.out


def test_the_json_export_carries_the_verdict(db, tmp_path):
    import json
    with CaseStore(db) as store:
        case = _signed_case(store)
        doc = json.loads(store.export_json(case.id, tmp_path / "a.json").read_text(encoding="utf-8"))
        assert doc["integrity"]["intact"] is True and len(doc["integrity"]["digest"]) == 64
    raw_sql(db, "UPDATE images SET confidence = 0.99")
    with CaseStore(db) as store:
        doc = json.loads(store.export_json(case.id, tmp_path / "b.json").read_text(encoding="utf-8"))
    assert doc["integrity"]["intact"] is False and doc["integrity"]["problems"]
