"""The account log as a hash chain (lab_app/core/account_integrity.py, schema v7): what the program
writes verifies, a change made with SQL is found and its account refused, failed sign-ins are on
record, the v7 migration chains an existing log; SQLite and PostgreSQL (tests/fixtures_pg.py)."""

from __future__ import annotations

import io

import pytest

from lab_app import report_cli, users_cli
from lab_app.core import accounts as acc
from lab_app.core import cases_schema
from lab_app.core.accounts import AccountError, Accounts
from lab_app.core.cases import CaseStore

from helpers import raw_sql

PW = {"admin": "admin-pass-1", "ana": "ana-pass-12", "rui": "rui-pass-12"}
ADMIN = "Ada Admin (admin)"


def _accounts(where: str) -> None:
    with CaseStore(where) as store:
        a = Accounts(store)
        a.create_user("admin", PW["admin"], "admin", full_name="Ada Admin", actor="it (login)")
        a.create_user("ana", PW["ana"], "technician", full_name="Ana Tech", actor=ADMIN)
        a.create_user("rui", PW["rui"], "reviewer", full_name="Rui Review", actor=ADMIN)
        a.set_active("rui", False, actor=ADMIN)


def test_what_the_program_writes_verifies_and_failed_sign_ins_are_on_record(where):
    _accounts(where)
    with CaseStore(where) as store:
        a = Accounts(store)
        for name, pw in (("ana", "wrong-pass"), ("nobody", PW["ana"]), ("rui", PW["rui"])):
            with pytest.raises(AccountError):
                a.authenticate(name, pw)
        a.set_role("ana", "reviewer", actor=ADMIN)
        a.set_password("ana", "ana-new-pass-1", actor=ADMIN)
        assert a.authenticate("ana", "ana-new-pass-1").role == "reviewer"
        found = a.verify()
        log = [(e["action"], e["user_name"], e["detail"]) for e in a.history()]
    assert found.intact, found.problems
    assert found.accounts == 3 and found.entries == len(log) == 9 and len(found.digest) == 64
    assert found.message().startswith("Accounts: 3, account log of 9 entries intact (digest ")
    assert [x for x in log if x[0] == "sign_in_failed"] == [
        ("sign_in_failed", "ana", "wrong password"), ("sign_in_failed", "nobody", "no such account"),
        ("sign_in_failed", "rui", "account disabled")]
    with CaseStore(where) as store:
        failed = [e for e in Accounts(store).history() if e["action"] == "sign_in_failed"]
    assert all(e["actor"].endswith("(login)") and e["content_hash"] == "" for e in failed)


@pytest.mark.parametrize("sql, found_text", [
    ("UPDATE users SET role = 'admin' WHERE name = 'ana'", "the account 'ana' (its role"),
    ("UPDATE users SET password_hash = 'scrypt$n=16384,r=8,p=1$AAAA$AAAA' WHERE name = 'ana'",
     "the account 'ana' (its role, password or state)"),
    ("UPDATE users SET active = 1 WHERE name = 'rui'", "the account 'rui' (its role"),
    ("INSERT INTO users (name, role, password_hash, created_at, created_by) VALUES "
     "('eve', 'admin', 'x', 'now', 'eve')", "the account 'eve' has no entry"),
    ("UPDATE account_audit SET detail = 'role admin' WHERE id = 2", "was edited"),
    ("DELETE FROM account_audit WHERE id = 3", "removed or reordered"),
    ("DELETE FROM users WHERE name = 'rui'", "the account 'rui' was removed"),
])
def test_a_change_made_with_sql_is_found(where, sql, found_text):
    _accounts(where)
    raw_sql(where, sql)
    with CaseStore(where) as store:
        found = Accounts(store).verify()
    assert not found.intact and found_text in found.message(), found.problems


def test_an_account_changed_outside_the_program_is_refused(where):
    _accounts(where)
    raw_sql(where, "UPDATE users SET role = 'admin' WHERE name = 'ana'")
    with CaseStore(where) as store:
        a = Accounts(store)
        with pytest.raises(AccountError, match="'ana' was changed outside the program .* cannot "
                                               "sign in"):
            a.authenticate("ana", PW["ana"])
        with pytest.raises(AccountError, match="'ana' was changed outside the program .* nothing "
                                               "was changed"):
            a.set_password("ana", "another-pass-1", actor=ADMIN)   # not sealed over
        assert a.authenticate("admin", PW["admin"]).role == "admin"  # the others still work
        assert not a.verify().intact


def test_the_verify_commands_check_the_account_log(where, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABAPP_CONFIG_DIR", str(tmp_path / "config"))
    _accounts(where)
    assert users_cli.main(["--db", where, "verify"]) == 0
    assert "account log of 4 entries intact" in capsys.readouterr().out
    assert report_cli.main(["--verify", "--db", where]) == 0
    assert "0 cases checked" in capsys.readouterr().out
    raw_sql(where, "UPDATE users SET role = 'admin' WHERE name = 'ana'")
    assert users_cli.main(["--db", where, "verify"]) == 1
    assert "accounts were changed outside the program" in capsys.readouterr().err
    assert report_cli.main(["--verify", "--db", where]) == 1
    err = capsys.readouterr().err
    assert "labapp-report: The accounts were changed outside the program: the account 'ana'" in err


def test_a_v6_account_log_is_chained_at_migration(where, monkeypatch):
    """A store made before the chain (schema 6) with accounts and log entries: the migration
    chains them as they are and records each account as it is; changes after it are found."""
    monkeypatch.setattr(cases_schema, "MIGRATIONS", cases_schema.MIGRATIONS[:6])
    monkeypatch.setattr(cases_schema, "CURRENT_VERSION", 6)
    with CaseStore(where) as store:
        assert cases_schema.schema_version(store._conn()) == 6
        with store._write() as c:
            for name, role in (("admin", "admin"), ("ana", "technician")):
                c.execute("INSERT INTO users (name, full_name, role, password_hash, active, "
                          "created_at, created_by) VALUES (?, '', ?, ?, 1, '2024-01-01', 'it')",
                          (name, role, acc.hash_password(PW[name])))
                c.execute("INSERT INTO account_audit (at, actor, action, user_name, detail) "
                          "VALUES ('2024-01-01', 'it', 'create', ?, ?)", (name, f"role {role}"))
    monkeypatch.undo()
    with CaseStore(where) as store:
        assert cases_schema.schema_version(store._conn()) == cases_schema.CURRENT_VERSION == 7
        a = Accounts(store)
        found = a.verify()
        assert found.intact, found.problems
        actions = [(e["action"], e["user_name"], e["actor"]) for e in a.history()]
        assert actions == [("create", "admin", "it"), ("create", "ana", "it"),
                           ("integrity", "admin", "program"), ("integrity", "ana", "program")]
        assert a.authenticate("ana", PW["ana"]).role == "technician"
    raw_sql(where, "UPDATE users SET role = 'admin' WHERE name = 'ana'")
    with CaseStore(where) as store:
        assert not Accounts(store).verify().intact


def test_labapp_users_log_lists_failed_sign_ins(tmp_path, monkeypatch, capsys):
    db = tmp_path / "cases.sqlite3"
    _accounts(str(db))
    monkeypatch.setattr("sys.stdin", io.StringIO("not-the-password\n"))
    assert users_cli.main(["--db", str(db), "--password-stdin", "--as", "admin", "role", "ana",
                           "reviewer"]) == 1
    capsys.readouterr()
    assert users_cli.main(["--db", str(db), "log"]) == 0
    assert "sign_in_failed admin (wrong password)" in capsys.readouterr().out


def test_writers_at_several_workstations_keep_one_chain(where):
    """Failed sign-ins and account changes from four connections at once: the writers take
    turns (SQLite's write lock, PostgreSQL's advisory lock), so the chain does not fork."""
    import threading
    _accounts(where)
    errors: list[BaseException] = []

    def desk(n: int) -> None:
        try:
            with CaseStore(where, busy_timeout_s=30) as store:
                a = Accounts(store)
                for i in range(5):
                    with pytest.raises(AccountError):
                        a.authenticate("ana", f"wrong-{n}-{i}")
                    a.set_password("admin" if n == 0 else "ana", f"pass-{n}-{i}-long", actor=ADMIN)
        except BaseException as exc:   # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=desk, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with CaseStore(where) as store:
        found = Accounts(store).verify()
    assert found.intact, found.problems
    assert found.entries == 4 + 4 * 5 * 2


def test_accounts_disabled_with_sql_do_not_turn_sign_in_off(where):
    _accounts(where)
    raw_sql(where, "UPDATE users SET active = 0")
    with CaseStore(where) as store:
        a = Accounts(store)
        assert a.enabled()                       # fails closed: nobody signs in
        with pytest.raises(AccountError):
            a.authenticate("admin", PW["admin"])
        assert not a.verify().intact
