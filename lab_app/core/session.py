"""The open case, Qt-free: its images, the analysis queue, the review and sign-off rules, events.

The window observes a ``CaseSession`` the way napari's QtViewer observes its ViewerModel: every
rule that decides what a technician may do (sign off, add images, switch cases while an analysis
runs, decide on a signed-off case) lives here and is tested without Qt; the window asks, shows
the answer and draws what the events tell it. Events are plain callbacks run synchronously on the
thread that changed the session (the GUI thread in the window).

A rule that refuses raises :class:`SessionRuleError`, whose ``title`` and message are what the
technician reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .case_models import ACCEPTED, OVERRIDDEN, PENDING, Case, CaseImage, LabInfo, Patient, Sample
from .case_rows import ImageRow
from .case_summary import CaseSummary, summarize
from .errors import LabAppError

# The case fields that are dates: an empty one is stored as NULL.
DATE_FIELDS = ("patient_birth_date", "collected_on", "received_on")


class SessionRuleError(LabAppError):
    """The session refused an action; ``title`` heads the message box, the message says why and
    what to do."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title


class Events:
    """Named callback lists (``connect(name, fn)``, ``emit(name, *args)``)."""

    def __init__(self, *names: str) -> None:
        self._slots: dict[str, list[Callable[..., Any]]] = {n: [] for n in names}

    def connect(self, name: str, fn: Callable[..., Any]) -> None:
        self._slots[name].append(fn)

    def emit(self, name: str, *args: Any) -> None:
        for fn in list(self._slots[name]):
            fn(*args)


@dataclass(frozen=True)
class ActionStates:
    """Which case and analysis actions are available now."""
    analyse: bool
    reanalyse: bool
    cancel: bool
    add_images: bool
    sign_off: bool
    export_pdf: bool
    export_csv: bool


class CaseSession:
    """The open case (``case`` is None until something is saved for a new case) and its rows.

    Events:
      ``case_changed(case)``          another case, a new case, or the case's fields/status changed
      ``rows_reset()``                every row replaced
      ``rows_inserted(first, last)``  rows appended (indices inclusive)
      ``rows_changed(indices)``       rows whose image, decision or running state changed
      ``busy_changed()``              analysis or report started or ended
    """

    EVENTS = ("case_changed", "rows_reset", "rows_inserted", "rows_changed", "busy_changed")

    def __init__(self, store: Any) -> None:
        self.store = store
        self.case: Case | None = None
        self.rows: list[ImageRow] = []
        self._by_path: dict[str, int] = {}
        self._analysing = False
        self._reporting = False
        self._queue: list[str] = []
        self._queue_params: Any = None
        self.events = Events(*self.EVENTS)
        # The signed-in account (lab_app/core/accounts.py) when the store has accounts; None in
        # single-user mode (names typed in the case fields, the OS login in the audit log).
        self.account: Any = None
        # The store has accounts: then, signed out (account None), nothing can be opened, edited,
        # analysed, signed or exported until someone signs in (sign_out / sign_in).
        self.accounts_on = False
        # What CaseStore.verify_case found when the case was opened (lab_app/core/case_integrity):
        # a case changed outside the program stays read-only in the window.
        self.integrity: Any = None

    # --------------------------------------------------------------------------- reading
    @property
    def locked(self) -> bool:
        return self.case is not None and (self.case.locked or self.changed_outside)

    @property
    def signed_out(self) -> bool:
        """The store has accounts and nobody is signed in: nothing can be changed."""
        return self.accounts_on and self.account is None

    @property
    def changed_outside(self) -> bool:
        """The open case was changed outside the program (its audit chain does not hold)."""
        return self.integrity is not None and not self.integrity.intact

    @property
    def analysing(self) -> bool:
        return self._analysing

    @property
    def reporting(self) -> bool:
        return self._reporting

    def find(self, path: str | Path) -> int:
        return self._by_path.get(str(path), -1)

    def images(self) -> list[CaseImage]:
        """The analysed images, each stored image once."""
        seen, out = set(), []
        for r in self.rows:
            if r.image is not None and r.image.id not in seen:
                seen.add(r.image.id)
                out.append(r.image)
        return out

    def pending_count(self) -> int:
        return sum(1 for r in self.rows if r.image is None)

    def pending_paths(self) -> list[str]:
        """Images not analysed yet and not being analysed."""
        return [r.path for r in self.rows if r.image is None and not r.running]

    def summary(self) -> CaseSummary:
        return summarize(self.images())

    def action_states(self) -> ActionStates:
        if self.signed_out:
            return ActionStates(False, False, False, False, False, False, False)
        has_case, locked, running = self.case is not None, self.locked, self._analysing
        rows = len(self.rows) > 0
        return ActionStates(analyse=rows and not locked, reanalyse=rows and not locked and not running,
                            cancel=running, add_images=not locked,
                            sign_off=has_case and not locked and not running,
                            export_pdf=has_case and not self._reporting, export_csv=has_case)

    # ----------------------------------------------------------------------------- rules
    def require_idle(self, before: str) -> None:
        if self._analysing:
            raise SessionRuleError("Analysis running", "Wait for the analysis to finish or cancel "
                                   f"it (Esc) before {before}.")

    def _changed_outside_error(self) -> SessionRuleError:
        return SessionRuleError("Case changed outside the program",
                                f"{self.integrity.message()} It is read-only.")

    def require_signed_in(self, to: str = "change anything") -> None:
        if self.signed_out:
            raise SessionRuleError("Signed out", f"Nobody is signed in. Sign in (File ▸ Sign in…, "
                                   f"Ctrl+Shift+L) to {to}.")

    def require_open(self) -> None:
        self.require_signed_in()
        if self.changed_outside:
            raise self._changed_outside_error()
        if self.locked:
            raise SessionRuleError("Case signed off", "This case is signed off and locked. Start "
                                   "a new case (Ctrl+N) to analyse more images.")

    def require_store(self, what: str = "nothing can be saved") -> None:
        if self.store is None:
            raise SessionRuleError("Case database unavailable",
                                   f"The case database could not be opened, so {what}.")

    def reviewable(self, row: ImageRow | None) -> ImageRow:
        """``row`` if it has a call to review, else a SessionRuleError saying why not."""
        if row is None:
            raise SessionRuleError("No image", "Select an image first.")
        if self.case is None or row.image is None:
            raise SessionRuleError("Not analysed", "This image is not analysed yet.")
        if row.failed:
            raise SessionRuleError("No call", "This image could not be analysed, so there is no "
                                   "call to review.")
        return row

    def sign_off_blocker(self) -> SessionRuleError | None:
        """Why the case cannot be signed off now (besides the case fields), or None."""
        if self.signed_out:
            return SessionRuleError("Signed out", "Nobody is signed in. Sign in (File ▸ Sign in…, "
                                    "Ctrl+Shift+L) to sign off.")
        if self.changed_outside:
            return self._changed_outside_error()
        if self.case is None or self.locked:
            return SessionRuleError("Nothing to sign off", "Only an open case with analysed "
                                    "images can be signed off.")
        if self._analysing:
            return SessionRuleError("Analysis running", "Wait for the analysis to finish before "
                                    "signing off.")
        undecided = [r for r in self.rows if r.undecided]
        if undecided:
            n = len(undecided)
            return SessionRuleError("Decisions missing",
                                    f"{n} image{'s still need' if n != 1 else ' still needs'} a "
                                    "decision before sign-off. Press N to go to the next one.")
        pending = [r for r in self.rows if r.image is None]
        if pending:
            return SessionRuleError("Images not analysed",
                                    f"{len(pending)} image(s) are not analysed yet. Analyse them "
                                    "(Ctrl+R) before signing off.")
        return None

    # ---------------------------------------------------------------------- accounts
    def sign_in(self, account: Any) -> None:
        """``account`` (checked by lab_app.core.accounts) works at this desk from now on."""
        self.account = account
        self.accounts_on = True
        self.events.emit("busy_changed")

    def sign_out(self) -> None:
        """Nobody works at this desk: the open case is closed (the next person starts with none)
        and nothing can be changed until someone signs in. Refused while analysis runs."""
        self.require_idle("signing out")
        self.account = None
        self.new_case()
        self.events.emit("busy_changed")

    # ---------------------------------------------------------------------- case lifecycle
    def new_case(self) -> None:
        self.require_idle("starting another case")
        self.case = None
        self.integrity = None
        self._queue.clear()
        self._set_rows([])
        self.events.emit("case_changed", None)

    def open_case(self, case_id: int) -> Case:
        """Open a stored case (CaseStoreError when it cannot be read)."""
        self.require_idle("opening another case")
        self.require_signed_in("open a case")
        self.require_store("no case can be opened")
        case = self.store.get_case(case_id)
        verify = getattr(self.store, "verify_case", None)
        self.integrity = case.integrity = verify(case_id) if verify is not None else None
        self.case = case
        self._queue.clear()
        self._set_rows([ImageRow(img.path, img) for img in case.images])
        self.events.emit("case_changed", case)
        return case

    def ensure_case(self, fields: dict[str, str], lab: LabInfo, actor: str) -> Case:
        """The current case, created in the store from ``fields`` (the case panel's values) if it
        does not exist yet."""
        if self.case is not None:
            return self.case
        self.require_signed_in("start a case")
        self.require_store()
        v = {k: (fields.get(k) or "") for k in ("patient_id", "patient_name", "patient_birth_date",
                                                 "patient_sex", "sample_id", "specimen",
                                                 "collected_on", "received_on", "technician",
                                                 "physician", "reviewer")}
        self.case = self.store.create_case(
            patient=Patient(v["patient_id"], v["patient_name"], v["patient_birth_date"] or None,
                            v["patient_sex"]),
            sample=Sample(v["sample_id"], v["specimen"], v["collected_on"] or None,
                          v["received_on"] or None),
            technician=v["technician"], physician=v["physician"], reviewer=v["reviewer"],
            lab=lab, actor=actor)
        self.events.emit("case_changed", self.case)
        return self.case

    def update_field(self, name: str, value: str, actor: str) -> bool:
        """Save one case field; False when the case is signed off (edits are amendments)."""
        self.require_signed_in("change the case")
        if self.case is None or self.locked:
            return False
        stored = (value or None) if name in DATE_FIELDS else value
        # The version this window shows: another workstation's change meanwhile is refused
        # (CaseConflictError), never overwritten.
        self.case = self.store.update_case(self.case.id, actor, expected_version=self.case.version,
                                           **{name: stored})
        self.events.emit("case_changed", self.case)
        return True

    def reload_case(self) -> None:
        """Read the case again from the store (CaseStoreError propagates)."""
        if self.case is not None and self.store is not None:
            self.case = self.store.get_case(self.case.id)

    # ------------------------------------------------------------------------------- rows
    def add_paths(self, paths: Iterable[str | Path]) -> list[str]:
        """Append rows for paths not yet listed; returns the paths that were new."""
        self.require_open()
        new: list[str] = []
        for p in map(str, paths):
            if p not in self._by_path and p not in new:
                new.append(p)
        self._append([ImageRow(p) for p in new])
        return new

    def set_running(self, paths: Iterable[str], running: bool = True) -> None:
        changed = []
        for p in paths:
            i = self._by_path.get(str(p), -1)
            if i >= 0 and self.rows[i].running != running:
                self.rows[i].running = running
                changed.append(i)
        self._changed(changed)

    def clear_running(self) -> None:
        changed = [i for i, r in enumerate(self.rows) if r.running]
        for i in changed:
            self.rows[i].running = False
        self._changed(changed)

    def apply_images(self, items: Sequence[tuple[str, CaseImage]]) -> list[int]:
        """Put analysed images (already stored) on their rows, by input path; returns the rows."""
        changed, added = [], []
        for path, image in items:
            i = self._by_path.get(str(path), -1)
            if i < 0:
                i = self._by_path.get(str(image.path), -1)
            if i < 0:
                added.append(ImageRow(str(path), image))
                continue
            self.rows[i].image = image
            self.rows[i].running = False
            changed.append(i)
        self._changed(changed)
        first = len(self.rows)
        self._append(added)
        return changed + list(range(first, first + len(added)))

    def update_image(self, image: CaseImage) -> int:
        """A decision changed: replace every row that shows this stored image."""
        changed = [i for i, r in enumerate(self.rows) if r.image is not None and r.image.id == image.id]
        for i in changed:
            self.rows[i].image = image
        self._changed(changed)
        return changed[0] if changed else -1

    # ------------------------------------------------------------------------ the analysis
    def enqueue(self, paths: Iterable[str], params: Any = None) -> None:
        """Paths to analyse once the engine is ready or the running analysis ends."""
        self._queue.extend(p for p in map(str, paths) if p not in self._queue)
        self._queue_params = params

    def take_queue(self) -> tuple[list[str], Any]:
        paths, self._queue = self._queue, []
        return paths, self._queue_params

    def clear_queue(self) -> None:
        self._queue.clear()

    @property
    def queued(self) -> list[str]:
        return list(self._queue)

    def set_analysing(self, on: bool) -> None:
        if on != self._analysing:
            self._analysing = on
            self.events.emit("busy_changed")

    def set_reporting(self, on: bool) -> None:
        if on != self._reporting:
            self._reporting = on
            self.events.emit("busy_changed")

    # ---------------------------------------------------------------------------- review
    def decide(self, row: ImageRow, actor: str, decision: str, override_class: str | None = None,
               reason: str | None = None) -> CaseImage:
        """Record a decision on an open case (a signed-off case changes only by ``amend_decision``)."""
        self.require_signed_in("review")
        self.reviewable(row)
        if self.changed_outside:
            raise self._changed_outside_error()
        if self.locked:
            raise SessionRuleError("Case signed off", f"Case {self.case.id} is signed off; a "
                                   "changed decision is an amendment and needs a reason.")
        image = self.store.set_decision(self.case.id, row.image.id, actor, decision,
                                        override_class=override_class, reason=reason,
                                        expected_version=self.case.version)
        if image.case_version is not None:
            self.case.version = image.case_version
        self.update_image(image)
        return image

    def amend_decision(self, row: ImageRow, actor: str, why: str, decision: str,
                       override_class: str | None = None, reason: str | None = None) -> CaseImage:
        """Change a decision on a signed-off case, as an amendment with its own reason."""
        from .cases import DecisionChange
        self.require_signed_in("amend the case")
        self.reviewable(row)
        if not (why or "").strip():
            raise SessionRuleError("Reason needed", "Nothing changed: an amendment needs a reason.")
        self.case = self.store.amend(self.case.id, actor, why, decisions=[
            DecisionChange(row.image.id, decision, override_class, reason)],
            expected_version=self.case.version)
        image = self.case.image(row.image.id)
        self.update_image(image)
        self.events.emit("case_changed", self.case)
        return image

    def accept_rule(self, row: ImageRow) -> None:
        """An out-of-scope image has no call to accept."""
        if row.image.out_of_scope or row.result.prediction is None:
            raise SessionRuleError("Nothing to accept",
                                   "The model makes no call for this image (out of scope). Override "
                                   "it with the subtype you see (keys 1–4), or leave it undecided.")

    @staticmethod
    def flags_to_confirm(row: ImageRow) -> list[str]:
        """The flags a technician must confirm having seen before accepting the call (every flag
        on an analysed image asks for a closer look; out of scope cannot be accepted at all)."""
        return [f for f in row.flags if f != "out_of_scope"] if row.reviewable else []

    def sign_off(self, technician: str, reviewer: str | None, *, require_reviewer: bool,
                 meaning: str | None = None, reviewer_meaning: str | None = None) -> Case:
        """Sign off; ``meaning``: what an e-signature means (accounts, :meth:`e_sign_off`)."""
        blocker = self.sign_off_blocker()
        if blocker is not None:
            raise blocker
        self.case = self.store.sign_off(self.case.id, technician, reviewer or None,
                                        require_reviewer=require_reviewer,
                                        expected_version=self.case.version, meaning=meaning,
                                        reviewer_meaning=reviewer_meaning)
        self.events.emit("case_changed", self.case)
        self.events.emit("busy_changed")
        return self.case

    def e_sign_off(self, password: str, reviewer_name: str | None = None,
                   reviewer_password: str | None = None, *, require_reviewer: bool) -> Case:
        """Sign off with e-signatures (accounts enabled): the signed-in account's password again,
        and the reviewer's account and password when there is one; each signature is recorded
        with its meaning ("reviewed and approved")."""
        from .accounts import MEANING, MEANING_REVIEWER, AccountError, Accounts
        if self.account is None:
            raise SessionRuleError("Not signed in", "Sign in with your account to sign off.")
        blocker = self.sign_off_blocker()
        if blocker is not None:
            raise blocker
        if require_reviewer and not (reviewer_name or "").strip():
            raise SessionRuleError("Reviewer needed", "This lab requires a reviewer to sign off as "
                                   "well; the reviewer enters their user name and password.")
        try:
            signer, second = Accounts(self.store).signatures(self.account, password, reviewer_name,
                                                             reviewer_password)
        except AccountError as exc:
            raise SessionRuleError("Signature not accepted", f"Not signed off: {exc}") from exc
        return self.sign_off(signer.signature, second.signature if second else None,
                             require_reviewer=require_reviewer, meaning=MEANING,
                             reviewer_meaning=MEANING_REVIEWER if second else None)

    # ---------------------------------------------------------------------------- helpers
    def _set_rows(self, rows: list[ImageRow]) -> None:
        self.rows = rows
        self._by_path = {r.path: i for i, r in enumerate(rows)}
        self.events.emit("rows_reset")

    def _append(self, rows: list[ImageRow]) -> None:
        if not rows:
            return
        first = len(self.rows)
        for r in rows:
            self._by_path[r.path] = len(self.rows)
            self.rows.append(r)
        self.events.emit("rows_inserted", first, len(self.rows) - 1)

    def _changed(self, indices: list[int]) -> None:
        if indices:
            self.events.emit("rows_changed", indices)


__all__ = ["ACCEPTED", "OVERRIDDEN", "PENDING", "ActionStates", "CaseSession", "Events",
           "ImageRow", "SessionRuleError"]
