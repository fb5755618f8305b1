"""labapp-batch --report on a case database with accounts (lab_app/batch_signin.py): the case's
technician is the account given with --user, its password checked before any image is analysed;
anything else is refused with exit 2 and a sentence. Without accounts nothing changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab_app.cli import main
from lab_app.core.accounts import Accounts
from lab_app.core.cases import CaseStore

from helpers import copy_samples

PW = {"ada": "admin-pass-1", "ana": "ana-pass-12"}


@pytest.fixture
def two_fields(tmp_path) -> Path:
    return copy_samples(tmp_path / "in", 2)


def _with_accounts(where: str) -> str:
    with CaseStore(where) as store:
        a = Accounts(store)
        a.create_user("ada", PW["ada"], "admin", full_name="Ada Admin", actor="it (login)")
        a.create_user("ana", PW["ana"], "technician", full_name="Ana Tech", actor="Ada Admin (ada)")
    return where


def _secret(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(text + "\n", encoding="utf-8")
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("extra, env, said", [
    ([], None, "has user accounts, so the case's technician is an account: give --user NAME"),
    (["--user", "ana", "--technician", "Somebody"], PW["ana"],
     "--technician is not used when the case database has accounts"),
    (["--user", "ana"], "wrong-password", "The user name or the password is wrong."),
    (["--user", "ada"], PW["ada"], "to record a case needs a technician or a reviewer account"),
    (["--user", "ana"], None, "this run has no terminal to ask at; give --password-file FILE"),
])
def test_refused_with_exit_2_before_any_image_is_analysed(two_fields, tmp_path, monkeypatch, capsys,
                                                          extra, env, said):
    db = _with_accounts(str(tmp_path / "cases.sqlite3"))
    monkeypatch.delenv("LABAPP_PASSWORD", raising=False)
    if env is not None:
        monkeypatch.setenv("LABAPP_PASSWORD", env)
    monkeypatch.setattr("sys.stdin", open(os.devnull))          # no terminal to ask at
    out = tmp_path / "out"
    # A model folder that does not exist: had the model loaded first, the exit would be 1.
    rc = main([str(two_fields), "--out", str(out), "--model", str(tmp_path / "no-model"),
               "--quiet", "--report", "--patient-id", "P-1", "--db", db, *extra])
    err = capsys.readouterr().err
    assert rc == 2 and said in err, err
    assert err.count("\n") == 1 and err.startswith("labapp-batch: ")
    assert not out.exists()
    with CaseStore(db) as store:
        assert store.list_cases() == []


def test_password_file_must_be_private_and_user_needs_accounts(two_fields, tmp_path, capsys):
    db = str(tmp_path / "plain.sqlite3")
    base = [str(two_fields), "--out", str(tmp_path / "out"), "--model", str(tmp_path / "no-model"),
            "--quiet", "--report", "--patient-id", "P-1"]
    assert main([*base, "--db", db, "--user", "ana"]) == 2
    assert "has no accounts; name the technician with --technician instead" in capsys.readouterr().err
    _with_accounts(db)
    if os.name == "posix":
        shared = _secret(tmp_path, PW["ana"], 0o644)
        assert main([*base, "--db", db, "--user", "ana", "--password-file", str(shared)]) == 2
        assert f"can be read by other users of this computer; make it private first (chmod 600 " \
               f"{shared})" in capsys.readouterr().err
    assert main([*base, "--db", db, "--user", "ana", "--password-file",
                 str(tmp_path / "none.txt")]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert main([str(two_fields), "--out", str(tmp_path / "o"), "--user", "ana"]) == 2
    assert "--user and --password-file go with --report" in capsys.readouterr().err


def test_the_case_is_recorded_under_the_account(two_fields, model_dir, tmp_path, monkeypatch, where):
    _with_accounts(where)
    monkeypatch.delenv("LABAPP_PASSWORD", raising=False)
    secret = _secret(tmp_path, PW["ana"])
    rc = main([str(two_fields), "--out", str(tmp_path / "out"), "--model", str(model_dir),
               "--device", "cpu", "--quiet", "--report", "--patient-id", "P-9", "--db", where,
               "--user", "ANA", "--password-file", str(secret)])
    assert rc == 0
    assert (tmp_path / "out" / "report.pdf").read_bytes().startswith(b"%PDF")
    with CaseStore(where) as store:
        [info] = store.list_cases()
        case = store.get_case(info.id)
        actors = {e.actor for e in store.audit(info.id)}
        assert store.verify_case(info.id).intact
    assert case.technician == "Ana Tech (ana)" and len(case.images) == 2
    assert actors == {"Ana Tech (ana)"}
    # ... and LABAPP_PASSWORD works the same (an unattended run's secret)
    monkeypatch.setenv("LABAPP_PASSWORD", PW["ana"])
    assert main([str(two_fields), "--out", str(tmp_path / "out2"), "--model", str(model_dir),
                 "--device", "cpu", "--quiet", "--report", "--patient-id", "P-10", "--db", where,
                 "--user", "ana"]) == 0
