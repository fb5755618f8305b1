"""Several workstations on one case store (issue 20): no lost update, the sign-off lock held by the
database, writers in several processes keeping every audit chain whole; SQLite and PostgreSQL
(tests/fixtures_pg.py starts a throwaway server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from lab_app.core.case_models import LabInfo, Patient, Sample
from lab_app.core.cases import CaseStore, check_db_location
from lab_app.core.errors import CaseConflictError, CaseLockedError, CaseStoreError
from lab_app.core.session import CaseSession

from helpers import result

REPO = Path(__file__).resolve().parents[2]


def new_case(store: CaseStore, n: int = 2):
    return store.create_case(patient=Patient("P-1", "Ana Example"), sample=Sample("S-1"),
                             technician="Ana Tech", lab=LabInfo("Lab"),
                             results=[result(f"{i}.jpg") for i in range(n)])


# ------------------------------------------------------------------------------ the location
def test_postgresql_urls_are_accepted_and_other_urls_refused():
    check_db_location("postgresql://lab@db.example:5432/cases")
    check_db_location("postgres://lab@db.example/cases")
    with pytest.raises(CaseStoreError, match="not a mysql URL") as refused:
        check_db_location("mysql://host/db")
    assert "postgresql://user@host:port/dbname" in str(refused.value)   # says what does work
    with pytest.raises(CaseStoreError, match="as a URL, postgresql://user@host:port/dbname"):
        check_db_location(Path("postgresql://host/db"))        # a Path lost the '//'


def test_an_unreachable_server_is_one_sentence_without_the_password():
    with pytest.raises(CaseStoreError) as err:
        CaseStore("postgresql://lab:s3cret@127.0.0.1:1/cases", busy_timeout_s=2)
    text = str(err.value)
    assert "cannot be reached" in text and "ask the lab's IT" in text
    assert "s3cret" not in text and "lab:***@127.0.0.1:1/cases" in text


def test_a_database_of_something_else_is_refused(pg_url):
    import psycopg
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(CaseStoreError, match="not a case database of this software"):
        CaseStore(pg_url)


# --------------------------------------------------------------------------- no lost update
def test_an_edit_on_a_stale_case_is_refused_not_lost(where):
    with CaseStore(where) as a, CaseStore(where) as b:
        case = new_case(a)
        seen_by_a = a.get_case(case.id)
        b.update_case(case.id, "Bea Tech", expected_version=b.get_case(case.id).version,
                      patient_name="Ana Exemple")
        with pytest.raises(CaseConflictError) as err:
            a.update_case(case.id, "Ana Tech", expected_version=seen_by_a.version,
                          patient_name="Ana Example-Smith")
        assert "changed at another workstation since you opened it (last by Bea Tech" in str(err.value)
        assert "your change was not saved. Open the case again" in str(err.value)
        again = a.get_case(case.id)
        assert again.patient.name == "Ana Exemple" and again.version == seen_by_a.version + 1
        # decisions and sign-off check it too
        with pytest.raises(CaseConflictError):
            a.set_decision(case.id, case.images[0].id, "Ana Tech", "accepted",
                           expected_version=seen_by_a.version)
        with pytest.raises(CaseConflictError):
            a.sign_off(case.id, "Ana Tech", expected_version=seen_by_a.version)
        assert a.verify_case(case.id).intact


def test_the_window_session_refuses_a_stale_edit_and_follows_its_own(where):
    with CaseStore(where) as a, CaseStore(where) as b:
        case = new_case(a)
        session = CaseSession(a)
        session.open_case(case.id)
        row = session.rows[0]
        session.decide(row, "Ana Tech", "accepted")          # own changes move its version on
        session.update_field("physician", "Dr. Who", "Ana Tech")
        assert session.case.version == a.get_case(case.id).version
        b.update_case(case.id, "Bea Tech", expected_version=b.get_case(case.id).version,
                      sample_id="S-2")
        with pytest.raises(CaseConflictError):
            session.decide(session.rows[1], "Ana Tech", "accepted")
        assert a.get_case(case.id).images[1].decision.status == "pending"


# ---------------------------------------------------------------------- the sign-off lock
def test_two_workstations_signing_at_once_sign_once(where):
    with CaseStore(where) as setup:
        case = new_case(setup)
        for img in case.images:
            setup.set_decision(case.id, img.id, "Ana Tech", "accepted")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def sign(who: str) -> None:
        with CaseStore(where) as store:
            store.get_case(case.id)
            barrier.wait()
            try:
                store.sign_off(case.id, who)
                outcomes.append("signed")
            except CaseLockedError as exc:
                outcomes.append(str(exc))

    threads = [threading.Thread(target=sign, args=(who,)) for who in ("Ana Tech", "Bea Tech")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes)[-1] == "signed" and outcomes.count("signed") == 1, outcomes
    assert "already signed off" in sorted(outcomes)[0]
    with CaseStore(where) as store:
        assert [e.action for e in store.audit(case.id)].count("sign_off") == 1
        assert store.verify_case(case.id).intact
        with pytest.raises(CaseLockedError):
            store.set_decision(case.id, case.images[0].id, "Bea Tech", "pending")


def test_a_sign_off_update_only_changes_an_open_case(where):
    """The database checks the lock: the sign-off UPDATE names status 'open' and the version."""
    with CaseStore(where) as store:
        case = new_case(store, 1)
        store.set_decision(case.id, case.images[0].id, "Ana Tech", "accepted")
        signed = store.sign_off(case.id, "Ana Tech")
        c = store._conn()
        cur = c.execute("UPDATE cases SET signed_by = 'x' WHERE id = ? AND status = 'open'",
                        (case.id,))
        assert cur.rowcount == 0 and signed.locked


# ------------------------------------------------------------- writers in several processes
WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from helpers import result
    from lab_app.core.cases import CaseStore
    where, case_id, tag, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    with CaseStore(where, busy_timeout_s=30) as store:
        for i in range(n):
            store.add_result(case_id, result(f"{{tag}}-{{i}}.jpg"), actor=f"workstation {{tag}}")
        own = store.create_case(technician=f"Tech {{tag}}",
                                results=[result(f"{{tag}}-own-{{i}}.jpg") for i in range(n)])
        print(own.id)
""")


def test_writers_in_two_processes_store_everything_and_keep_the_chains(where, tmp_path):
    with CaseStore(where) as store:
        shared = new_case(store, 0)
    script = WRITER.format(tests=str(REPO / "tests"))
    n = 12
    procs = [subprocess.Popen([sys.executable, "-c", script, where, str(shared.id), tag, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
             for tag in ("a", "b")]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    with CaseStore(where) as store:
        case = store.get_case(shared.id)
        assert len(case.images) == 2 * n
        assert {Path(i.path).name.split("-")[0] for i in case.images} == {"a", "b"}
        own = [store.get_case(int(o[0].strip())) for o in outs]
        assert [len(c.images) for c in own] == [n, n]
        found = store.verify_all()
        assert len(found) == 3 and all(f.intact for f in found), [f.problems for f in found]


def test_two_processes_migrate_a_new_postgresql_database_once(pg_url):
    script = ("import sys; from lab_app.core.cases import CaseStore; "
              "s = CaseStore(sys.argv[1]); print(s.dialect.schema_version(s._conn())); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    from lab_app.core.cases_schema import CURRENT_VERSION
    assert [o[0].strip() for o in outs] == [str(CURRENT_VERSION)] * 4, [o[1] for o in outs]


# -------------------------------------------------------------------- the chain on a server
def test_a_change_made_outside_the_program_is_found_on_postgresql(pg_url):
    import psycopg
    with CaseStore(pg_url) as store:
        case = new_case(store)
        with psycopg.connect(pg_url, autocommit=True) as raw:
            raw.execute("UPDATE images SET prediction = 'Pro' WHERE id = %s", (case.images[0].id,))
        found = store.verify_case(case.id)
        assert not found.intact and "differs from the audit log" in found.message()
        with pytest.raises(CaseLockedError, match="changed outside the program"):
            store.set_decision(case.id, case.images[0].id, "Ana Tech", "accepted")


def test_the_chain_hashes_are_the_same_on_both_back_ends(tmp_path, pg_url):
    """One schema: the same changes give the same digests (stored values are the same)."""
    digests = []
    for where in (tmp_path / "cases.sqlite3", pg_url):
        clock = iter(f"2024-05-01T10:00:{s:02d}+00:00" for s in range(60))
        with CaseStore(where, clock=lambda: next(clock)) as store:
            case = new_case(store)
            store.set_decision(case.id, case.images[0].id, "Ana Tech", "overridden", "Early",
                               "blasts")
            digests.append(store.verify_case(case.id).digest)
    assert digests[0] == digests[1]
