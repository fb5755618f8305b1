"""A tamper-evident audit log: each audit entry hashes the previous one and the content it changed.

Every audit entry of a case carries (schema v4, :mod:`lab_app.core.cases_schema`):

``content_hash``
    the sha256 of the case row (patient, sample, lab, people, status, sign-off; not
    ``updated_at``) with its amendments, as it stood when the transaction committed, and for an
    entry with an ``image_id`` ':' and the sha256 of that image row (its result, its decision,
    every column);
``prev_hash``
    the ``entry_hash`` of the case's previous entry ('' for the first);
``entry_hash``
    the sha256 of the entry's own fields, ``prev_hash`` and ``content_hash``.

:func:`verify_case` walks the chain and checks that each image and the case row still hash to
what their latest entry recorded, so one SQL UPDATE on a result or a decision, an edited or
deleted audit entry, or an image row inserted outside the program is found. The store checks the
row it is about to change before changing it (:func:`check_target`), so a change made outside
the program is not sealed over by the next legitimate one: the case stays read-only.

This is tamper-evident, not tamper-proof: there is no secret key, so someone who rewrites the
rows *and* recomputes every hash with this code is not caught here; the chain digest printed on
each report (the last ``entry_hash``) is the outside witness for that.

Hashes are over canonical JSON of a row's non-NULL columns, so a later migration that adds a
nullable column leaves every recorded hash valid (a NOT NULL DEFAULT column needs a reseal).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

# updated_at and version (schema v6) change with every change; the entries record the change.
CASE_EXCLUDED = ("updated_at", "version")
ENTRY_FIELDS = ("id", "case_id", "at", "actor", "action", "field", "image_id", "old", "new",
                "reason")
MIGRATION_ACTION = "integrity"


def canonical_sha(obj) -> str:
    """sha256 of canonical JSON: what every hash of a chain (this one, the account log's) is of."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()



def chained_hash(entry: dict, fields: tuple[str, ...], prev_hash: str, content_hash: str) -> str:
    """The ``entry_hash`` of one log entry: its ``fields``, the previous entry's hash and the
    hash of the content it changed."""
    return canonical_sha({**{k: entry[k] for k in fields}, "prev_hash": prev_hash,
                          "content_hash": content_hash})


def link_problems(entry: dict, prev: str, where: str, entries: str,
                  fields: tuple[str, ...]) -> list[str]:
    """What is wrong with one entry of a chain whose previous entry hashed to ``prev``: none,
    no hash at all (then the caller skips the entry), a gap before it, or an edit. ``where``
    names the entry, ``entries`` the log's entries in a sentence."""
    if entry["entry_hash"] is None:
        return [f"{where} has no chain hash (written outside the program)"]
    problems = []
    if entry["prev_hash"] != prev:
        problems.append(f"the {entries} before {where} were removed or reordered")
    if chained_hash(entry, fields, entry["prev_hash"] or "",
                    entry["content_hash"] or "") != entry["entry_hash"]:
        problems.append(f"{where} was edited")
    return problems


def first_problems(problems: list[str]) -> str:
    """The first three problems in one sentence part, and how many more there are."""
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"{'; '.join(problems[:3])}{more}"


def _columns(row: sqlite3.Row, exclude: tuple[str, ...] = ()) -> dict:
    return {k: row[k] for k in row.keys() if row[k] is not None and k not in exclude}


def image_hash(c: sqlite3.Connection, image_id: int) -> str | None:
    row = c.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
    return None if row is None else canonical_sha(_columns(row))


def case_hash(c: sqlite3.Connection, case_id: int) -> str | None:
    row = c.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        return None
    amendments = [_columns(a) for a in
                  c.execute("SELECT * FROM amendments WHERE case_id = ? ORDER BY id", (case_id,))]
    return canonical_sha({"case": _columns(row, CASE_EXCLUDED), "amendments": amendments})


def entry_hash(entry: dict, prev_hash: str, content_hash: str) -> str:
    return chained_hash(entry, ENTRY_FIELDS, prev_hash, content_hash)


def _last_hash(c: sqlite3.Connection, case_id: int, before_id: int) -> str:
    row = c.execute("SELECT entry_hash FROM audit WHERE case_id = ? AND id < ? "
                    "ORDER BY id DESC LIMIT 1", (case_id, before_id)).fetchone()
    return (row[0] or "") if row is not None else ""


def seal(c: sqlite3.Connection, audit_ids: list[int]) -> None:
    """Give the entries written in this transaction their hashes (called just before COMMIT,
    so content hashes are of the committed state)."""
    # One pass in id order: each case's previous hash and its case hash are carried along
    # (nothing else writes while the transaction holds the lock), so sealing a case created
    # with thousands of images is linear.
    prev_of: dict[int, str] = {}
    case_of: dict[int, str] = {}
    for audit_id in sorted(audit_ids):
        row = c.execute("SELECT * FROM audit WHERE id = ?", (audit_id,)).fetchone()
        if row is None:
            continue
        entry = dict(row)
        case_id = entry["case_id"]
        if case_id not in prev_of:
            prev_of[case_id] = _last_hash(c, case_id, audit_id)
            case_of[case_id] = case_hash(c, case_id) or ""
        content = case_of[case_id]
        if entry["image_id"] is not None:
            content += ":" + (image_hash(c, entry["image_id"]) or "")
        prev = prev_of[case_id]
        digest = entry_hash(entry, prev, content)
        c.execute("UPDATE audit SET prev_hash = ?, content_hash = ?, entry_hash = ? WHERE id = ?",
                  (prev, content, digest, audit_id))
        prev_of[case_id] = digest


def _content(c: sqlite3.Connection, case_id: int, image_id: int | None) -> str:
    content = case_hash(c, case_id) or ""
    if image_id is not None:
        content += ":" + (image_hash(c, image_id) or "")
    return content


def _parts(content: str | None) -> tuple[str | None, str | None]:
    """(case part, image part) of a content hash."""
    if not content:
        return None, None
    case, _, image = content.partition(":")
    return case, image or None


def _latest_entry(c: sqlite3.Connection, case_id: int, image_id: int | None):
    if image_id is None:    # the case row: every entry records it
        return c.execute("SELECT id, content_hash FROM audit WHERE case_id = ? "
                         "ORDER BY id DESC LIMIT 1", (case_id,)).fetchone()
    return c.execute("SELECT id, content_hash FROM audit WHERE case_id = ? AND image_id = ? "
                     "ORDER BY id DESC LIMIT 1", (case_id, image_id)).fetchone()


def target_intact(c: sqlite3.Connection, case_id: int, image_id: int | None = None,
                  unsealed: list[int] = ()) -> bool:
    """Does the image (or the case row) still hash to what its latest audit entry recorded?
    An entry of the running transaction (``unsealed``) is sealed at its commit."""
    case = _latest_entry(c, case_id, None)
    if case is None or (case[0] not in unsealed and _parts(case[1])[0] != case_hash(c, case_id)):
        return False
    if image_id is None:
        return True
    image = _latest_entry(c, case_id, image_id)
    if image is None:
        return False
    return image[0] in unsealed or _parts(image[1])[1] == image_hash(c, image_id)


@dataclass
class CaseIntegrity:
    """What verify_case found: ``problems`` empty means the case is as the program left it."""
    case_id: int
    problems: list[str] = field(default_factory=list)
    digest: str = ""            # the last entry_hash: the chain's digest of the case and history

    @property
    def intact(self) -> bool:
        return not self.problems

    def message(self) -> str:
        if self.intact:
            return f"Case {self.case_id}: audit chain intact (digest {self.digest[:16]})."
        return (f"Case {self.case_id} was changed outside the program: "
                f"{first_problems(self.problems)}. What it shows may not be what was "
                "analysed, reviewed or signed; check it against the last printed report.")


def verify_case(c: sqlite3.Connection, case_id: int) -> CaseIntegrity:
    result = CaseIntegrity(case_id)
    problems = result.problems
    prev = ""
    latest: dict[int, str | None] = {}
    case_part = None
    for row in c.execute("SELECT * FROM audit WHERE case_id = ? ORDER BY id", (case_id,)):
        entry = dict(row)
        where = f"audit entry {entry['id']} ({entry['action']})"
        problems += link_problems(entry, prev, where, "audit entries", ENTRY_FIELDS)
        if entry["entry_hash"] is None:
            continue
        prev = entry["entry_hash"]
        case_part, image_part = _parts(entry["content_hash"])
        if entry["image_id"] is not None:
            latest[entry["image_id"]] = image_part
    result.digest = prev
    if case_part is None or case_part != case_hash(c, case_id):
        problems.append("the case details, status or sign-off differ from the audit log")
    images = {row["id"]: row for row in
              c.execute("SELECT * FROM images WHERE case_id = ? ORDER BY id", (case_id,))}
    for image_id, row in images.items():
        name = Path(row["path"]).name
        if image_id not in latest:
            problems.append(f"image {image_id} ({name}) has no audit entry (added outside the program)")
        elif latest[image_id] != canonical_sha(_columns(row)):
            problems.append(f"image {image_id} ({name}): its result or decision differs from "
                            "the audit log")
    for image_id in latest:
        if image_id not in images:
            problems.append(f"image {image_id} was removed")
    return result


def seal_legacy(c: sqlite3.Connection) -> None:
    """Migration to v4: chain the entries written before the chain existed, give each image's
    and each case's latest entry its current content, and record where coverage began."""
    for (case_id,) in c.execute("SELECT id FROM cases ORDER BY id").fetchall():
        c.execute("""INSERT INTO audit (case_id, at, actor, action, field, new)
                     VALUES (?, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'), 'program', ?,
                             'audit chain', ?)""",
                  (case_id, MIGRATION_ACTION, "started at the schema 4 migration; the entries "
                   "before this one were not hash-chained when written"))
        rows = c.execute("SELECT * FROM audit WHERE case_id = ? ORDER BY id", (case_id,)).fetchall()
        last_of: dict[int | None, int] = {}
        for row in rows:
            last_of[row["image_id"]] = row["id"]
        image_ids = [r[0] for r in c.execute("SELECT id FROM images WHERE case_id = ?", (case_id,))]
        for image_id in image_ids:
            if image_id not in last_of:
                cur = c.execute(
                    """INSERT INTO audit (case_id, at, actor, action, field, image_id, new)
                       VALUES (?, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'), 'program', ?,
                               'result', ?, 'image had no audit entry at the schema 4 migration')""",
                    (case_id, MIGRATION_ACTION, image_id))
                last_of[image_id] = int(cur.lastrowid)
        prev = ""
        for row in c.execute("SELECT * FROM audit WHERE case_id = ? ORDER BY id",
                             (case_id,)).fetchall():
            entry = dict(row)
            content = ""
            if last_of.get(entry["image_id"]) == entry["id"]:
                content = _content(c, case_id, entry["image_id"])
            h = entry_hash(entry, prev, content)
            c.execute("UPDATE audit SET prev_hash = ?, content_hash = ?, entry_hash = ? WHERE id = ?",
                      (prev, content, h, entry["id"]))
            prev = h
