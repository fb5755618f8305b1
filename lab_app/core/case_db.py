"""The two back ends of the case store: SQLite (one PC, the default) and PostgreSQL (a lab network).

:class:`lab_app.core.cases.CaseStore` speaks one SQL (SQLite's, with ``?`` parameters) to a
connection with the part of the ``sqlite3.Connection`` interface it uses (``execute`` returning
a cursor with ``fetchone``/``fetchall``/iteration/``lastrowid``/``rowcount``; rows indexed by
position or column name, with ``keys()``). For PostgreSQL, :class:`PgConnection` wraps a psycopg 3
connection to offer exactly that; what differs between the two lives in a :class:`Dialect`:

* transactions: SQLite ``BEGIN IMMEDIATE`` takes the database write lock; PostgreSQL writes run
  ``READ COMMITTED`` and lock the case row (``SELECT ... FOR UPDATE``) before reading it, so two
  workstations changing one case take turns and the audit chain of a case never forks; reads
  run ``REPEATABLE READ`` (one snapshot, as SQLite's read transaction);
* the schema version: ``PRAGMA user_version`` or the one-row table ``labapp_schema``;
* DDL: the migrations are written once (SQLite's types); :meth:`PostgresDialect.ddl` maps
  ``INTEGER PRIMARY KEY AUTOINCREMENT`` to an identity column, ``INTEGER`` to ``BIGINT`` and
  ``REAL`` to ``DOUBLE PRECISION`` (so stored numbers, and the audit chain's hashes of them, are
  the same on both back ends).

psycopg is imported only when a ``postgresql://`` URL is opened; a standalone PC never needs it.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import CaseStoreError

POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")
# Whatever number: held by the migrating process so two workstations never migrate at once.
_MIGRATION_LOCK = 0x1AB5C45E


def is_postgres_url(location: Any) -> bool:
    if location is None or not isinstance(location, str):
        return False
    match = _SCHEME.match(location)
    return match is not None and match.group(1).lower() in POSTGRES_SCHEMES


def redact(url: str) -> str:
    """The URL without its password (for messages and the window title)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def database_errors() -> tuple[type[BaseException], ...]:
    """The driver errors a store operation turns into a CaseStoreError sentence."""
    errors: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
    try:
        import psycopg
    except ImportError:
        return errors
    return errors + (psycopg.Error,)


class SqliteDialect:
    name = "sqlite"
    for_update = ""

    def begin_write(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def begin_read(self, conn: Any) -> None:
        conn.execute("BEGIN")

    def begin_migration(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def schema_version(self, conn: Any) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, conn: Any, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def has_tables(self, conn: Any) -> bool:
        return bool(conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
                    .fetchone()[0])

    def ddl(self, statement: str) -> str:
        return statement

    def serialize(self, conn: Any, key: int) -> None:
        """Nothing: ``BEGIN IMMEDIATE`` already made this the only writer."""


class PostgresDialect:
    name = "postgresql"
    for_update = " FOR UPDATE"

    def begin_write(self, conn: Any) -> None:
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")

    def begin_read(self, conn: Any) -> None:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def begin_migration(self, conn: Any) -> None:
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        conn.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")

    def schema_version(self, conn: Any) -> int:
        # A query of pg_class (this statement's snapshot), not to_regclass(): its name cache
        # may still miss a table another workstation's migration has just committed.
        if not conn.execute("SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                            "ON n.oid = c.relnamespace WHERE c.relname = 'labapp_schema' "
                            "AND n.nspname = current_schema()").fetchone()[0]:
            return 0
        row = conn.execute("SELECT version FROM labapp_schema").fetchone()
        return 0 if row is None else int(row[0])

    def set_schema_version(self, conn: Any, version: int) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS labapp_schema (version INTEGER NOT NULL)")
        if conn.execute("UPDATE labapp_schema SET version = ?", (int(version),)).rowcount == 0:
            conn.execute("INSERT INTO labapp_schema (version) VALUES (?)", (int(version),))

    def has_tables(self, conn: Any) -> bool:
        return bool(conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_name != 'labapp_schema'").fetchone()[0])

    _DDL = ((re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"),
             "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
            (re.compile(r"\bINTEGER\b"), "BIGINT"),
            (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"))

    def serialize(self, conn: Any, key: int) -> None:
        """Make the rest of this transaction the only one holding ``key`` (an advisory lock,
        released at COMMIT/ROLLBACK): writers of one hash chain take turns."""
        conn.execute(f"SELECT pg_advisory_xact_lock({int(key)})")

    def ddl(self, statement: str) -> str:
        for pattern, replacement in self._DDL:
            statement = pattern.sub(replacement, statement)
        return statement


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()


def dialect_of(conn: Any) -> SqliteDialect | PostgresDialect:
    return getattr(conn, "dialect", SQLITE)


# ------------------------------------------------------------------------------ PostgreSQL
class Row:
    """A result row like ``sqlite3.Row``: by position or by column name, ``keys()``, ``dict(row)``."""

    __slots__ = ("_values", "_names", "_index")

    def __init__(self, values: tuple, names: tuple[str, ...], index: dict[str, int]) -> None:
        self._values, self._names, self._index = values, names, index

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and (self._names, self._values) == (other._names, other._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._names, self._values))!r})"


def _row_factory(cursor: Any):
    names = tuple(c.name for c in cursor.description or ())
    index = {n: i for i, n in enumerate(names)}
    return lambda values: Row(tuple(values), names, index)


def translate(sql: str, has_params: bool) -> str:
    """SQLite's ``?`` parameters to psycopg's ``%s`` (and ``%`` to ``%%`` when there are
    parameters), outside quoted literals."""
    if not has_params:
        return sql
    out, quote = [], None
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


_INSERT = re.compile(r"^\s*INSERT\s+INTO\s", re.IGNORECASE)


class PgCursor:
    def __init__(self, cursor: Any, lastrowid: int | None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid
        self.rowcount = cursor.rowcount

    def fetchone(self):
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self):
        return iter(self.fetchall())


class PgConnection:
    """A psycopg 3 connection in autocommit mode (transactions are explicit, as the store's
    SQLite connections) with the ``sqlite3.Connection`` methods the store uses."""

    dialect = POSTGRES

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise CaseStoreError(
                "A PostgreSQL case database needs the psycopg driver, which is not installed "
                "(pip install 'psycopg[binary]', or the lab installer).") from exc
        self.url = url
        try:
            # Client-side binding: parameters are quoted by psycopg into the statement, so SQL
            # written for SQLite (e.g. "? IS NULL") needs no parameter types.
            self._conn = psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor,
                                         connect_timeout=max(1, int(timeout_s)),
                                         application_name="labapp")
        except psycopg.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CaseStoreError(f"The case database {redact(url)} cannot be reached ({detail}); "
                                 "check the server address, the database name and your "
                                 "account, or ask the lab's IT.") from exc
        self._conn.row_factory = _row_factory
        # A writer waiting for another workstation's case lock gives up after the busy timeout.
        self._conn.execute(f"SET lock_timeout = {int(timeout_s * 1000)}")

    def execute(self, sql: str, params: Any = ()) -> PgCursor:
        params = tuple(params) if params else None
        lastrowid = None
        is_insert = bool(_INSERT.match(sql)) and "RETURNING" not in sql.upper()
        if is_insert and sql.lstrip().upper().startswith("INSERT INTO LABAPP_SCHEMA"):
            is_insert = False
        if is_insert:
            sql = sql.rstrip().rstrip(";") + " RETURNING id"
        cur = self._conn.execute(translate(sql, params is not None), params)
        if is_insert:
            row = cur.fetchone()
            lastrowid = None if row is None else int(row[0])
        return PgCursor(cur, lastrowid)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus
        return self._conn.info.transaction_status in (TransactionStatus.INTRANS,
                                                      TransactionStatus.INERROR,
                                                      TransactionStatus.ACTIVE)

    def close(self) -> None:
        self._conn.close()
