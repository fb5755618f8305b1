"""User accounts and e-signatures, stored in the case store (schema v6: ``users``, ``account_audit``;
v7: the account log is hash-chained, lab_app/core/account_integrity.py).

Off by default: a standalone PC works as before (single-user mode: the names typed in the case
fields, the OS login in the audit log). Accounts are *enabled* for a case store as soon as it
has an active account (``labapp-users add NAME --role admin`` makes the first); from then on the
window asks who is signing in, the technician and reviewer of a case are the signed-in accounts
(not free text), every audit entry names the account, and sign-off asks for the password again
and records what the signature means (:data:`MEANING`) with it.

Roles: ``technician`` (analyse, review, sign off as the technician), ``reviewer`` (the same,
and sign off as the second, reviewing person when the lab requires one) and ``admin`` (manage
accounts; an admin signs nothing).

Passwords are stored as ``scrypt$n=16384,r=8,p=1$<salt>$<key>`` (hashlib.scrypt: memory-hard,
16-byte random salt, 32-byte key, base64); the parameters are recorded with each hash, so raising
them later leaves older hashes readable (:func:`needs_rehash`, and a sign-in upgrades them).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Any

from .account_integrity import (AccountLogIntegrity, account_intact, append, take_turn,
                                verify_accounts)
from .errors import LabAppError

TECHNICIAN, REVIEWER, ADMIN = "technician", "reviewer", "admin"
ROLES = (TECHNICIAN, REVIEWER, ADMIN)
# What a sign-off signature means; recorded with each signature in the audit log.
MEANING = "reviewed and approved"
MEANING_REVIEWER = "reviewed and approved as the second reviewer"
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES, SALT_BYTES = 2 ** 14, 8, 1, 32, 16
MIN_PASSWORD = 8
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class AccountError(LabAppError):
    """An account operation was refused; the message is a sentence for the person at the desk."""


@dataclass(frozen=True)
class Account:
    id: int
    name: str                  # the sign-in name (lower case)
    full_name: str
    role: str
    active: bool = True

    @property
    def signature(self) -> str:
        """How the case and its audit log name the account: 'Full Name (name)'."""
        return f"{self.full_name} ({self.name})" if self.full_name else self.name


# ------------------------------------------------------------------------------ passwords
def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = os.urandom(SALT_BYTES)
    key = _scrypt(password, salt, n, r, p, KEY_BYTES)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, params, salt, key = stored.split("$")
        values = dict(item.split("=") for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        expected = base64.b64decode(key)
        salt_bytes = base64.b64decode(salt)
    except (ValueError, KeyError):
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(_scrypt(password, salt_bytes, n, r, p, len(expected)), expected)


def needs_rehash(stored: str) -> bool:
    return not stored.startswith(f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}$")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # maxmem: 128 * r * n bytes are needed (16 MiB at the defaults); allow up to 4x that.
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=max(64 * 1024 * 1024, 512 * r * n))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def require_role(account: Account, *roles: str, to: str = "do this") -> None:
    """AccountError unless ``account`` has one of ``roles``."""
    if account.role not in roles:
        wanted = " or ".join(f"a {r}" if r != ADMIN else "an administrator" for r in roles)
        raise AccountError(f"{account.signature} is signed in as {_article(account.role)}; to {to} "
                           f"needs {wanted} account.")


def _article(role: str) -> str:
    return "an administrator" if role == ADMIN else f"a {role}"


def check_name(name: str) -> str:
    name = (name or "").strip().lower()
    if not _NAME.match(name):
        raise AccountError("A user name is 1 to 64 lower-case letters, digits, dots, dashes or "
                           f"underscores, starting with a letter or digit, not '{name}'.")
    return name


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"The role must be technician, reviewer or admin, not '{role}'.")
    return role


# ------------------------------------------------------------------------------- the store
class Accounts:
    """The accounts of one case store (:class:`lab_app.core.cases.CaseStore`); every change is
    one transaction with its entry in ``account_audit``."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def enabled(self) -> bool:
        """Accounts are on for this store: it has an account. (The program never leaves a store
        without an active administrator; every account disabled with SQL keeps accounts on, so
        such a change locks the desks out rather than turning sign-in off.)"""
        with self.store._read() as c:
            return bool(c.execute("SELECT count(*) FROM users").fetchone()[0])

    def list_users(self) -> list[Account]:
        with self.store._read() as c:
            return [_account(r) for r in c.execute("SELECT * FROM users ORDER BY name")]

    def get(self, name: str) -> Account:
        with self.store._read() as c:
            row = c.execute("SELECT * FROM users WHERE name = ?",
                            ((name or "").strip().lower(),)).fetchone()
        if row is None:
            raise AccountError(f"There is no account '{name}'.")
        return _account(row)

    def create_user(self, name: str, password: str, role: str, *, full_name: str = "",
                    actor: str) -> Account:
        name, role = check_name(name), check_role(role)
        check_password(password)
        stored = hash_password(password)
        now = self.store._clock()
        with self.store._write() as c:
            take_turn(c)
            if c.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is not None:
                raise AccountError(f"The account '{name}' exists already.")
            first = not c.execute("SELECT count(*) FROM users WHERE active = 1").fetchone()[0]
            if first and role != ADMIN:
                raise AccountError("The first account must be an administrator (--role admin): "
                                   "accounts are enabled from then on, and someone must be able "
                                   "to manage them.")
            c.execute("""INSERT INTO users (name, full_name, role, password_hash, active, created_at,
                                            created_by, password_changed_at)
                         VALUES (?, ?, ?, ?, 1, ?, ?, ?)""",
                      (name, (full_name or "").strip(), role, stored, now, actor, now))
            _log(c, now, actor, "create", name, f"role {role}")
            return _account(c.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone())

    def authenticate(self, name: str, password: str) -> Account:
        """The account, when ``password`` is its password; else AccountError (one sentence for a
        wrong name and a wrong password alike). A failed attempt is written to the account log;
        an account changed outside the program (its row no longer matches the log) is refused."""
        key = (name or "").strip().lower()
        with self.store._read() as c:
            row = c.execute("SELECT * FROM users WHERE name = ?", (key,)).fetchone()
            intact = row is not None and account_intact(c, key)
        if row is None or not verify_password(password or "", row["password_hash"]):
            self._failed(key, "no such account" if row is None else "wrong password")
            raise AccountError("The user name or the password is wrong.")
        if not row["active"]:
            self._failed(key, "account disabled")
            raise AccountError(f"The account '{key}' is disabled; ask the lab's administrator.")
        if not intact:
            raise AccountError(f"The account '{key}' was changed outside the program (it differs "
                               "from the account log), so it cannot sign in; ask the lab's IT to "
                               "check it (labapp-users verify).")
        if needs_rehash(row["password_hash"]):
            with self.store._write() as c:
                take_turn(c)
                # Only the hash just checked: a password changed meanwhile stays changed.
                if c.execute("UPDATE users SET password_hash = ? WHERE name = ? AND "
                             "password_hash = ?", (hash_password(password), key,
                                                   row["password_hash"])).rowcount == 1:
                    _log(c, self.store._clock(), "program", "rehash", key,
                         "password hash upgraded to the current scrypt parameters")
        return _account(row)

    def _failed(self, key: str, why: str) -> None:
        """A failed sign-in, on record in the account log (it changes no account)."""
        with self.store._write() as c:
            take_turn(c)
            _log(c, self.store._clock(), f"{_os_login()} (login)", "sign_in_failed", key[:64],
                 why, changed_row=False)

    def set_password(self, name: str, password: str, *, actor: str) -> None:
        check_password(password)
        self._update(name, actor, "password", "password_hash = ?, password_changed_at = ?",
                     (hash_password(password), self.store._clock()), "password changed")

    def set_role(self, name: str, role: str, *, actor: str) -> None:
        role = check_role(role)
        self._update(name, actor, "role", "role = ?", (role,), f"role {role}")

    def set_active(self, name: str, active: bool, *, actor: str) -> None:
        self._update(name, actor, "enable" if active else "disable", "active = ?",
                     (1 if active else 0,), "enabled" if active else "disabled")

    def _update(self, name: str, actor: str, action: str, sets: str, values: tuple,
                detail: str) -> None:
        key = (name or "").strip().lower()
        now = self.store._clock()
        with self.store._write() as c:
            take_turn(c)
            if c.execute("SELECT 1 FROM users WHERE name = ?", (key,)).fetchone() is None:
                raise AccountError(f"There is no account '{name}'.")
            if not account_intact(c, key):
                raise AccountError(f"The account '{key}' was changed outside the program (it "
                                   "differs from the account log); nothing was changed. Ask the "
                                   "lab's IT to check it (labapp-users verify).")
            c.execute(f"UPDATE users SET {sets} WHERE name = ?", (*values, key))
            admins = c.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active = 1"
                               ).fetchone()[0]
            users = c.execute("SELECT count(*) FROM users WHERE active = 1").fetchone()[0]
            if users and not admins:
                raise AccountError("This would leave no active administrator; make another "
                                   "account an administrator first.")
            _log(c, now, actor, action, key, detail)

    def history(self) -> list[dict]:
        with self.store._read() as c:
            return [dict(r) for r in c.execute("SELECT * FROM account_audit ORDER BY id")]

    def verify(self) -> AccountLogIntegrity:
        """The account log's hash chain and every account against it (labapp-users verify,
        labapp-report --verify)."""
        with self.store._read() as c:
            return verify_accounts(c)

    # -------------------------------------------------------------------------- signatures
    def signatures(self, technician: Account, password: str, reviewer_name: str | None = None,
                   reviewer_password: str | None = None) -> tuple[Account, Account | None]:
        """Check the e-signatures of a sign-off: the signed-in technician's password again
        (technician or reviewer role) and, when given, the reviewer's name and password
        (reviewer role, another person)."""
        signer = self.authenticate(technician.name, password)
        require_role(signer, TECHNICIAN, REVIEWER, to="sign a case off")
        second = None
        if (reviewer_name or "").strip():
            second = self.authenticate(reviewer_name, reviewer_password or "")
            require_role(second, REVIEWER, to="sign as the reviewer")
            if second.name == signer.name:
                raise AccountError("The reviewer must be a different person from the technician.")
        return signer, second


def _os_login() -> str:
    """Who is logged in to the computer (the desk a failed sign-in came from)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


def _account(row: Any) -> Account:
    return Account(int(row["id"]), row["name"], row["full_name"], row["role"], bool(row["active"]))


def _log(c: Any, at: str, actor: str, action: str, user_name: str, detail: str, *,
         changed_row: bool = True) -> None:
    """One entry of the account log, hash-chained (lab_app/core/account_integrity.py)."""
    append(c, at, actor, action, user_name, detail, changed_row=changed_row)
