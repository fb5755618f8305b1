"""Case store: round trips, audit, review rules, sign-off/amendment, migration, export, crash safety."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lab_app.core.case_models import Patient
from lab_app.core.case_summary import (CALL_INDETERMINATE, CALL_MIXED, CALL_PENDING, case_call,
                                       call_display)
from lab_app.core.cases import CaseStore, DecisionChange, resolve_db_path
from lab_app.core.cases_schema import CURRENT_VERSION, SCHEMA_V1
from lab_app.core.errors import CaseLockedError, CaseStoreError
from lab_app.core.results import FLAG_LOW_CONFIDENCE, FLAG_OUT_OF_SCOPE

from helpers import Clock, raw_sql, result

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(where):
    """The same store tests on both back ends (``where``: tests/fixtures_pg.py)."""
    with CaseStore(where, clock=Clock()) as s:
        yield s


def new_case(store, **kw):
    from lab_app.core.case_models import LabInfo, Patient, Sample
    return store.create_case(
        patient=Patient("P-001", "Σωκράτης Παπαδόπουλος", "1970-02-03", "M"),
        sample=Sample("S-42", "Peripheral blood smear", "2024-04-30", "2024-05-01"),
        technician="Ana Tech", physician="Dr. Фёдор Достоевский",
        lab=LabInfo("City Hematology Lab", "1 Main St\nSpringfield", None), **kw)


# ---------------------------------------------------------------------------- basic round trip
def test_create_and_reopen_round_trip(tmp_path):
    path = tmp_path / "db.sqlite3"
    with CaseStore(path) as s:
        case = new_case(s, results=[result("a.png"), result("b.png", "Pro", 0.7)])
    with CaseStore(path) as s:                      # reopened from disk
        again = s.get_case(case.id)
    assert again.patient.name == "Σωκράτης Παπαδόπουλος" and again.patient.birth_date == "1970-02-03"
    assert again.sample.id == "S-42" and again.sample.received_on == "2024-05-01"
    assert again.physician == "Dr. Фёдор Достоевский" and again.lab.address == "1 Main St\nSpringfield"
    assert [img.result.prediction for img in again.images] == ["Pre", "Pro"]
    img = again.images[0]
    assert img.result.to_row() == result("a.png").to_row()   # every ImageResult field survives
    assert img.width == 640 and img.decision.status == "pending" and img.file_size is None
    assert not again.locked and again.status == "open"


def test_file_size_recorded_when_file_exists(store, tmp_path):
    f = tmp_path / "x.png"
    f.write_bytes(b"0123456789")
    case = new_case(store)
    r = result("x.png")
    r.path = str(f)
    assert store.add_result(case.id, r).file_size == 10


def test_unknown_case_and_bad_fields(store):
    with pytest.raises(CaseStoreError, match="no case 99"):
        store.get_case(99)
    case = new_case(store)
    with pytest.raises(CaseStoreError, match="cannot be edited: colour"):
        store.update_case(case.id, "Ana", colour="red")
    with pytest.raises(CaseStoreError, match="YYYY-MM-DD"):
        store.update_case(case.id, "Ana", collected_on="30/04/2024")
    with pytest.raises(CaseStoreError, match="Enter your name"):
        store.update_case(case.id, " ", patient_name="X")


def test_text_that_would_print_reversed_or_disguised_is_refused(store):
    """A right-to-left override makes "\u202eevil" print as "live" on the report."""
    with pytest.raises(CaseStoreError, match=r"patient name .*U\+202E"):
        store.create_case(patient=Patient(id="P1", name="\u202eevil"))
    case = new_case(store)
    with pytest.raises(CaseStoreError, match=r"physician .*U\+2067"):
        store.update_case(case.id, "Ana", physician="Dr \u2067X\u2069")
    # Persian and Arabic names keep their direction marks and zero-width non-joiners.
    store.update_case(case.id, "Ana", patient_name="\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627\u200f")
    assert store.get_case(case.id).patient.name.endswith("\u200f")


def test_update_is_audited_per_field(store):
    case = new_case(store)
    store.update_case(case.id, "Ana", patient_name="Σωκράτης Π.", sample_id="S-43", physician=case.physician)
    entries = [e for e in store.audit(case.id) if e.action == "update"]
    assert [(e.field, e.old, e.new, e.actor) for e in entries] == [
        ("patient_name", "Σωκράτης Παπαδόπουλος", "Σωκράτης Π.", "Ana"),
        ("sample_id", "S-42", "S-43", "Ana")]                   # unchanged physician: no entry
    assert all(e.at.endswith("+00:00") for e in entries)
    assert store.get_case(case.id).sample.id == "S-43"


def test_db_file_is_private_and_wal(tmp_path):
    path = tmp_path / "sub" / "cases.sqlite3"
    with CaseStore(path) as s:
        new_case(s, results=[result("a.png")])
        mode = s._conn().execute("PRAGMA journal_mode").fetchone()[0]
        fk = s._conn().execute("PRAGMA foreign_keys").fetchone()[0]
        if os.name == "posix":
            for f in path.parent.iterdir():
                if f.name.startswith("cases.sqlite3"):
                    assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert mode == "wal" and fk == 1


def test_data_dir_env_and_folder_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("LABAPP_DATA_DIR", str(tmp_path / "data"))
    assert resolve_db_path() == tmp_path / "data" / "cases.sqlite3"
    assert resolve_db_path(tmp_path) == tmp_path / "cases.sqlite3"        # existing folder
    with CaseStore() as s:
        new_case(s)
    assert (tmp_path / "data" / "cases.sqlite3").exists()


# --------------------------------------------------------------------------------- decisions
def test_decisions_and_audit(store):
    case = new_case(store, results=[result("a.png"), result("b.png", "Pro")])
    a, b = case.images
    store.set_decision(case.id, a.id, "Ana", "accepted")
    got = store.set_decision(case.id, b.id, "Ana", "overridden", "Early", "blast morphology")
    assert got.decision.status == "overridden" and got.final_class == "Early"
    assert got.decision.actor == "Ana" and got.decision.at
    log = [e for e in store.audit(case.id) if e.field == "decision"]
    assert [(e.image_id, e.old, e.new) for e in log] == [
        (a.id, "pending", "accepted"), (b.id, "pending", "overridden to Early: blast morphology")]
    assert log[1].reason == "blast morphology"
    # Repeating the same decision writes nothing.
    store.set_decision(case.id, a.id, "Ana", "accepted")
    assert len([e for e in store.audit(case.id) if e.field == "decision"]) == 2


@pytest.mark.parametrize("kwargs, words", [
    (dict(decision="overridden", override_class="Pro", reason=""), "needs a reason"),
    (dict(decision="overridden", override_class="Blast", reason="x"), "Choose the subtype"),
    (dict(decision="overridden", override_class="Pre", reason="x"), "accept the call instead"),
    (dict(decision="accepted", override_class="Pro"), "cannot have an override"),
    (dict(decision="maybe"), "Unknown decision"),
])
def test_invalid_decisions(store, kwargs, words):
    case = new_case(store, results=[result("a.png")])
    with pytest.raises(CaseStoreError, match=words):
        store.set_decision(case.id, case.images[0].id, "Ana", **kwargs)
    assert store.get_case(case.id).images[0].decision.status == "pending"


def test_failed_and_out_of_scope_images(store):
    case = new_case(store, results=[
        result("bad.tif", None, status="error", error="not an image", sha=None),
        result("oos.png", "Benign", 0.4, flags=[FLAG_OUT_OF_SCOPE])])
    bad, oos = case.images
    with pytest.raises(CaseStoreError, match="could not be analysed"):
        store.set_decision(case.id, bad.id, "Ana", "accepted")
    with pytest.raises(CaseStoreError, match="out of scope"):
        store.set_decision(case.id, oos.id, "Ana", "accepted")
    s = store.summary(case.id)
    assert s.failed == (bad.id,) and s.out_of_scope == (oos.id,) and s.total == 2
    assert s.call.call == CALL_PENDING
    # A human override brings an out-of-scope image into the count.
    store.set_decision(case.id, oos.id, "Ana", "overridden", "Benign", "clearly hematogones")
    assert store.summary(case.id).call.counts["Benign"] == 1


def test_reanalysis_replaces_result_and_resets_stale_accept(store):
    case = new_case(store, results=[result("a.png", "Pre"), result("b.png", "Pro"), result("c.png", "Early")])
    a, b, c = case.images
    store.set_decision(case.id, a.id, "Ana", "accepted")
    store.set_decision(case.id, b.id, "Ana", "overridden", "Early", "morphology")
    store.set_decision(case.id, c.id, "Ana", "accepted")
    # a: prediction changes -> accepted reset; b: override kept; c: same prediction -> kept.
    store.add_result(case.id, result("a.png", "Pro", 0.8))
    store.add_result(case.id, result("b.png", "Benign", 0.8))
    moved = result("c.png", "Early", 0.95)
    moved.path = "/elsewhere/c-copy.png"                      # same content, new path
    store.add_result(case.id, moved)
    got = store.get_case(case.id)
    assert len(got.images) == 3
    ga, gb, gc = got.images
    assert ga.result.prediction == "Pro" and ga.decision.status == "pending"
    assert gb.result.prediction == "Benign" and gb.decision.status == "overridden"
    assert gc.decision.status == "accepted" and gc.path == "/elsewhere/c-copy.png"
    log = store.audit(case.id)
    assert [e.image_id for e in log if e.action == "reanalyse"] == [a.id, b.id, c.id]
    reset = [e for e in log if e.field == "decision" and e.new == "pending"]
    assert len(reset) == 1 and reset[0].image_id == a.id and "no longer supports" in reset[0].reason


# ------------------------------------------------------------------------ sign-off & amendment
def test_sign_off_requires_reviews_and_locks(store):
    case = new_case(store, results=[result("a.png"), result("b.png")])
    with pytest.raises(CaseStoreError, match="2 image\\(s\\) still need a decision"):
        store.sign_off(case.id, "Ana Tech")
    for img in case.images:
        store.set_decision(case.id, img.id, "Ana", "accepted")
    with pytest.raises(CaseStoreError, match="requires a reviewer"):
        store.sign_off(case.id, "Ana Tech", require_reviewer=True)
    with pytest.raises(CaseStoreError, match="different person"):
        store.sign_off(case.id, "Ana Tech", "ana tech", require_reviewer=True)
    signed = store.sign_off(case.id, "Ana Tech", "Dr. Rev", require_reviewer=True)
    assert signed.locked and signed.status == "signed" and signed.signed_by == "Ana Tech"
    assert signed.reviewer_signed_by == "Dr. Rev" and signed.reviewer == "Dr. Rev" and signed.signed_at
    with pytest.raises(CaseLockedError):
        store.update_case(case.id, "Ana", patient_name="X")
    with pytest.raises(CaseLockedError):
        store.add_result(case.id, result("c.png"))
    with pytest.raises(CaseLockedError):
        store.set_decision(case.id, case.images[0].id, "Ana", "pending")
    with pytest.raises(CaseLockedError):
        store.sign_off(case.id, "Ana Tech")
    assert [e.field for e in store.audit(case.id) if e.action == "sign_off"] == ["technician", "reviewer"]


def test_sign_off_fills_missing_technician_and_allows_empty_case_of_failures(store):
    case = store.create_case(technician="", actor="batch",
                             results=[result("bad.png", None, status="error", error="unreadable", sha=None)])
    signed = store.sign_off(case.id, "Bo Tech")                # nothing reviewable is pending
    assert signed.technician == "Bo Tech" and signed.signed_by == "Bo Tech"
    assert store.summary(case.id).call.call == CALL_PENDING


def test_amendment(store):
    case = new_case(store, results=[result("a.png"), result("b.png")])
    a, b = case.images
    with pytest.raises(CaseStoreError, match="not signed off"):
        store.amend(case.id, "Ana", "typo", fields={"patient_name": "X"})
    for img in case.images:
        store.set_decision(case.id, img.id, "Ana", "accepted")
    store.sign_off(case.id, "Ana Tech")
    with pytest.raises(CaseStoreError, match="needs a reason"):
        store.amend(case.id, "Ana", "  ", fields={"patient_name": "X"})
    with pytest.raises(CaseStoreError, match="changes nothing"):
        store.amend(case.id, "Ana", "no-op", fields={"sample_id": "S-42"})
    # A failing part rolls the whole amendment back.
    with pytest.raises(CaseStoreError):
        store.amend(case.id, "Ana", "bad", fields={"patient_name": "Y"},
                    decisions=[DecisionChange(b.id, "overridden", "Pro", "")])
    assert store.get_case(case.id).patient.name == "Σωκράτης Παπαδόπουλος"
    amended = store.amend(case.id, "Dr. Rev", "Name misspelt; second look at image b",
                          fields={"patient_name": "Sokratis Papadopoulos"},
                          decisions=[DecisionChange(b.id, "overridden", "Pro", "vacuolated blasts")])
    assert amended.status == "amended" and amended.locked and amended.amended
    assert amended.patient.name == "Sokratis Papadopoulos"
    assert amended.image(b.id).final_class == "Pro"
    (am,) = amended.amendments
    assert am.actor == "Dr. Rev" and am.reason.startswith("Name misspelt")
    assert "patient_name" in am.changes and "overridden to Pro" in am.changes
    entries = [e for e in store.audit(case.id) if e.action == "amend"]
    assert {e.field for e in entries} == {"patient_name", "decision"}
    assert all(e.reason == "Name misspelt; second look at image b" for e in entries)
    with pytest.raises(CaseLockedError):
        store.update_case(case.id, "Ana", patient_name="Z")


def test_audit_covers_every_change(store):
    case = new_case(store, results=[result("a.png")])
    img = case.images[0]
    store.update_case(case.id, "Ana", patient_sex="F")
    store.add_result(case.id, result("b.png"))
    store.add_result(case.id, result("a.png", "Pre", 0.95))
    store.set_decision(case.id, img.id, "Ana", "accepted")
    case = store.get_case(case.id)
    store.set_decision(case.id, case.images[1].id, "Ana", "accepted")
    store.sign_off(case.id, "Ana Tech")
    store.amend(case.id, "Ana", "fix", fields={"patient_sex": "M"})
    actions = [e.action for e in store.audit(case.id)]
    assert actions == ["create", "add_image", "update", "add_image", "reanalyse", "decision",
                       "decision", "sign_off", "amend"]


# ------------------------------------------------------------------------- summary (pure rule)
@pytest.mark.parametrize("calls, expected, top", [
    ([], CALL_PENDING, ()),
    (["Pre", "Pre"], CALL_INDETERMINATE, ("Pre",)),
    (["Pre", "Pre", "Pro"], "Pre", ("Pre",)),
    (["Pre", "Pre", "Pro", "Pro"], CALL_MIXED, ("Pre", "Pro")),            # 50% is no majority
    (["Pro", "Pre", "Pre", "Pro", "Early", "Pro"], CALL_MIXED, ("Pro", "Pre")),
    (["Pre", "Pre", "Pre", "Pro", "Pro", "Early", "Benign"], CALL_MIXED, ("Pre", "Pro")),
    (["Benign"] * 5, "Benign", ("Benign",)),
])
def test_case_call_rule(calls, expected, top):
    c = case_call(calls)
    assert c.call == expected and c.top_classes == top and c.reviewed == len(calls)
    assert sum(c.counts.values()) == len(calls) and set(c.counts) == {"Benign", "Early", "Pre", "Pro"}


def test_case_call_threshold_and_unknown():
    assert case_call(["Pre"], min_reviewed=1).call == "Pre"
    with pytest.raises(ValueError, match=r"^Unknown class id\(s\) in reviewed calls: Blast, X\.$"):
        case_call(["Pre", "X", "Blast"])


def test_every_call_has_its_label():
    """The words the window and the report print for each call."""
    assert [call_display(c) for c in ("Benign", "Early", "Pre", "Pro")] == \
        ["Benign (hematogones)", "Early Pre-B ALL", "Pre-B ALL", "Pro-B ALL"]
    assert call_display(CALL_PENDING) == "Pending review"
    assert call_display(CALL_MIXED) == "Mixed (no subtype has a majority)"
    assert call_display(CALL_INDETERMINATE) == "Indeterminate (fewer than 3 reviewed images)"
    assert call_display(CALL_INDETERMINATE, min_reviewed=5) == \
        "Indeterminate (fewer than 5 reviewed images)"


def test_summary_uses_its_minimum_of_reviewed_images(store):
    from lab_app.core.case_summary import summarize
    case = new_case(store, results=[result("a.png", "Pre"), result("b.png", "Pre"),
                                    result("c.png", "Pro", flags=[FLAG_OUT_OF_SCOPE])])
    for img in case.images[:2]:
        store.set_decision(case.id, img.id, "Ana", "accepted")
    images = store.get_case(case.id).images
    assert summarize(images).call.call == CALL_INDETERMINATE          # 2 < 3
    s = summarize(images, min_reviewed=2)
    assert s.call.call == "Pre" and s.label == "Pre-B ALL" and "fewer than 2" in s.rule
    assert summarize(images, min_reviewed=5).label == \
        "Indeterminate (fewer than 5 reviewed images)"
    assert s.to_dict() == {
        "call": "Pre", "label": "Pre-B ALL", "counts": {"Benign": 0, "Early": 0, "Pre": 2, "Pro": 0},
        "reviewed": 2, "top_classes": ["Pre"], "total": 3, "pending": 0, "failed": [],
        "out_of_scope": [images[2].id], "rule": s.rule}


def test_summary_counts_reviewed_in_scope_only(store):
    case = new_case(store, results=[result("a.png", "Pre"), result("b.png", "Pre"), result("c.png", "Pro"),
                                    result("d.png", "Pre"), result("e.png", None, status="error", sha=None)])
    a, b, c, d, e = case.images
    store.set_decision(case.id, a.id, "Ana", "accepted")
    store.set_decision(case.id, b.id, "Ana", "accepted")
    store.set_decision(case.id, c.id, "Ana", "overridden", "Pre", "looks Pre-B")
    s = store.summary(case.id)
    assert s.call.call == "Pre" and s.call.counts["Pre"] == 3 and s.call.reviewed == 3
    assert s.pending == 1 and s.failed == (e.id,) and s.total == 5
    assert s.label == "Pre-B ALL" and "strict majority" in s.rule


# ------------------------------------------------------------------------------- list & search
def test_list_and_search(store):
    from lab_app.core.case_models import Patient, Sample
    store.create_case(patient=Patient("P-ABC-1", "Ömer Çelik"), sample=Sample("SMP-9"), technician="T")
    store.create_case(patient=Patient("q-777", "Фёдор Достоевский"), sample=Sample("X-abc"), technician="T")
    store.create_case(patient=Patient("Z-1", "محمد رضایی"), sample=Sample("Y-2"), technician="T")
    assert [c.patient_id for c in store.list_cases()] == ["Z-1", "q-777", "P-ABC-1"]
    assert {c.patient_id for c in store.search("abc")} == {"P-ABC-1", "q-777"}   # patient or sample
    assert [c.patient_id for c in store.search("Q-7")] == ["q-777"]
    assert [c.patient_id for c in store.search("фёдор")] == ["q-777"]             # non-ASCII case
    assert [c.patient_id for c in store.search("رضایی")] == ["Z-1"]
    assert store.search("nothing-like-this") == []
    assert len(store.search("  ")) == 3
    assert store.list_cases()[0].image_count == 0


# ------------------------------------------------------------------------------------ export
def test_export_json_and_csv(store, tmp_path):
    case = new_case(store, results=[result("a.png"), result("=cmd.png", "Pro")])
    store.set_decision(case.id, case.images[1].id, "Ana", "overridden", "Early", "reason, with comma")
    jpath = store.export_json(case.id, tmp_path / "case.json")
    doc = json.loads(jpath.read_text(encoding="utf-8"))
    assert doc["case"]["patient"]["name"] == "Σωκράτης Παπαδόπουλος"
    assert doc["summary"]["call"] == CALL_INDETERMINATE and len(doc["audit"]) >= 3
    assert doc["case"]["images"][1]["decision"]["override_class"] == "Early"
    cpath = store.export_csv(case.id, tmp_path / "case.csv")
    with open(cpath, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and rows[0]["patient_name"] == "Σωκράτης Παπαδόπουλος"
    assert rows[1]["decision_reason"] == "reason, with comma" and rows[1]["final_class"] == "Early"
    assert rows[1]["path"] == "/slides/=cmd.png" and rows[0]["p_Pre"] == "0.9"
    with pytest.raises(CaseStoreError, match="already exists"):
        store.export_csv(case.id, cpath)
    store.export_csv(case.id, cpath, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("case.")) == ["case.csv", "case.json"]


def test_csv_neutralises_formulas(store, tmp_path):
    from lab_app.core.case_models import Patient
    case = store.create_case(patient=Patient("=HYPERLINK(1)", "+Name"), technician="T")
    with open(store.export_csv(case.id, tmp_path / "c.csv"), encoding="utf-8-sig") as fh:
        text = fh.read()
    # No image rows: only the header, so add one to get a data row.
    store.add_result(case.id, result("a.png"))
    with open(store.export_csv(case.id, tmp_path / "c.csv", overwrite=True), encoding="utf-8-sig") as fh:
        row = next(csv.DictReader(fh))
    assert text.startswith("case_id,") and row["patient_id"] == "'=HYPERLINK(1)" and row["patient_name"] == "'+Name"


# ---------------------------------------------------------------------------------- migration
def test_migrates_v1_database_with_data_intact(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for statement in SCHEMA_V1:
        conn.execute(statement)
    conn.execute("""INSERT INTO cases (created_at, updated_at, patient_id, patient_name, sample_id,
                    technician, status, signed_by, signed_at)
                    VALUES ('2023-01-01T00:00:00+00:00', '2023-01-01T00:00:00+00:00', 'P-OLD',
                    'Old Patient', 'S-OLD', 'Tech', 'signed', 'Tech', '2023-01-02T00:00:00+00:00')""")
    conn.execute("""INSERT INTO images (case_id, path, sha256, added_at, status, prediction, confidence,
                    probabilities, flags, decision) VALUES (1, '/old/a.png', 'ff', '2023-01-01', 'ok', 'Pro',
                    0.8, '{"Pro": 0.8}', '["low_confidence"]', 'accepted')""")
    conn.execute("INSERT INTO audit (case_id, at, actor, action) VALUES (1, '2023-01-01', 'Tech', 'create')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with CaseStore(path) as s:
        version = s._conn().execute("PRAGMA user_version").fetchone()[0]
        case = s.get_case(1)
        assert [c.patient_id for c in s.search("p-old")] == ["P-OLD"]
        assert s.audit(1)[0].action == "create"
        amended = s.amend(1, "Tech", "spelling", fields={"patient_name": "Old Patient Jr"})
        tables = {r[0] for r in s._conn().execute("SELECT name FROM sqlite_master")}
    assert version == CURRENT_VERSION == 7
    assert {"amendments", "cases_patient", "cases_sample", "users"} <= tables
    assert case.patient.name == "Old Patient" and case.status == "signed" and case.reviewer == ""
    assert case.images[0].result.flags == [FLAG_LOW_CONFIDENCE] and case.images[0].final_class == "Pro"
    assert case.images[0].result.acquisition == {}   # measured by models from 2.3.0 on
    assert amended.status == "amended" and len(amended.amendments) == 1
    assert (tmp_path / "old.sqlite3.schema-v1.bak").exists()            # pre-migration copy kept


def test_refuses_newer_schema_and_foreign_db(tmp_path):
    newer = tmp_path / "newer.sqlite3"
    with CaseStore(newer):
        pass
    raw_sql(newer, "PRAGMA user_version = 99")
    with pytest.raises(CaseStoreError, match="newer version"):
        CaseStore(newer)
    foreign = tmp_path / "foreign.sqlite3"
    raw_sql(foreign, "CREATE TABLE t (x)")
    with pytest.raises(CaseStoreError, match="not a case database"):
        CaseStore(foreign)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CaseStoreError, match="cannot be opened"):
        CaseStore(junk)


# ------------------------------------------------------------------------ threads & crash safety
def test_worker_thread_and_gui_thread(store):
    case = new_case(store)
    errors = []

    def worker():
        try:
            for i in range(20):
                store.add_result(case.id, result(f"w{i}.png"))
        except Exception as exc:  # surfaced to the test thread below
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    for i in range(20):
        store.update_case(case.id, "Ana", physician=f"Dr {i}")
        store.get_case(case.id)
    t.join()
    assert not errors
    assert len(store.get_case(case.id).images) == 20


WRITER = textwrap.dedent("""
    import sys
    from lab_app.core.cases import CaseStore
    from lab_app.core.case_models import Patient, Sample
    from lab_app.core.results import ImageResult
    store = CaseStore(sys.argv[1])
    i = 0
    while True:
        results = [ImageResult(path=f"/s/{i}-{k}.png", prediction="Pre", confidence=0.9,
                               probabilities={"Pre": 0.9}, sha256=f"{i:032x}{k:032x}", cells=3,
                               model={"name": "m", "version": "1", "sha256": "0" * 64})
                   for k in range(6)]
        store.create_case(patient=Patient(f"P{i}", "x" * 500), sample=Sample(f"S{i}"),
                          technician="T", results=results)
        i += 1
        if i == 3:
            print("ready", flush=True)
""")


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_killed_writer_leaves_database_consistent(tmp_path):
    db = tmp_path / "crash.sqlite3"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.4)                                   # let it get well into later transactions
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    counts = conn.execute("SELECT c.id, count(i.id) FROM cases c LEFT JOIN images i ON i.case_id = c.id "
                          "GROUP BY c.id").fetchall()
    audits = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    conn.close()
    assert len(counts) >= 3
    assert all(n == 6 for _, n in counts), counts       # no partial case
    assert audits == 7 * len(counts)                     # create + 6 add_image per case
    with CaseStore(db) as s:                             # the app reopens it normally
        assert len(s.list_cases()) == len(counts)


# ---------------------------------------- sign-off, amendment and audit: exact stored values
def _decided(store, n=2, **kw):
    case = new_case(store, results=[result(f"{chr(97 + i)}.png") for i in range(n)], **kw)
    for img in case.images:
        store.set_decision(case.id, img.id, "Ana", "accepted")
    return store.get_case(case.id)


def test_sign_off_stores_who_and_when_and_audits_both_names(store):
    alone = store.sign_off(_decided(store).id, "Ana Tech")
    assert alone.signed_by == "Ana Tech" and alone.signed_at
    assert alone.reviewer_signed_by is None and alone.reviewer_signed_at is None
    both = store.sign_off(_decided(store).id, " Ana Tech ", " Dr. Rev ")
    assert (both.signed_by, both.reviewer_signed_by) == ("Ana Tech", "Dr. Rev")
    assert both.reviewer_signed_at == both.signed_at == both.updated_at
    log = [(e.actor, e.field, e.new) for e in store.audit(both.id) if e.action == "sign_off"]
    assert log == [("Ana Tech", "technician", "Ana Tech"), ("Dr. Rev", "reviewer", "Dr. Rev")]


@pytest.mark.parametrize("technician", ["", "   ", None])
def test_sign_off_without_a_technician_is_refused(store, technician):
    case = _decided(store)
    with pytest.raises(CaseStoreError, match=r"^Sign-off needs the technician's name\.$"):
        store.sign_off(case.id, technician)
    assert store.get_case(case.id).status == "open"


def test_sign_off_messages_say_what_to_do(store):
    case = new_case(store, results=[result(f"f{i}.png") for i in range(5)])
    with pytest.raises(CaseStoreError, match=r"^5 image\(s\) still need a decision before "
                                             r"sign-off: f0\.png, f1\.png, f2\.png and 2 more\.$"):
        store.sign_off(case.id, "Ana Tech")
    for img in case.images[:2]:
        store.set_decision(case.id, img.id, "Ana", "accepted")
    with pytest.raises(CaseStoreError, match=r": f2\.png, f3\.png, f4\.png\.$"):
        store.sign_off(case.id, "Ana Tech")
    for img in case.images[2:]:
        store.set_decision(case.id, img.id, "Ana", "accepted")
    with pytest.raises(CaseStoreError, match=r"^This lab requires a reviewer to sign off as well; "
                                             r"enter the reviewer's name\.$"):
        store.sign_off(case.id, "Ana Tech", require_reviewer=True)
    with pytest.raises(CaseStoreError, match=r"^The reviewer must be a different person from "
                                             r"the technician\.$"):
        store.sign_off(case.id, "Ana Tech", "ANA TECH")
    store.sign_off(case.id, "Ana Tech")
    with pytest.raises(CaseLockedError, match=rf"^Case {case.id} is already signed off; use an "
                                              r"amendment to change it\.$"):
        store.sign_off(case.id, "Ana Tech")
    with pytest.raises(CaseLockedError, match=rf"^Case {case.id} is signed off and locked; changes "
                                              r"must be made as an amendment with a reason\.$"):
        store.set_decision(case.id, case.images[0].id, "Ana", "pending")


def test_decision_reasons_are_stored_trimmed_and_the_case_touched(store):
    case = new_case(store, results=[result("a.png"), result("b.png", "Pro")])
    a, b = case.images
    before = store.get_case(case.id).updated_at
    assert store.set_decision(case.id, a.id, "Ana", "accepted").decision.reason is None
    assert store.get_case(case.id).updated_at > before
    got = store.set_decision(case.id, b.id, "Ana", "accepted", reason="  typical blasts  ")
    assert got.decision.reason == "typical blasts"
    store.set_decision(case.id, b.id, "Ana", "overridden", "Early", "second look")
    store.set_decision(case.id, b.id, "Ana", "pending")
    log = [(e.old, e.new) for e in store.audit(case.id) if e.field == "decision" and e.image_id == b.id]
    assert log == [("pending", "accepted"), ("accepted", "overridden to Early: second look"),
                   ("overridden to Early: second look", "pending")]


@pytest.mark.parametrize("kwargs, message", [
    (dict(decision="overridden", override_class="Pro", reason=""), r"^An override needs a reason\.$"),
    (dict(decision="overridden", override_class="Pre", reason="x"),
     r"^The override equals the predicted subtype; accept the call instead\.$"),
    (dict(decision="accepted", override_class="Pro"),
     r"^An accepted call cannot have an override class; choose override\.$"),
])
def test_decision_messages_say_what_to_do(store, kwargs, message):
    case = new_case(store, results=[result("a.png")])
    with pytest.raises(CaseStoreError, match=message):
        store.set_decision(case.id, case.images[0].id, "Ana", **kwargs)


def test_messages_for_images_without_a_call(store):
    case = new_case(store, results=[
        result("bad.tif", None, status="error", error="not an image", sha=None),
        result("oos.png", "Benign", 0.4, flags=[FLAG_OUT_OF_SCOPE]), result("none.png", None)])
    bad, oos, none = case.images
    with pytest.raises(CaseStoreError, match=r"^This image could not be analysed, so there is no "
                                             r"call to review\.$"):
        store.set_decision(case.id, bad.id, "Ana", "accepted")
    with pytest.raises(CaseStoreError, match=r"^This image is flagged out of scope; accepting it "
                                             r"is not possible, override it with the subtype you "
                                             r"see or leave it pending\.$"):
        store.set_decision(case.id, oos.id, "Ana", "accepted")
    with pytest.raises(CaseStoreError, match=r"^This image has no predicted subtype to accept; "
                                             r"override it instead\.$"):
        store.set_decision(case.id, none.id, "Ana", "accepted")
    # Overriding an out-of-scope image to its own (unusable) prediction is a real decision.
    got = store.set_decision(case.id, oos.id, "Ana", "overridden", "Benign", "seen by eye")
    assert got.final_class == "Benign"


@pytest.mark.parametrize("reason", ["", "  ", None])
def test_an_amendment_without_a_reason_is_refused(store, reason):
    case = store.sign_off(_decided(store).id, "Ana Tech")
    with pytest.raises(CaseStoreError, match=r"^An amendment needs a reason\.$"):
        store.amend(case.id, "Ana", reason, fields={"patient_name": "X"})
    assert store.get_case(case.id).status == "signed"


def test_amending_with_a_new_result_is_stored_and_audited_with_the_reason(store):
    case = store.sign_off(_decided(store).id, "Ana Tech")
    a = case.images[0]
    with pytest.raises(CaseStoreError, match=r"^The amendment changes nothing\.$"):
        store.amend(case.id, "Ana", "no-op", fields={"sample_id": "S-42"})
    with pytest.raises(CaseStoreError, match=r"instead of amending it\.$"):
        store.amend(new_case(store).id, "Ana", "open case", fields={"patient_name": "X"})
    again = result("a.png", "Pro", 0.97)
    again.cells = 31
    amended = store.amend(case.id, "Dr. Rev", "re-imaged at 100x", fields={"patient_sex": "F"},
                          results=[again])
    got = amended.image(a.id)
    assert (got.result.prediction, got.result.cells) == ("Pro", 31)
    assert got.decision.status == "pending"         # the accepted call no longer holds
    (am,) = amended.amendments
    assert am.reason == "re-imaged at 100x" and am.actor == "Dr. Rev"
    assert am.changes.split("; ") == [
        "patient_sex: M -> F",
        f"image {a.id} (a.png) re-analysed: Pre 90.0% (model mobilenetv2-all 1.0.0) -> "
        "Pro 97.0% (model mobilenetv2-all 1.0.0)",
        f"image {a.id} decision reset to pending (re-analysis no longer supports the accepted call)"]
    entries = [(e.actor, e.field, e.image_id, e.old, e.new, e.reason)
               for e in store.audit(case.id) if e.action == "amend"]
    assert entries == [
        ("Dr. Rev", "patient_sex", None, "M", "F", "re-imaged at 100x"),
        ("Dr. Rev", "result", a.id, "Pre 90.0% (model mobilenetv2-all 1.0.0)",
         "Pro 97.0% (model mobilenetv2-all 1.0.0)", "re-imaged at 100x"),
        ("Dr. Rev", "decision", a.id, "accepted", "pending",
         "re-imaged at 100x (re-analysis no longer supports the accepted call)")]
