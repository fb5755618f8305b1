"""The case store: patients, samples, analysed images, review decisions, sign-off and audit log.

Storage
    One SQLite file, ``cases.sqlite3``, in the per-user data folder (platformdirs
    ``user_data_dir("ALL-Workstation")``); ``CaseStore(path)`` or ``$LABAPP_DATA_DIR`` override it.
    WAL journal, ``synchronous=FULL``, foreign keys on, file mode 0600 on POSIX (SQLite gives
    the -wal/-shm files the same mode). Schema and migrations: :mod:`lab_app.core.cases_schema`.
    A lab network's shared store is a PostgreSQL database instead (``CaseStore("postgresql://
    user@host:port/dbname")``; :mod:`lab_app.core.case_db`): the same schema, migrations, rules
    and audit chain; writers of one case lock its row, and ``expected_version`` on the edits
    refuses a change made on a version another workstation has changed since
    (:class:`CaseConflictError`).

Data safety
    Every public method that changes data runs in exactly one ``BEGIN IMMEDIATE`` transaction,
    including its audit entries, so a killed process leaves either all of a change or none of it.
    ``create_case(..., results=[...])`` stores a case and its images in one transaction.

Threads
    Each thread gets its own connection (``threading.local``); SQLite serialises writers (the
    write lock is taken at ``BEGIN IMMEDIATE``, waiting up to ``busy_timeout_s``) and WAL lets
    readers go on meanwhile, so the GUI thread and an analysis worker may both call the store.
    ``close()`` closes every thread's connection; call it when no other thread uses the store.

Review rules
    * A decision is ``pending``, ``accepted`` (the prediction stands) or ``overridden`` (to another
      class, with a required reason). Images that failed to analyse cannot be reviewed; images
      flagged ``out_of_scope`` can only be overridden (accepting "no call" means nothing).
    * Re-analysis (``add_result`` for an image already in the case: same sha256, or same path where
      a sha256 is unknown) replaces the result. An *accepted* decision is reset to pending when the
      new result no longer supports it (prediction changed, or the image failed / went out of
      scope), because "accepted" would otherwise silently mean another class. An *overridden*
      decision is kept: it is the technician's own call, independent of the model. Both the new
      result and any reset are written to the audit log.
    * ``sign_off`` needs every in-scope image reviewed, records the technician (and the reviewer,
      required when the lab requires one; not the same person) and locks the case: ordinary edits
      raise :class:`CaseLockedError`. Later changes go through ``amend(...)`` with a reason; the
      case becomes ``amended`` and stays locked, and the amendment is listed on the next report.

Every change of case data, a result or a decision appends an :class:`AuditEntry`
(who, when in UTC ISO 8601, which field/image, old -> new).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.atomic import atomic_write_text
from model.classes import CLASS_IDS, DISPLAY_NAMES

from . import case_integrity
from .case_db import (POSTGRES, POSTGRES_SCHEMES, SQLITE, PgConnection, database_errors,
                      is_postgres_url, redact)
from .case_export import case_to_csv, case_to_json
from .case_integrity import CaseIntegrity
from .case_models import (ACCEPTED, AMENDED, DECISIONS, OPEN, OVERRIDDEN, PENDING, SIGNED, Amendment,
                          AuditEntry, Case, CaseImage, CaseInfo, Decision, LabInfo, Patient, Sample,
                          direction_override_problem)
from .case_summary import MIN_REVIEWED, CaseSummary, summarize
from .cases_schema import migrate
from .errors import CaseConflictError, CaseLockedError, CaseStoreError
from .results import ImageResult
from .vocabulary import FLAG_OUT_OF_SCOPE

__all__ = ["CaseStore", "DecisionChange", "default_data_dir", "resolve_db_path", "DB_FILE_NAME",
           "Patient", "Sample", "LabInfo", "Case", "CaseImage", "CaseInfo", "Decision",
           "AuditEntry", "Amendment", "CaseSummary"]

APP_DIR_NAME = "ALL-Workstation"
DATA_ENV = "LABAPP_DATA_DIR"
DB_FILE_NAME = "cases.sqlite3"

# update_case/amend field name -> column. Only these can be edited after creation.
EDITABLE_FIELDS: dict[str, str] = {
    "patient_id": "patient_id", "patient_name": "patient_name",
    "patient_birth_date": "patient_birth_date", "patient_sex": "patient_sex",
    "sample_id": "sample_id", "specimen": "specimen", "collected_on": "collected_on",
    "received_on": "received_on", "physician": "physician", "technician": "technician",
    "reviewer": "reviewer", "lab_name": "lab_name", "lab_address": "lab_address",
    "lab_logo_path": "lab_logo_path",
}
_DATE_FIELDS = {"patient_birth_date", "collected_on", "received_on"}
_NULLABLE = {"patient_birth_date", "collected_on", "received_on", "lab_logo_path"}


@dataclass(frozen=True)
class DecisionChange:
    """One decision change inside an amendment."""
    image_id: int
    decision: str
    override_class: str | None = None
    reason: str | None = None


def default_data_dir() -> Path:
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    from platformdirs import user_data_dir  # late import: only needed for the default
    return Path(user_data_dir(APP_DIR_NAME, appauthor=False))


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")   # two letters at least: C:/ is a drive


def check_db_location(path: str | os.PathLike[str] | None) -> None:
    """Refuse a database location this version cannot use (a URL other than PostgreSQL's),
    before anything is created: ``mysql://host/db`` would otherwise become a local folder."""
    if path is None:
        return
    match = _URL.match(os.fspath(path))
    if match is None:
        return
    scheme = match.group(1).lower()
    if scheme in POSTGRES_SCHEMES:
        if isinstance(path, str) and "://" in path:
            return      # a lab network's shared store (lab_app/core/case_db.py)
        raise CaseStoreError(f"Give the PostgreSQL database as a URL, "
                             f"postgresql://user@host:port/dbname, not {os.fspath(path)}.")
    raise CaseStoreError(f"The case database must be a file or folder on this computer, or a "
                         f"PostgreSQL server (postgresql://user@host:port/dbname), not a "
                         f"{scheme} URL: {os.fspath(path)}.")


def resolve_db_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The database file: ``path`` (a file, or an existing folder), else the data folder's file."""
    if path is None:
        return default_data_dir() / DB_FILE_NAME
    p = Path(path)
    return p / DB_FILE_NAME if p.is_dir() else p


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class CaseStore:
    """The case database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 clock: Callable[[], str] = utc_now, busy_timeout_s: float = 10.0) -> None:
        check_db_location(path)
        # A postgresql:// URL: the lab network's shared store; else the SQLite file (path None
        # for PostgreSQL; ``location`` names either, without a password, in messages).
        self.url = path if is_postgres_url(path) else None
        self.path = None if self.url else resolve_db_path(path)
        self.dialect = POSTGRES if self.url else SQLITE
        self.location = redact(self.url) if self.url else str(self.path)
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        if self.url is None:
            self._prepare_file()
        conn = self._conn()
        try:
            migrate(conn, self.path)
        except database_errors() as exc:
            self.close()
            raise CaseStoreError(f"The case database {self.location} cannot be opened "
                                 f"({exc}).") from exc
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- connections & transactions
    def _prepare_file(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if os.name == "posix":
                # Create it private before SQLite does; tighten an existing file too.
                fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
                os.chmod(self.path, 0o600)
        except OSError as exc:
            raise CaseStoreError(f"The case database {self.path} cannot be created "
                                 f"({exc.strerror}).") from exc

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self.url is not None:
            conn = PgConnection(self.url, timeout_s=self._busy_timeout_s)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
            return conn
        try:
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise CaseStoreError(f"The case database {self.path} cannot be opened ({exc}).") from exc
        # Case-insensitive substring match that also folds non-ASCII letters (SQLite's LIKE doesn't).
        conn.create_function("contains_ci", 2, _contains_ci, deterministic=True)
        self._local.conn = conn
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> "CaseStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock; rolled back on any error."""
        conn = self._conn()
        try:
            self.dialect.begin_write(conn)
        except database_errors() as exc:
            self._drop_broken(conn)
            raise CaseStoreError(f"The case database is busy or read-only ({exc}); try again.") from exc
        self._local.unsealed = []
        self._local.writing = True
        try:
            yield conn
            # Each audit entry of this transaction hashes the previous one and the committed
            # content it changed (lab_app/core/case_integrity.py).
            case_integrity.seal(conn, self._local.unsealed)
            conn.execute("COMMIT")
        except BaseException as exc:
            if self._drop_broken(conn):
                pass
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, database_errors()):
                raise CaseStoreError(f"The change could not be saved ({exc}); nothing was "
                                     "changed.") from exc
            raise
        finally:
            self._local.writing = False

    def _drop_broken(self, conn: Any) -> bool:
        """Forget a PostgreSQL connection the server or network ended, so that the next call
        connects again (True when it was dropped)."""
        inner = getattr(conn, "_conn", None)
        if inner is None or not (inner.broken or inner.closed):
            return False
        self._local.conn = None
        with self._conns_lock:
            if conn in self._conns:
                self._conns.remove(conn)
        conn.close()
        return True

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one consistent snapshot."""
        conn = self._conn()
        try:
            self.dialect.begin_read(conn)
        except database_errors() as exc:
            if self.url is None:
                raise
            self._drop_broken(conn)
            raise CaseStoreError(f"The case database {self.location} cannot be read ({exc}); "
                                 "try again.") from exc
        try:
            yield conn
        except database_errors() as exc:
            if self.url is None:
                raise
            if not self._drop_broken(conn) and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise CaseStoreError(f"The case database {self.location} cannot be read ({exc}).") from exc
        finally:
            if not self._drop_broken(conn) and conn.in_transaction:
                conn.execute("COMMIT")

    # ----------------------------------------------------------------------------------- cases
    def create_case(self, *, patient: Patient | None = None, sample: Sample | None = None,
                    technician: str = "", physician: str = "", reviewer: str = "",
                    lab: LabInfo | None = None, actor: str | None = None,
                    results: Iterable[ImageResult] = ()) -> Case:
        """Store a new case (and optionally its first results) in one transaction."""
        patient = patient or Patient()
        sample = sample or Sample()
        lab = lab or LabInfo()
        actor = _actor(actor or technician or "unknown")
        for name, value in (("patient_birth_date", patient.birth_date),
                            ("collected_on", sample.collected_on),
                            ("received_on", sample.received_on)):
            _check_date(name, value)
        for name, value in (("patient_id", patient.id), ("patient_name", patient.name),
                            ("patient_sex", patient.sex), ("sample_id", sample.id),
                            ("specimen", sample.specimen), ("physician", physician),
                            ("technician", technician), ("reviewer", reviewer),
                            ("lab_name", lab.name), ("lab_address", lab.address)):
            _check_text(name, value)
        now = self._clock()
        with self._write() as c:
            cur = c.execute(
                """INSERT INTO cases (created_at, updated_at, patient_id, patient_name,
                       patient_birth_date, patient_sex, sample_id, specimen, collected_on,
                       received_on, physician, lab_name, lab_address, lab_logo_path, technician,
                       reviewer, status)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (now, now, patient.id.strip(), patient.name.strip(), patient.birth_date,
                 patient.sex.strip(), sample.id.strip(), sample.specimen.strip(),
                 sample.collected_on, sample.received_on, physician.strip(), lab.name,
                 lab.address, lab.logo_path, technician.strip(), reviewer.strip(), OPEN))
            case_id = int(cur.lastrowid)
            self._audit(c, case_id, actor, "create", now, new=_describe_new_case(patient, sample))
            for result in results:
                self._apply_result(c, case_id, result, actor, now, action="add_image")
            return self._load_case(c, case_id)

    def get_case(self, case_id: int) -> Case:
        with self._read() as c:
            return self._load_case(c, case_id)

    def update_case(self, case_id: int, actor: str, *, expected_version: int | None = None,
                    **fields: Any) -> Case:
        """Change case fields (see EDITABLE_FIELDS); each changed field is audited.
        ``expected_version``: the :attr:`Case.version` the edit was made on (CaseConflictError
        when another workstation changed the case since)."""
        actor = _actor(actor)
        now = self._clock()
        with self._write() as c:
            row = self._case_row(c, case_id)
            _require_open(row)
            self._check_version(c, row, expected_version)
            if self._apply_fields(c, row, fields, actor, now, action="update"):
                self._bump_version(c, row, "status = 'open'")
            return self._load_case(c, case_id)

    def list_cases(self) -> list[CaseInfo]:
        """All cases, newest first."""
        with self._read() as c:
            return [_case_info(r) for r in c.execute(_LIST_SQL + " ORDER BY c.id DESC")]

    def search(self, text: str) -> list[CaseInfo]:
        """Cases whose patient ID, sample ID or patient name contains ``text`` (any case)."""
        needle = text.strip()
        if not needle:
            return self.list_cases()
        with self._read() as c:
            rows = c.execute(_LIST_SQL + """ WHERE contains_ci(c.patient_id, ?)
                   OR contains_ci(c.sample_id, ?) OR contains_ci(c.patient_name, ?)
                   ORDER BY c.id DESC""", (needle, needle, needle))
            return [_case_info(r) for r in rows]

    # ------------------------------------------------------------------------ images & review
    def add_result(self, case_id: int, result: ImageResult, *, actor: str = "analysis") -> CaseImage:
        """Add an analysed image, or replace the result of an image already in the case."""
        actor = _actor(actor)
        now = self._clock()
        with self._write() as c:
            _require_open(self._case_row(c, case_id))
            image_id, _ = self._apply_result(c, case_id, result, actor, now, action="add_image")
            return self._load_image(c, image_id)

    def set_decision(self, case_id: int, image_id: int, actor: str, decision: str,
                     override_class: str | None = None, reason: str | None = None, *,
                     expected_version: int | None = None) -> CaseImage:
        """Record the technician's decision on one image (audited). The image's
        ``case_version`` is the case's version after the change."""
        actor = _actor(actor)
        now = self._clock()
        with self._write() as c:
            row = self._case_row(c, case_id)
            _require_open(row)
            self._check_version(c, row, expected_version)
            version = row["version"]
            if self._apply_decision(c, case_id, DecisionChange(image_id, decision, override_class,
                                                               reason), actor, now, action="decision"):
                version = self._bump_version(c, row, "status = 'open'")
            image = self._load_image(c, image_id)
            image.case_version = version
            return image

    def summary(self, case_id: int, *, min_reviewed: int = MIN_REVIEWED) -> CaseSummary:
        return summarize(self.get_case(case_id).images, min_reviewed=min_reviewed)

    # --------------------------------------------------------------------- sign-off & amendment
    def sign_off(self, case_id: int, technician: str, reviewer: str | None = None, *,
                 require_reviewer: bool = False, expected_version: int | None = None,
                 meaning: str | None = None, reviewer_meaning: str | None = None) -> Case:
        """Sign the case off and lock it. ``require_reviewer`` comes from LabSettings.

        ``meaning`` (and ``reviewer_meaning``): what the signature means, recorded as the reason
        of the sign-off audit entries (an e-signature, lab_app/core/accounts.py). The lock is
        checked by the database: the UPDATE only changes an open case of the expected version."""
        technician = (technician or "").strip()
        reviewer = (reviewer or "").strip()
        if not technician:
            raise CaseStoreError("Sign-off needs the technician's name.")
        if require_reviewer and not reviewer:
            raise CaseStoreError("This lab requires a reviewer to sign off as well; enter the "
                                 "reviewer's name.")
        if reviewer and reviewer.casefold() == technician.casefold():
            raise CaseStoreError("The reviewer must be a different person from the technician.")
        now = self._clock()
        with self._write() as c:
            row = self._case_row(c, case_id)
            if row["status"] != OPEN:
                raise CaseLockedError(f"Case {case_id} is already signed off; use an amendment "
                                      "to change it.")
            self._check_version(c, row, expected_version)
            self._require_intact(c, case_id, whole_case=True)   # never sign what was altered
            case = self._load_case(c, case_id)
            pending = [img for img in case.images if img.in_scope and img.decision.status == PENDING]
            if pending:
                names = ", ".join(Path(img.path).name for img in pending[:3])
                more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
                raise CaseStoreError(f"{len(pending)} image(s) still need a decision before "
                                     f"sign-off: {names}{more}.")
            signed = c.execute("""UPDATE cases SET status = ?, signed_by = ?, signed_at = ?,
                             reviewer_signed_by = ?, reviewer_signed_at = ?, updated_at = ?,
                             reviewer = CASE WHEN ? != '' THEN ? ELSE reviewer END,
                             technician = CASE WHEN technician = '' THEN ? ELSE technician END,
                             version = version + 1
                         WHERE id = ? AND status = 'open' AND version = ?""",
                      (SIGNED, technician, now, reviewer or None, now if reviewer else None, now,
                       reviewer, reviewer, technician, case_id, row["version"]))
            if signed.rowcount != 1:
                raise CaseLockedError(f"Case {case_id} was signed off or changed at another "
                                      "workstation meanwhile; open it again to see it.")
            self._audit(c, case_id, technician, "sign_off", now, field="technician", new=technician,
                        reason=meaning)
            if reviewer:
                self._audit(c, case_id, reviewer, "sign_off", now, field="reviewer", new=reviewer,
                            reason=reviewer_meaning or meaning)
            return self._load_case(c, case_id)

    def amend(self, case_id: int, actor: str, reason: str, *,
              fields: Mapping[str, Any] | None = None,
              decisions: Iterable[DecisionChange] = (),
              results: Iterable[ImageResult] = (),
              expected_version: int | None = None) -> Case:
        """Change a signed-off case: field edits, decision changes and/or new results, one reason.

        All changes are applied in one transaction, audited with action ``amend`` and the reason,
        and summarised in an :class:`Amendment` that the next report prints. The case stays locked.
        """
        actor = _actor(actor)
        reason = (reason or "").strip()
        if not reason:
            raise CaseStoreError("An amendment needs a reason.")
        now = self._clock()
        with self._write() as c:
            row = self._case_row(c, case_id)
            if row["status"] == OPEN:
                raise CaseStoreError(f"Case {case_id} is not signed off; edit it directly "
                                     "instead of amending it.")
            self._check_version(c, row, expected_version)
            self._require_intact(c, case_id, whole_case=True)
            changes = self._apply_fields(c, row, dict(fields or {}), actor, now, action="amend",
                                         reason=reason)
            for result in results:
                changes += self._apply_result(c, case_id, result, actor, now, action="amend",
                                              reason=reason)[1]
            for change in decisions:
                changes += self._apply_decision(c, case_id, change, actor, now, action="amend",
                                                reason=reason)
            if not changes:
                raise CaseStoreError("The amendment changes nothing.")
            c.execute("INSERT INTO amendments (case_id, at, actor, reason, changes) VALUES (?,?,?,?,?)",
                      (case_id, now, actor, reason, "; ".join(changes)))
            c.execute("UPDATE cases SET status = ?, updated_at = ? WHERE id = ?", (AMENDED, now, case_id))
            self._bump_version(c, row, "status != 'open'")
            return self._load_case(c, case_id)

    def audit(self, case_id: int) -> list[AuditEntry]:
        with self._read() as c:
            self._case_row(c, case_id)
            rows = c.execute("SELECT * FROM audit WHERE case_id = ? ORDER BY id", (case_id,))
            known = set(AuditEntry.__dataclass_fields__)
            return [AuditEntry(**{k: r[k] for k in r.keys() if k in known}) for r in rows]

    # ------------------------------------------------------------------------------- export
    def export_json(self, case_id: int, out_path: str | os.PathLike[str], *,
                    overwrite: bool = False) -> Path:
        """The case, its summary and its audit log as JSON (UTF-8), written atomically."""
        with self._read() as c:
            case = self._load_case(c, case_id)
            case.integrity = case_integrity.verify_case(c, case_id)
        text = case_to_json(case, summarize(case.images), self.audit(case_id), self._clock())
        return _write_export(out_path, text, overwrite)

    def export_csv(self, case_id: int, out_path: str | os.PathLike[str], *,
                   overwrite: bool = False) -> Path:
        """One row per image with the case fields (UTF-8 with BOM so spreadsheets detect it)."""
        case = self.get_case(case_id)
        return _write_export(out_path, "\ufeff" + case_to_csv(case, summarize(case.images)), overwrite)

    # ------------------------------------------------------------------------------ internals
    def _case_row(self, c: sqlite3.Connection, case_id: int) -> sqlite3.Row:
        # In a write, PostgreSQL locks the case row first: writers of one case take turns (as
        # SQLite's BEGIN IMMEDIATE makes every writer do), so its audit chain never forks.
        lock = self.dialect.for_update if getattr(self._local, "writing", False) else ""
        row = c.execute("SELECT * FROM cases WHERE id = ?" + lock, (case_id,)).fetchone()
        if row is None:
            raise CaseStoreError(f"There is no case {case_id} in the case database.")
        return row

    def _check_version(self, c: sqlite3.Connection, row: sqlite3.Row,
                       expected_version: int | None) -> None:
        """No lost update: refuse an edit made on a version of the case another workstation
        has changed since."""
        if expected_version is None or row["version"] == expected_version:
            return
        last = c.execute("SELECT actor, at FROM audit WHERE case_id = ? ORDER BY id DESC LIMIT 1",
                         (row["id"],)).fetchone()
        by = f" (last by {last['actor']} at {last['at']})" if last is not None else ""
        raise CaseConflictError(
            f"Case {row['id']} was changed at another workstation since you opened it{by}; your "
            "change was not saved. Open the case again to see the latest version, then make "
            "your change again.")

    def _bump_version(self, c: sqlite3.Connection, row: sqlite3.Row, status_is: str) -> int:
        """Count a change of the case, checked by the database: the row must still be at the
        version (and status) it was read at."""
        cur = c.execute(f"UPDATE cases SET version = version + 1 WHERE id = ? AND version = ? "
                        f"AND {status_is}", (row["id"], row["version"]))
        if cur.rowcount != 1:
            raise CaseConflictError(f"Case {row['id']} was changed at another workstation "
                                    "meanwhile; your change was not saved. Open the case again.")
        return int(row["version"]) + 1

    def _audit(self, c: sqlite3.Connection, case_id: int, actor: str, action: str, at: str, *,
               field: str | None = None, image_id: int | None = None, old: Any = None,
               new: Any = None, reason: str | None = None) -> None:
        cur = c.execute("""INSERT INTO audit (case_id, at, actor, action, field, image_id, old, new,
                                              reason) VALUES (?,?,?,?,?,?,?,?,?)""",
                        (case_id, at, actor, action, field, image_id, _text(old), _text(new), reason))
        self._local.unsealed.append(int(cur.lastrowid))

    def _require_intact(self, c: sqlite3.Connection, case_id: int, image_id: int | None = None,
                        *, whole_case: bool = False) -> None:
        """Refuse to change what was changed outside the program: the next legitimate change
        would otherwise seal over it. The case stays read-only until it is checked."""
        if whole_case:
            found = case_integrity.verify_case(c, case_id)
            if found.intact:
                return
            raise CaseLockedError(found.message() + " It is read-only until checked.")
        if not case_integrity.target_intact(c, case_id, image_id, self._local.unsealed):
            what = f"image {image_id}" if image_id is not None else "the case details"
            raise CaseLockedError(
                f"Case {case_id} was changed outside the program ({what} differ from the audit "
                "log); it is read-only until checked (labapp-report --verify lists what "
                "differs).")

    def verify_case(self, case_id: int) -> CaseIntegrity:
        """Walk the case's audit chain and compare each image and the case row with it."""
        with self._read() as c:
            self._case_row(c, case_id)
            return case_integrity.verify_case(c, case_id)

    def verify_all(self) -> list[CaseIntegrity]:
        """Every case of the database, checked (labapp-report --verify)."""
        with self._read() as c:
            return [case_integrity.verify_case(c, int(r[0]))
                    for r in c.execute("SELECT id FROM cases ORDER BY id").fetchall()]

    def _apply_fields(self, c: sqlite3.Connection, row: sqlite3.Row, fields: dict[str, Any],
                      actor: str, now: str, *, action: str, reason: str | None = None) -> list[str]:
        unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
        if unknown:
            raise CaseStoreError(f"These case fields cannot be edited: {', '.join(unknown)}.")
        changes = []
        for name, value in fields.items():
            value = _clean_field(name, value)
            old = row[EDITABLE_FIELDS[name]]
            if value == old:
                continue
            if not changes:
                self._require_intact(c, row["id"])
            c.execute(f"UPDATE cases SET {EDITABLE_FIELDS[name]} = ?, updated_at = ? WHERE id = ?",
                      (value, now, row["id"]))
            self._audit(c, row["id"], actor, action, now, field=name, old=old, new=value, reason=reason)
            changes.append(f"{name}: {old or '(empty)'} -> {value or '(empty)'}")
        return changes

    def _find_image(self, c: sqlite3.Connection, case_id: int,
                    result: ImageResult) -> tuple[sqlite3.Row | None, str | None]:
        """(the stored image this result re-analyses, or None; the path it duplicates, or None).

        The same path with the same (or an unknown) sha256 is the same image. The same sha256 at
        another path is the same image moved, when that file is gone; when it is still there (or
        the analysis said so), the result is a byte-identical duplicate: its own row, naming the
        first, never merged away."""
        row = c.execute("""SELECT * FROM images WHERE case_id = ? AND path = ?
                           AND (sha256 IS NULL OR ? IS NULL OR sha256 = ?) ORDER BY id LIMIT 1""",
                        (case_id, result.path, result.sha256, result.sha256)).fetchone()
        if row is not None:
            return row, row["duplicate_of"]
        if not result.sha256:
            return None, None
        first = c.execute("""SELECT * FROM images WHERE case_id = ? AND sha256 = ?
                             ORDER BY id LIMIT 1""", (case_id, result.sha256)).fetchone()
        if first is None:
            return None, None
        if result.duplicate_of or os.path.exists(first["path"]):
            return None, first["path"]
        return first, None

    def _apply_result(self, c: sqlite3.Connection, case_id: int, result: ImageResult, actor: str,
                      now: str, *, action: str, reason: str | None = None) -> tuple[int, list[str]]:
        _check_result(result)
        existing, duplicate_of = self._find_image(c, case_id, result)
        result.duplicate_of = duplicate_of
        values = _result_columns(result)
        name = Path(result.path).name
        if existing is None:
            cols = ", ".join(values)
            cur = c.execute(f"INSERT INTO images (case_id, added_at, {cols}) VALUES (?, ?, "
                            f"{', '.join('?' for _ in values)})", (case_id, now, *values.values()))
            image_id = int(cur.lastrowid)
            self._audit(c, case_id, actor, action, now, field="result", image_id=image_id,
                        new=_describe_result(result), reason=reason)
            self._touch(c, case_id, now)
            return image_id, [f"added image {name}: {_describe_result(result)}"]

        image_id = int(existing["id"])
        self._require_intact(c, case_id, image_id)
        old_desc = _describe_result(_row_to_result(existing))
        sets = ", ".join(f"{k} = ?" for k in values)
        c.execute(f"UPDATE images SET {sets} WHERE id = ?", (*values.values(), image_id))
        self._audit(c, case_id, actor, "reanalyse" if action != "amend" else action, now,
                    field="result", image_id=image_id, old=old_desc, new=_describe_result(result),
                    reason=reason)
        changes = [f"image {image_id} ({name}) re-analysed: {old_desc} -> {_describe_result(result)}"]
        if existing["decision"] == ACCEPTED and not _accept_still_valid(existing, result):
            c.execute("""UPDATE images SET decision = ?, override_class = NULL, decision_reason = NULL,
                             decided_by = ?, decided_at = ? WHERE id = ?""",
                      (PENDING, actor, now, image_id))
            why = "re-analysis no longer supports the accepted call"
            self._audit(c, case_id, actor, "decision" if action != "amend" else action, now,
                        field="decision", image_id=image_id, old=ACCEPTED, new=PENDING,
                        reason=why if reason is None else f"{reason} ({why})")
            changes.append(f"image {image_id} decision reset to pending ({why})")
        self._touch(c, case_id, now)
        return image_id, changes

    def _apply_decision(self, c: sqlite3.Connection, case_id: int, change: DecisionChange,
                        actor: str, now: str, *, action: str, reason: str | None = None) -> list[str]:
        row = c.execute("SELECT * FROM images WHERE id = ? AND case_id = ?",
                        (change.image_id, case_id)).fetchone()
        if row is None:
            raise CaseStoreError(f"Image {change.image_id} is not part of case {case_id}.")
        decision, override_class, why = _check_decision(row, change)
        old = _describe_decision(row["decision"], row["override_class"], row["decision_reason"])
        new = _describe_decision(decision, override_class, why)
        if old == new:
            return []
        self._require_intact(c, case_id, change.image_id)
        c.execute("""UPDATE images SET decision = ?, override_class = ?, decision_reason = ?,
                         decided_by = ?, decided_at = ? WHERE id = ?""",
                  (decision, override_class, why, actor, now, change.image_id))
        self._audit(c, case_id, actor, action, now, field="decision", image_id=change.image_id,
                    old=old, new=new, reason=why if reason is None else reason)
        self._touch(c, case_id, now)
        return [f"image {change.image_id} ({Path(row['path']).name}) decision: {old} -> {new}"]

    def _touch(self, c: sqlite3.Connection, case_id: int, now: str) -> None:
        c.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (now, case_id))

    def _load_image(self, c: sqlite3.Connection, image_id: int) -> CaseImage:
        return _row_to_image(c.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone())

    def _load_case(self, c: sqlite3.Connection, case_id: int) -> Case:
        r = self._case_row(c, case_id)
        images = [_row_to_image(row) for row in
                  c.execute("SELECT * FROM images WHERE case_id = ? ORDER BY id", (case_id,))]
        amendments = [Amendment(**{k: a[k] for k in a.keys()}) for a in
                      c.execute("SELECT * FROM amendments WHERE case_id = ? ORDER BY id", (case_id,))]
        return Case(
            id=r["id"],
            patient=Patient(r["patient_id"], r["patient_name"], r["patient_birth_date"], r["patient_sex"]),
            sample=Sample(r["sample_id"], r["specimen"], r["collected_on"], r["received_on"]),
            physician=r["physician"], lab=LabInfo(r["lab_name"], r["lab_address"], r["lab_logo_path"]),
            technician=r["technician"], reviewer=r["reviewer"], status=r["status"],
            created_at=r["created_at"], updated_at=r["updated_at"], signed_by=r["signed_by"],
            signed_at=r["signed_at"], reviewer_signed_by=r["reviewer_signed_by"],
            reviewer_signed_at=r["reviewer_signed_at"], images=images, amendments=amendments,
            version=r["version"])


# ------------------------------------------------------------------------------- row helpers
_LIST_SQL = """SELECT c.id, c.patient_id, c.patient_name, c.sample_id, c.status, c.created_at,
                      c.updated_at, (SELECT count(*) FROM images i WHERE i.case_id = c.id) AS n
               FROM cases c"""


def _case_info(r: sqlite3.Row) -> CaseInfo:
    return CaseInfo(r["id"], r["patient_id"], r["patient_name"], r["sample_id"], r["status"],
                    r["created_at"], r["updated_at"], r["n"])


def _contains_ci(haystack: str | None, needle: str | None) -> bool:
    if haystack is None or needle is None:
        return False
    return needle.casefold() in haystack.casefold()


def _result_columns(result: ImageResult) -> dict[str, Any]:
    """ImageResult.to_row() -> image columns (dicts/lists as JSON)."""
    row = result.to_row()
    model = row["model"] or {}
    file_size = None
    try:
        file_size = os.stat(result.path).st_size
    except OSError:
        pass  # file gone or unreadable: size unknown, the result still counts
    return {
        "path": row["path"], "sha256": row["sha256"], "width": row["width"], "height": row["height"],
        # Schemas v1-v3 have one column for both: the scope reason is kept in `error` on ok rows.
        "file_size": file_size, "status": row["status"],
        "error": row["error"] if row["status"] != "ok" else row["scope_reason"],
        "prediction": row["prediction"], "confidence": row["confidence"],
        "probabilities": json.dumps(row["probabilities"], sort_keys=True), "cells": row["cells"],
        "flags": json.dumps(row["flags"]), "segmentation": json.dumps(row["segmentation"], sort_keys=True),
        "model": json.dumps(model, sort_keys=True), "model_name": model.get("name"),
        "model_version": _text(model.get("version")), "model_sha256": model.get("sha256"),
        "device": row["device"], "analysed_at": row["analysed_at"],
        "acquisition": json.dumps(row["acquisition"], sort_keys=True),
        "duplicate_of": row["duplicate_of"],
    }


def _row_to_result(r: sqlite3.Row) -> ImageResult:
    ok = r["status"] == "ok"
    return ImageResult(
        path=r["path"], status=r["status"], error=None if ok else r["error"],
        scope_reason=r["error"] if ok else None, prediction=r["prediction"],
        confidence=r["confidence"], probabilities=json.loads(r["probabilities"]), cells=r["cells"],
        flags=json.loads(r["flags"]), sha256=r["sha256"], width=r["width"], height=r["height"],
        segmentation=json.loads(r["segmentation"]), model=json.loads(r["model"]),
        device=r["device"], analysed_at=r["analysed_at"],
        acquisition=json.loads(r["acquisition"]), duplicate_of=r["duplicate_of"])


def _row_to_image(r: sqlite3.Row) -> CaseImage:
    return CaseImage(
        id=r["id"], case_id=r["case_id"], path=r["path"], sha256=r["sha256"], width=r["width"],
        height=r["height"], file_size=r["file_size"], result=_row_to_result(r),
        decision=Decision(r["decision"], r["override_class"], r["decision_reason"], r["decided_by"],
                          r["decided_at"]),
        added_at=r["added_at"])


# ------------------------------------------------------------------------------- validation
def _actor(actor: str | None) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise CaseStoreError("Enter your name: every change is recorded with who made it.")
    return actor


def _require_open(row: sqlite3.Row) -> None:
    if row["status"] != OPEN:
        raise CaseLockedError(f"Case {row['id']} is signed off and locked; changes must be made "
                              "as an amendment with a reason.")


def _check_date(name: str, value: Any) -> None:
    if value in (None, ""):
        return
    try:
        dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise CaseStoreError(f"'{value}' is not a valid date for {name.replace('_', ' ')}; "
                             "use YYYY-MM-DD.") from None


def _clean_field(name: str, value: Any) -> Any:
    if value is None:
        if name in _NULLABLE:
            return None
        return ""
    if not isinstance(value, str):
        raise CaseStoreError(f"The field {name.replace('_', ' ')} must be text.")
    value = value.strip()
    if name in _DATE_FIELDS:
        _check_date(name, value)
    _check_text(name, value)
    return value or (None if name in _NULLABLE else "")


def _check_text(name: str, value: str | None) -> None:
    problem = direction_override_problem(name.replace("_", " "), value)
    if problem:
        raise CaseStoreError(problem)


def _check_result(result: ImageResult) -> None:
    if not result.path:
        raise CaseStoreError("An analysis result without an image path cannot be stored.")
    if result.status not in ("ok", "error"):
        raise CaseStoreError(f"Unknown analysis status '{result.status}'.")
    if result.prediction is not None and result.prediction not in CLASS_IDS:
        raise CaseStoreError(f"Unknown predicted class '{result.prediction}'.")


def _check_decision(row: sqlite3.Row, change: DecisionChange) -> tuple[str, str | None, str | None]:
    decision = change.decision
    if decision not in DECISIONS:
        raise CaseStoreError(f"Unknown decision '{decision}'; use pending, accepted or overridden.")
    failed = row["status"] != "ok"
    if failed and decision != PENDING:
        raise CaseStoreError("This image could not be analysed, so there is no call to review.")
    if decision == PENDING:
        return PENDING, None, None
    if decision == ACCEPTED:
        if change.override_class:
            raise CaseStoreError("An accepted call cannot have an override class; choose override.")
        if row["prediction"] is None:
            raise CaseStoreError("This image has no predicted subtype to accept; override it instead.")
        if FLAG_OUT_OF_SCOPE in json.loads(row["flags"]):
            raise CaseStoreError("This image is flagged out of scope; accepting it is not possible, "
                                 "override it with the subtype you see or leave it pending.")
        return ACCEPTED, None, (change.reason or "").strip() or None
    override_class = change.override_class
    if override_class not in CLASS_IDS:
        names = ", ".join(DISPLAY_NAMES[c] for c in CLASS_IDS)
        raise CaseStoreError(f"Choose the subtype to override to ({names}).")
    if override_class == row["prediction"] and FLAG_OUT_OF_SCOPE not in json.loads(row["flags"]):
        raise CaseStoreError("The override equals the predicted subtype; accept the call instead.")
    why = (change.reason or "").strip()
    if not why:
        raise CaseStoreError("An override needs a reason.")
    return OVERRIDDEN, override_class, why


def _accept_still_valid(old: sqlite3.Row, new: ImageResult) -> bool:
    return (new.status == "ok" and new.prediction is not None
            and new.prediction == old["prediction"] and FLAG_OUT_OF_SCOPE not in new.flags)


# ------------------------------------------------------------------------ audit descriptions
def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _describe_result(r: ImageResult) -> str:
    if r.status != "ok":
        return f"error: {r.error or 'unknown'}"
    conf = f" {r.confidence:.1%}" if r.confidence is not None else ""
    model = r.model or {}
    flags = f" flags={','.join(r.flags)}" if r.flags else ""
    return (f"{r.prediction or 'no call'}{conf}{flags} "
            f"(model {model.get('name', '?')} {model.get('version', '?')})")


def _describe_decision(decision: str, override_class: str | None, reason: str | None) -> str:
    if decision == OVERRIDDEN:
        return f"overridden to {override_class}: {reason}"
    return decision


def _describe_new_case(patient: Patient, sample: Sample) -> str:
    return f"patient {patient.id or '(no id)'}, sample {sample.id or '(no id)'}"


def _write_export(out_path: str | os.PathLike[str], text: str, overwrite: bool) -> Path:
    path = Path(out_path)
    if path.exists() and not overwrite:
        raise CaseStoreError(f"{path} already exists; choose another name or allow overwriting.")
    try:
        return atomic_write_text(path, text)
    except OSError as exc:
        raise CaseStoreError(f"The export {path} cannot be written ({exc.strerror}).") from exc
