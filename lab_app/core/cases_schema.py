"""DDL and migrations of the case database, versioned with ``PRAGMA user_version``.

* v1: cases (patient, sample, physician, lab snapshot, technician, sign-off), images (file
  identity + every field of ``ImageResult.to_row()`` + the review decision) and the audit log.
* v2: reviewer columns (four-eyes sign-off), the amendments table and the search indexes.
* v3: the acquisition measurements of each image.
* v4: the audit hash chain (prev_hash, content_hash, entry_hash; lab_app/core/case_integrity.py).
* v5: images.duplicate_of (a byte-identical input is its own row, naming the first).
* v6: cases.version (no lost update), users and account_audit (accounts and e-signatures);
  PostgreSQL: the same steps through :mod:`lab_app.core.case_db` (one migration path).
* v7: the account log's hash chain (lab_app/core/account_integrity.py).

A migration is a list of statements run in one transaction together with the new
``user_version``, so a crash mid-migration leaves the old version intact. Before migrating an
existing database a copy is saved next to it (``<name>.schema-v<N>.bak``). Add a v3 by writing
``_V3`` and appending it to ``MIGRATIONS``; never edit a released step.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .case_db import dialect_of
from .errors import CaseStoreError

SCHEMA_V1: tuple[str, ...] = (
    """CREATE TABLE cases (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        patient_id TEXT NOT NULL DEFAULT '',
        patient_name TEXT NOT NULL DEFAULT '',
        patient_birth_date TEXT,
        patient_sex TEXT NOT NULL DEFAULT '',
        sample_id TEXT NOT NULL DEFAULT '',
        specimen TEXT NOT NULL DEFAULT '',
        collected_on TEXT,
        received_on TEXT,
        physician TEXT NOT NULL DEFAULT '',
        lab_name TEXT NOT NULL DEFAULT '',
        lab_address TEXT NOT NULL DEFAULT '',
        lab_logo_path TEXT,
        technician TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'open',
        signed_by TEXT,
        signed_at TEXT
    )""",
    """CREATE TABLE images (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        sha256 TEXT,
        width INTEGER,
        height INTEGER,
        file_size INTEGER,
        added_at TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        prediction TEXT,
        confidence REAL,
        probabilities TEXT NOT NULL DEFAULT '{}',
        cells INTEGER,
        flags TEXT NOT NULL DEFAULT '[]',
        segmentation TEXT NOT NULL DEFAULT '{}',
        model TEXT NOT NULL DEFAULT '{}',
        model_name TEXT,
        model_version TEXT,
        model_sha256 TEXT,
        device TEXT,
        analysed_at TEXT,
        decision TEXT NOT NULL DEFAULT 'pending'
            CHECK (decision IN ('pending', 'accepted', 'overridden')),
        override_class TEXT,
        decision_reason TEXT,
        decided_by TEXT,
        decided_at TEXT,
        CHECK (decision != 'overridden'
               OR (override_class IS NOT NULL AND length(trim(coalesce(decision_reason, ''))) > 0))
    )""",
    "CREATE INDEX images_case ON images(case_id)",
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        field TEXT,
        image_id INTEGER,
        old TEXT,
        new TEXT,
        reason TEXT
    )""",
    "CREATE INDEX audit_case ON audit(case_id)",
)

_V2: tuple[str, ...] = (
    "ALTER TABLE cases ADD COLUMN reviewer TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE cases ADD COLUMN reviewer_signed_by TEXT",
    "ALTER TABLE cases ADD COLUMN reviewer_signed_at TEXT",
    """CREATE TABLE amendments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
        changes TEXT NOT NULL
    )""",
    "CREATE INDEX amendments_case ON amendments(case_id)",
    "CREATE INDEX cases_patient ON cases(patient_id)",
    "CREATE INDEX cases_sample ON cases(sample_id)",
)

# What the acquisition checks measured on each image (white balance, sharpness, feature distance).
_V3: tuple[str, ...] = (
    "ALTER TABLE images ADD COLUMN acquisition TEXT NOT NULL DEFAULT '{}'",
)

# The tamper-evident audit chain (lab_app/core/case_integrity.py): each entry hashes the previous
# one and the content it changed. Entries written before it are chained as they are, and each
# case gets an entry saying where coverage began. New columns from here on must be nullable
# (NULL default) or the step must reseal: the content hashes are over a row's non-NULL columns.
def _seal_legacy(conn: sqlite3.Connection) -> None:
    from .case_integrity import seal_legacy
    seal_legacy(conn)


_V4: tuple = (
    "ALTER TABLE audit ADD COLUMN prev_hash TEXT",
    "ALTER TABLE audit ADD COLUMN content_hash TEXT",
    "ALTER TABLE audit ADD COLUMN entry_hash TEXT",
    _seal_legacy,
)

# A byte-identical input keeps its own image row and names the first one (nullable: the content
# hashes of existing rows stay valid).
_V5: tuple[str, ...] = (
    "ALTER TABLE images ADD COLUMN duplicate_of TEXT",
)

# A lab network (lab_app/core/case_db.py, lab_app/core/accounts.py): cases.version counts the
# committed changes of a case, and an edit names the version its workstation saw, so no change
# is lost (not hashed by the audit chain, like updated_at); user accounts with roles and scrypt
# password hashes, and their own audit log; on PostgreSQL the search function SQLite gets from
# Python.
def _search_function(conn: sqlite3.Connection) -> None:
    if dialect_of(conn).name == "postgresql":
        conn.execute("""CREATE OR REPLACE FUNCTION contains_ci(haystack text, needle text)
                        RETURNS boolean LANGUAGE sql IMMUTABLE AS
                        'SELECT strpos(lower(haystack), lower(needle)) > 0'""")


_V6: tuple = (
    "ALTER TABLE cases ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        full_name TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL CHECK (role IN ('technician', 'reviewer', 'admin')),
        password_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        password_changed_at TEXT
    )""",
    """CREATE TABLE account_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        user_name TEXT NOT NULL,
        detail TEXT
    )""",
    _search_function,
)

# The account log as a hash chain, like the case audit (lab_app/core/account_integrity.py): the
# entries written before are chained as they are, and each account gets an entry recording its
# row as it is now.
def _seal_account_log(conn: sqlite3.Connection) -> None:
    from .account_integrity import seal_legacy
    seal_legacy(conn)


_V7: tuple = (
    "ALTER TABLE account_audit ADD COLUMN prev_hash TEXT",
    "ALTER TABLE account_audit ADD COLUMN content_hash TEXT",
    "ALTER TABLE account_audit ADD COLUMN entry_hash TEXT",
    _seal_account_log,
)

# MIGRATIONS[i] takes the database from version i + 1 to version i + 2 (the first is v1 itself).
# A step is SQL statements, or a function of the connection run in the same transaction.
MIGRATIONS: tuple[tuple, ...] = (SCHEMA_V1, _V2, _V3, _V4, _V5, _V6, _V7)
CURRENT_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return dialect_of(conn).schema_version(conn)


def migrate(conn: sqlite3.Connection, db_path: Path | None = None) -> int:
    """Bring the database to CURRENT_VERSION; returns the version it had before.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each step runs in its own
    explicit ``BEGIN IMMEDIATE`` transaction.
    """
    dialect = dialect_of(conn)
    start = schema_version(conn)
    if start > CURRENT_VERSION:
        raise CaseStoreError(
            f"The case database was written by a newer version of the software (schema {start}; "
            f"this version reads up to {CURRENT_VERSION}). Update the software to open it.")
    # Tables, then the version again: another workstation may have just created both.
    if start == 0 and _has_tables(conn) and schema_version(conn) == 0:
        if dialect.name != "sqlite":
            raise CaseStoreError("The PostgreSQL database has tables but is not a case database "
                                 "of this software; give the case store a database of its own.")
        raise CaseStoreError("The file is an SQLite database but not a case database of this "
                             "software; choose another data folder.")
    if 0 < start < CURRENT_VERSION and db_path is not None:
        _backup(conn, db_path.with_name(f"{db_path.name}.schema-v{start}.bak"))
    for version in range(start + 1, CURRENT_VERSION + 1):
        dialect.begin_migration(conn)
        try:
            # Another process may have migrated while we waited for the write lock.
            if schema_version(conn) >= version:
                conn.execute("COMMIT")
                continue
            for statement in MIGRATIONS[version - 1]:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(dialect.ddl(statement))
            dialect.set_schema_version(conn, version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return start


def _has_tables(conn: sqlite3.Connection) -> bool:
    return dialect_of(conn).has_tables(conn)


def _backup(conn: sqlite3.Connection, target: Path) -> None:
    if target.exists():
        return  # an earlier, interrupted migration already saved the original
    if os.name == "posix":
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
    dest = sqlite3.connect(target)
    try:
        conn.backup(dest)
    finally:
        dest.close()
