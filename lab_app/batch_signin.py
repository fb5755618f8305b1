"""``labapp-batch --report`` on a case database with accounts: who the case is recorded under.

When the case database has accounts (lab_app/core/accounts.py), the technician of a case is an
account, never free text, as in the window: ``--user NAME`` names it and its password is
checked before any image is analysed. The password comes from, in this order:

1. ``--password-file FILE``: its first line (on Linux/macOS the file must be readable by its
   owner only, like ~/.pgpass: ``chmod 600 FILE``), for scheduled or watched runs;
2. the environment variable ``LABAPP_PASSWORD`` (a service manager's secret, e.g. systemd's
   ``LoadCredential`` or a CI secret);
3. a prompt, when the batch runs at a terminal.

Without accounts nothing changes: ``--technician`` is the free-text name (single-user mode), and
``--user`` is refused (there is no account to check it against).
"""

from __future__ import annotations

import argparse
import getpass
import os
import stat
import sys
from pathlib import Path

from .core.errors import LabAppError

PASSWORD_ENV = "LABAPP_PASSWORD"


class BatchSignInError(LabAppError):
    """The batch cannot name the case's technician (a usage error: exit 2)."""


def read_password(args: argparse.Namespace, *, interactive: bool | None = None) -> str:
    if args.password_file:
        return _password_file(Path(args.password_file))
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if not interactive:
        raise BatchSignInError(
            f"no password for the account '{args.user}': this run has no terminal to ask at; "
            f"give --password-file FILE (readable only by you) or set {PASSWORD_ENV}.")
    return getpass.getpass(f"Password of {args.user}: ")


def _password_file(path: Path) -> str:
    try:
        info = path.stat()
        if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BatchSignInError(f"--password-file {path} can be read by other users of this "
                                   f"computer; make it private first (chmod 600 {path}).")
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BatchSignInError(f"--password-file {path} cannot be read "
                               f"({exc.strerror or exc}).") from exc
    except UnicodeDecodeError as exc:
        raise BatchSignInError(f"--password-file {path} is not a text file.") from exc
    if not lines or not lines[0]:
        raise BatchSignInError(f"--password-file {path} is empty; its first line is the password.")
    return lines[0]


def sign_in_batch(args: argparse.Namespace, *, interactive: bool | None = None) -> str | None:
    """Check ``--user`` against the case database's accounts and set ``args.technician`` to the
    account (its signature) when the database has accounts; returns that signature, or None in
    single-user mode. BatchSignInError (exit 2) when the case cannot be recorded under an
    account; CaseStoreError (exit 1) when the database cannot be opened."""
    from .core.accounts import REVIEWER, TECHNICIAN, AccountError, Accounts, require_role
    from .core.cases import CaseStore
    from .core.settings import database_location

    with CaseStore(database_location(args.db)) as store:
        accounts = Accounts(store)
        if not accounts.enabled():
            if args.user:
                raise BatchSignInError(
                    f"--user {args.user}: the case database {store.location} has no accounts; "
                    "name the technician with --technician instead.")
            return None
        if not args.user:
            raise BatchSignInError(
                f"the case database {store.location} has user accounts, so the case's technician "
                "is an account: give --user NAME (the password is asked, or read from "
                f"--password-file FILE or {PASSWORD_ENV}).")
        if args.technician:
            raise BatchSignInError(
                "--technician is not used when the case database has accounts: the case's "
                f"technician is the account given with --user ({args.user}).")
        try:
            account = accounts.authenticate(args.user, read_password(args, interactive=interactive))
            require_role(account, TECHNICIAN, REVIEWER, to="record a case")
        except AccountError as exc:
            raise BatchSignInError(str(exc)) from exc
    args.technician = account.signature
    return account.signature
