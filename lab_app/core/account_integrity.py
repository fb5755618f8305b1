"""The account log as a hash chain, like the case audit (:mod:`lab_app.core.case_integrity`).

Every entry of ``account_audit`` (schema v7) carries:

``content_hash``
    for an entry that changed an account (create, password, role, enable, disable, a password
    hash upgraded at sign-in, the v7 migration's starting point): the sha256 of that ``users``
    row as it stood when the entry was written (every non-NULL column, the password hash
    included); '' for an entry that changed no row (a failed sign-in);
``prev_hash``
    the ``entry_hash`` of the previous entry of the log ('' for the first);
``entry_hash``
    the sha256 of the entry's own fields, ``prev_hash`` and ``content_hash``.

The log is one chain for the whole store (accounts are the store's, not a case's). Its writers
take turns: SQLite's write lock, PostgreSQL's advisory lock :data:`CHAIN_LOCK`, so the ids of
the entries follow the chain. :func:`verify_accounts` walks it and checks that every account
still hashes to what its latest entry recorded: a role raised, a password hash replaced, an
account enabled or inserted by SQL, an entry edited or deleted is found. The store refuses to
sign in, or change, an account that no longer matches (:func:`account_intact`), so a change made
outside the program is never sealed over by the next legitimate one.

Tamper-evident, not tamper-proof: there is no key (see case_integrity).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .case_db import dialect_of
from .case_integrity import canonical_sha, chained_hash, first_problems, link_problems

ENTRY_FIELDS = ("id", "at", "actor", "action", "user_name", "detail")
MIGRATION_ACTION = "integrity"
# Any number, different from the migration lock: held while an entry is chained (PostgreSQL).
CHAIN_LOCK = 0x1AB5AC70


def user_hash(c: Any, name: str) -> str | None:
    row = c.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
    return None if row is None else _user_sha(row)


def _user_sha(row: Any) -> str:
    return canonical_sha({k: row[k] for k in row.keys() if row[k] is not None})


def entry_hash(entry: dict, prev_hash: str, content_hash: str) -> str:
    return chained_hash(entry, ENTRY_FIELDS, prev_hash, content_hash)


def _last_hash(c: Any) -> str:
    row = c.execute("SELECT entry_hash FROM account_audit ORDER BY id DESC LIMIT 1").fetchone()
    return (row[0] or "") if row is not None else ""


def take_turn(c: Any) -> None:
    """First thing in every transaction that changes accounts or their log: account writers take
    turns (PostgreSQL: the advisory lock, held to COMMIT; SQLite's write lock already does it), so
    what a change checks (account_intact) is what the entries before it left, and the chain
    never forks."""
    dialect_of(c).serialize(c, CHAIN_LOCK)


def append(c: Any, at: str, actor: str, action: str, user_name: str, detail: str, *,
           changed_row: bool = True) -> int:
    """Write one entry, chained to the last one, inside the caller's write transaction (after
    the change of the ``users`` row it records, when ``changed_row``)."""
    take_turn(c)                  # held already where the caller took its turn first
    prev = _last_hash(c)
    cur = c.execute("INSERT INTO account_audit (at, actor, action, user_name, detail) "
                    "VALUES (?,?,?,?,?)", (at, actor, action, user_name, detail))
    entry_id = int(cur.lastrowid)
    entry = {"id": entry_id, "at": at, "actor": actor, "action": action, "user_name": user_name,
             "detail": detail}
    content = (user_hash(c, user_name) or "") if changed_row else ""
    c.execute("UPDATE account_audit SET prev_hash = ?, content_hash = ?, entry_hash = ? "
              "WHERE id = ?", (prev, content, entry_hash(entry, prev, content), entry_id))
    return entry_id


def account_intact(c: Any, name: str) -> bool:
    """Does the account's row still hash to what its latest entry recorded?"""
    row = c.execute("SELECT content_hash FROM account_audit WHERE user_name = ? AND "
                    "content_hash IS NOT NULL AND content_hash != '' ORDER BY id DESC LIMIT 1",
                    (name,)).fetchone()
    current = user_hash(c, name)
    return row is not None and current is not None and row[0] == current


@dataclass
class AccountLogIntegrity:
    """What verify_accounts found: ``problems`` empty means the accounts are as the program
    left them."""
    problems: list[str] = field(default_factory=list)
    digest: str = ""            # the last entry_hash
    entries: int = 0
    accounts: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems

    def message(self) -> str:
        if self.intact:
            if not self.entries:
                return "Accounts: none."
            return (f"Accounts: {self.accounts}, account log of {self.entries} entries intact "
                    f"(digest {self.digest[:16]}).")
        return (f"The accounts were changed outside the program: {first_problems(self.problems)}"
                f". Who may sign in, and with which role, may not be what the "
                "administrators set; the accounts named are refused until IT has checked them.")


def verify_accounts(c: Any) -> AccountLogIntegrity:
    result = AccountLogIntegrity()
    problems = result.problems
    prev = ""
    latest: dict[str, str] = {}
    for row in c.execute("SELECT * FROM account_audit ORDER BY id"):
        entry = dict(zip(row.keys(), row))
        result.entries += 1
        where = f"account log entry {entry['id']} ({entry['action']} {entry['user_name']})"
        problems += link_problems(entry, prev, where, "account log entries", ENTRY_FIELDS)
        if entry["entry_hash"] is None:
            continue
        prev = entry["entry_hash"]
        if entry["content_hash"]:
            latest[entry["user_name"]] = entry["content_hash"]
    result.digest = prev
    users = {row["name"]: _user_sha(row) for row in c.execute("SELECT * FROM users ORDER BY name")}
    result.accounts = len(users)
    for name, digest in users.items():
        if name not in latest:
            problems.append(f"the account '{name}' has no entry in the account log (added "
                            "outside the program)")
        elif latest[name] != digest:
            problems.append(f"the account '{name}' (its role, password or state) differs from "
                            "the account log")
    for name in latest:
        if name not in users:
            problems.append(f"the account '{name}' was removed")
    return result


def seal_legacy(c: Any) -> None:
    """Migration to v7: chain the entries written before the chain existed (as they are) and
    give each account an entry recording its row as it is now, where coverage begins."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    names = [r[0] for r in c.execute("SELECT name FROM users ORDER BY name").fetchall()]
    for name in names:
        c.execute("INSERT INTO account_audit (at, actor, action, user_name, detail) "
                  "VALUES (?, 'program', ?, ?, ?)",
                  (now, MIGRATION_ACTION, name, "the account log is hash-chained from here (schema "
                   "7 migration); the entries before were not when written"))
    started = {r["user_name"]: r["id"] for r in c.execute(
        "SELECT id, user_name FROM account_audit WHERE action = ? AND actor = 'program' "
        "ORDER BY id", (MIGRATION_ACTION,)).fetchall()}
    prev = ""
    for row in c.execute("SELECT * FROM account_audit ORDER BY id").fetchall():
        entry = dict(zip(row.keys(), row))
        content = ""
        if started.get(entry["user_name"]) == entry["id"]:
            content = user_hash(c, entry["user_name"]) or ""
        digest = entry_hash(entry, prev, content)
        c.execute("UPDATE account_audit SET prev_hash = ?, content_hash = ?, entry_hash = ? "
                  "WHERE id = ?", (prev, content, digest, entry["id"]))
        prev = digest
