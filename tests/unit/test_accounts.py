"""Accounts and e-signatures (lab_app/core/accounts.py, labapp-users): roles, scrypt hashes, the
sign-off that asks for the password again and records what the signature means; on SQLite and
PostgreSQL."""

from __future__ import annotations

import io

import pytest

from lab_app import users_cli
from lab_app.core import accounts as acc
from lab_app.core.accounts import AccountError, Accounts
from lab_app.core.case_models import LabInfo, Patient, Sample
from lab_app.core.cases import CaseStore
from lab_app.core.session import CaseSession, SessionRuleError

from helpers import result

PW = {"admin": "admin-pass-1", "ana": "ana-pass-12", "rui": "rui-pass-12", "max": "max-pass-12"}


@pytest.fixture
def store(where):
    with CaseStore(where) as s:
        yield s


@pytest.fixture
def accounts(store) -> Accounts:
    a = Accounts(store)
    a.create_user("admin", PW["admin"], "admin", full_name="Ada Admin", actor="it (login)")
    a.create_user("ana", PW["ana"], "technician", full_name="Ana Tech", actor="Ada Admin (admin)")
    a.create_user("rui", PW["rui"], "reviewer", full_name="Dr. Rui Review", actor="Ada Admin (admin)")
    return a


# ------------------------------------------------------------------------------- passwords
def test_scrypt_hash_records_its_parameters_and_verifies():
    stored = acc.hash_password("correct horse", n=2 ** 10)
    scheme, params, salt, key = stored.split("$")
    assert scheme == "scrypt" and params == "n=1024,r=8,p=1"
    assert acc.verify_password("correct horse", stored)
    assert not acc.verify_password("correct hors", stored)
    assert acc.hash_password("correct horse") != acc.hash_password("correct horse")   # salted
    assert acc.needs_rehash(stored) and not acc.needs_rehash(acc.hash_password("x" * 8))
    assert not acc.verify_password("x", "md5$abc") and not acc.verify_password("x", "garbage")


def test_off_by_default_and_the_first_account_is_an_administrator(store):
    a = Accounts(store)
    assert not a.enabled() and a.list_users() == []
    with pytest.raises(AccountError, match="first account must be an administrator"):
        a.create_user("ana", PW["ana"], "technician", actor="x")
    a.create_user("Admin", PW["admin"], "admin", actor="it (login)")
    assert a.enabled() and a.get("admin").role == "admin"          # names are lower case


def test_accounts_refuse_what_they_should(accounts):
    with pytest.raises(AccountError, match="exists already"):
        accounts.create_user("ana", PW["ana"], "technician", actor="a")
    with pytest.raises(AccountError, match="at least 8 characters"):
        accounts.create_user("bo", "short", "technician", actor="a")
    with pytest.raises(AccountError, match="technician, reviewer or admin"):
        accounts.create_user("bo", PW["max"], "physician", actor="a")
    with pytest.raises(AccountError, match="A user name is"):
        accounts.create_user("bo bo", PW["max"], "technician", actor="a")
    with pytest.raises(AccountError, match="leave no active administrator"):
        accounts.set_role("admin", "reviewer", actor="a")
    assert accounts.get("admin").role == "admin"                   # rolled back


def test_authenticate_says_one_thing_for_a_wrong_name_or_password(accounts):
    assert accounts.authenticate("ANA", PW["ana"]).signature == "Ana Tech (ana)"
    for name, pw in (("ana", "wrong-pass"), ("nobody", PW["ana"])):
        with pytest.raises(AccountError, match="^The user name or the password is wrong.$"):
            accounts.authenticate(name, pw)
    accounts.set_active("ana", False, actor="Ada Admin (admin)")
    with pytest.raises(AccountError, match="disabled; ask the lab's administrator"):
        accounts.authenticate("ana", PW["ana"])
    accounts.set_password("rui", "new-pass-123", actor="Ada Admin (admin)")
    assert accounts.authenticate("rui", "new-pass-123").role == "reviewer"
    log = [(e["action"], e["user_name"], e["actor"]) for e in accounts.history()]
    assert ("disable", "ana", "Ada Admin (admin)") in log and ("password", "rui", "Ada Admin (admin)") in log


def test_require_role_says_who_and_what_is_needed(accounts):
    ana = accounts.get("ana")
    acc.require_role(ana, "technician", "reviewer")
    with pytest.raises(AccountError, match=r"Ana Tech \(ana\) is signed in as a technician; to "
                                           "sign as the reviewer needs a reviewer account"):
        acc.require_role(ana, "reviewer", to="sign as the reviewer")


# ---------------------------------------------------------------------------- e-signatures
def _reviewed_session(store, account) -> CaseSession:
    session = CaseSession(store)
    session.account = account
    case = store.create_case(patient=Patient("P-1"), sample=Sample("S-1"),
                             technician=account.signature, lab=LabInfo("Lab"),
                             actor=account.signature, results=[result("a.jpg")])
    session.open_case(case.id)
    session.decide(session.rows[0], account.signature, "accepted")
    return session


def test_sign_off_asks_for_the_password_and_records_the_meaning(store, accounts):
    ana = accounts.authenticate("ana", PW["ana"])
    session = _reviewed_session(store, ana)
    with pytest.raises(SessionRuleError, match="Not signed off: The user name or the password is wrong"):
        session.e_sign_off("not-my-password", require_reviewer=False)
    assert not store.get_case(session.case.id).locked
    with pytest.raises(SessionRuleError, match="requires a reviewer"):
        session.e_sign_off(PW["ana"], require_reviewer=True)
    with pytest.raises(SessionRuleError, match="needs a reviewer account"):
        session.e_sign_off(PW["ana"], "ana", PW["ana"], require_reviewer=True)
    case = session.e_sign_off(PW["ana"], "rui", PW["rui"], require_reviewer=True)
    assert case.locked and case.signed_by == "Ana Tech (ana)" and case.reviewer == "Dr. Rui Review (rui)"
    signs = [e for e in store.audit(case.id) if e.action == "sign_off"]
    assert [(e.actor, e.reason) for e in signs] == [
        ("Ana Tech (ana)", acc.MEANING), ("Dr. Rui Review (rui)", acc.MEANING_REVIEWER)]
    assert all(e.actor == "Ana Tech (ana)" for e in store.audit(case.id) if e.action != "sign_off")
    assert store.verify_case(case.id).intact


def test_an_administrator_signs_nothing(store, accounts):
    admin = accounts.authenticate("admin", PW["admin"])
    session = _reviewed_session(store, admin)
    with pytest.raises(SessionRuleError, match="is signed in as an administrator; to sign a case "
                                               "off needs a technician or a reviewer account"):
        session.e_sign_off(PW["admin"], require_reviewer=False)


# -------------------------------------------------------------------------------- the CLI
def _cli(monkeypatch, capsys, where, *argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    rc = users_cli.main(["--db", str(where), "--password-stdin", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_labapp_users_manages_accounts_with_an_administrator(tmp_path, monkeypatch, capsys):
    db = tmp_path / "cases.sqlite3"
    rc, out, err = _cli(monkeypatch, capsys, db, "list")
    assert rc == 0 and out == ""
    rc, _, err = _cli(monkeypatch, capsys, db, "add", "ana", "--role", "technician",
                      stdin=f"{PW['ana']}\n")
    assert rc == 1 and "first account must be an administrator" in err
    rc, out, _ = _cli(monkeypatch, capsys, db, "add", "ada", "--role", "admin", "--full-name",
                      "Ada Admin", stdin=f"{PW['admin']}\n")
    assert rc == 0 and "Account ada (admin) created" in out
    # from now on the administrator's password comes first
    rc, _, err = _cli(monkeypatch, capsys, db, "--as", "ada", "add", "ana", "--role", "technician",
                      stdin=f"wrong-password\n{PW['ana']}\n")
    assert rc == 1 and "password is wrong" in err
    rc, out, _ = _cli(monkeypatch, capsys, db, "--as", "ada", "add", "ana", "--role", "technician",
                      stdin=f"{PW['admin']}\n{PW['ana']}\n")
    assert rc == 0
    rc, _, err = _cli(monkeypatch, capsys, db, "--as", "ana", "role", "ana", "admin",
                      stdin=f"{PW['ana']}\n")
    assert rc == 1 and "needs an administrator account" in err
    rc, out, _ = _cli(monkeypatch, capsys, db, "list")
    assert out.split() == ["ada", "admin", "Ada", "Admin", "ana", "technician"]
    with CaseStore(db) as store:
        assert Accounts(store).authenticate("ana", PW["ana"]).role == "technician"
