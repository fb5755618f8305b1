"""Main-window behaviour for the case: fields, new/open, recent cases, sign-off and exports.

Everything the technician enters is written to the case store at once (a field when its editing
is finished); a case is created in the store the first time something is saved for it. The
rules (what may change, sign-off preconditions) are the case session's (lab_app.core.session);
this mixin gathers what the technician typed, asks, and shows the answers.
"""

from __future__ import annotations

import getpass
import logging
import re
from pathlib import Path

from lab_app.core.case_models import LabInfo
from lab_app.core.errors import CaseStoreError, LabAppError
from lab_app.core.session import DATE_FIELDS, SessionRuleError

from .case_panel import LABELS, case_values
from .worker import CallableWorker

log = logging.getLogger(__name__)


def login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown user"


class CaseMixin:
    # ------------------------------------------------------------------------------ people
    def technician(self) -> str:
        """The signed-in account (accounts enabled), else the Technician field."""
        if self.session.account is not None:
            return self.session.account.signature
        return self.case_panel.value("technician")

    # ------------------------------------------------------------------------------ accounts
    def sign_in(self, *, at_start: bool = True) -> bool:
        """Accounts are enabled for the store (lab_app/core/accounts.py): ask who signs in, up to
        five tries. The technician of new cases is then the account, not a typed name."""
        from lab_app.core.accounts import AccountError, Accounts
        message = ""
        for _ in range(5):
            answer = self.dialogs.sign_in(self, self.store.location, message)
            if answer is None:
                return False
            try:
                account = Accounts(self.store).authenticate(*answer)
            except (AccountError, CaseStoreError) as exc:
                message = str(exc)
                continue
            self.session.sign_in(account)
            self.case_panel.fixed_fields = {"technician", "reviewer"}
            self._show_signed_in(True)
            self.show_message(f"Signed in as {account.signature}.")
            return True
        self.dialogs.error(self, "Not signed in", "Five wrong tries; start the program again."
                           if at_start else "Five wrong tries; nobody is signed in.")
        return False

    def switch_user(self) -> None:
        """File ▸ Sign out… (Ctrl+Shift+L): what was typed is saved, the open case closed, the
        watched folder and the camera stopped, and nothing can be changed until someone signs in
        (the sign-in dialog comes at once; cancelled, the window waits, signed out)."""
        if not self.session.signed_out:
            if self.case_panel.dirty():
                self.case_panel.flush()   # saved under the account that typed it
            try:
                self.session.sign_out()
            except SessionRuleError as exc:
                self.dialogs.error(self, exc.title, str(exc))
                return
            self.watcher.stop()
            if self.camera_panel.running:
                self.show_camera(False)
            self.case_panel.set_case(None, defaults={"technician": ""})
            self.clear_viewer()
            self._refresh_summary()
            self._show_signed_in(False)
            self.show_message("Signed out. File ▸ Sign in… (Ctrl+Shift+L) to continue.",
                              timeout_ms=0)
        if self.sign_in(at_start=False):
            self.new_case(confirm=False)

    def _show_signed_in(self, signed_in: bool) -> None:
        """Signed out, every panel is disabled and the action says Sign in."""
        from PySide6.QtWidgets import QDockWidget
        for widget in (self.centralWidget(), *(d.widget() for d in self.findChildren(QDockWidget))):
            if widget is not None:
                widget.setEnabled(signed_in)
        act = self.actions_.sign_out
        act.setText("Sign &out…" if signed_in else "Sign &in…")
        act.setStatusTip("Sign out so that another person can sign in" if signed_in
                         else "Sign in with your account to work on cases")
        self._update_title()
        self._update_actions()

    def actor(self) -> str:
        """Who the audit log names for field edits: the technician, else the computer login."""
        return self.technician() or f"{login_name()} (login)"

    def decision_actor(self) -> str | None:
        """Decisions must name a person: the technician field, or None after telling the user."""
        name = self.technician()
        if not name:
            self.dialogs.error(self, "Technician needed",
                               "Enter your name in the Technician field first: every decision is "
                               "recorded with who made it.")
            self.focus_case_fields()
            self.case_panel.focus_field("technician")
        return name or None

    # ------------------------------------------------------------------------ case lifecycle
    def new_case(self, confirm: bool = True) -> bool:
        try:
            self.session.new_case()
        except SessionRuleError as exc:
            self.dialogs.error(self, exc.title, str(exc))
            return False
        self.case_panel.set_case(None, defaults={
            "technician": self.technician() if self.session.account is not None
            else self.gui_state.get_str("case/last_technician", "")})
        self.clear_viewer()
        self._refresh_summary()
        return True

    def open_case_dialog(self) -> None:
        try:
            self.session.require_store("no case can be opened")
        except SessionRuleError as exc:
            self.dialogs.error(self, exc.title, str(exc))
            return
        case_id = self.dialogs.open_case(self, self.store)
        if case_id is not None:
            self.open_case(case_id)

    def open_case(self, case_id: int) -> bool:
        try:
            case = self.session.open_case(case_id)
        except SessionRuleError as exc:
            self.dialogs.error(self, exc.title, str(exc))
            return False
        except CaseStoreError as exc:
            self.dialogs.error(self, "Case not opened", str(exc))
            return False
        # A case changed outside the program (lab_app/core/case_integrity.py, checked by the
        # session on opening) is said so; the session and the store keep it read-only.
        if self.session.changed_outside:
            self.dialogs.error(self, "Case changed outside the program",
                               self.session.integrity.message() + " It is read-only: changes, "
                               "sign-off and amendments are refused; reports carry a warning box.")
        self.case_panel.set_case(case)
        self.gui_state.add_recent_case(case.id)
        self.clear_viewer()
        self._refresh_summary()
        if self.proxy.rowCount():
            self.select_proxy_row(0)
        missing = sum(1 for img in case.images if not Path(img.path).exists())
        msg = f"Opened case {case.id} ({len(case.images)} images)."
        if missing:
            msg += (f" {missing} image file{'s are' if missing != 1 else ' is'} no longer at the "
                    "saved location; their results are kept.")
        self.show_message(msg)
        return True

    def ensure_case(self) -> int | None:
        """The current case's id, creating it in the store from the panel's fields if needed."""
        if self.case is not None:
            return self.case.id
        v = self.case_panel.values()
        problems = self.case_panel.problems()
        if problems:
            # Keep invalid dates out; they are saved once corrected.
            for name in DATE_FIELDS:
                if any(p.startswith(LABELS[name]) for p in problems):
                    v[name] = ""
        try:
            case = self.session.ensure_case(v, LabInfo.from_settings(self.settings.lab), self.actor())
        except SessionRuleError as exc:
            self.dialogs.error(self, exc.title, str(exc))
            return None
        except CaseStoreError as exc:
            self.dialogs.error(self, "Case not saved", str(exc))
            return None
        self.case_panel.set_case(case)
        self.gui_state.add_recent_case(case.id)
        return case.id

    def save_case_field(self, name: str, value: str) -> None:
        if name == "technician" and value:
            self.gui_state.set_str("case/last_technician", value)
        if self.case is None:
            self.ensure_case()   # created with every field of the panel, this one included
            if self.case is not None:
                self.show_message(f"Case {self.case.id} created.")
            else:   # not saved: Enter or closing the window tries again
                self.case_panel.mark_unsaved(name, None)
            return
        try:
            saved = self.session.update_field(name, value, self.actor())
        except SessionRuleError as exc:
            self.dialogs.error(self, exc.title, str(exc))
            return
        except CaseStoreError as exc:
            # A busy or failing database: what was typed stays in the field, unsaved, and is
            # saved by the next Enter or when the window closes.
            self.case_panel.mark_unsaved(name, case_values(self.case)[name])
            self.dialogs.error(self, "Field not saved", f"{str(exc).rstrip('.')}. What you typed "
                               "stays in the field; press Enter there to save it again.")
            return
        if saved:
            self.show_message(f"{LABELS[name]} saved.", timeout_ms=3000)

    def _update_title(self) -> None:
        base = "ALL Subtype Workstation — research use only"
        if self.session.signed_out:
            self.setWindowTitle(f"Signed out — {base}")
            return
        if self.case is None:
            self.setWindowTitle(f"New case — {base}")
            return
        pid = self.case.patient.id or "no patient ID"
        self.setWindowTitle(f"Case {self.case.id} · {pid} — {base}")

    def _reload_case(self) -> None:
        try:
            self.session.reload_case()
        except CaseStoreError as exc:
            log.warning("case %s not reloaded: %s", self.case.id, exc)

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        ids = self.gui_state.recent_cases()
        infos = {}
        if self.store is not None and ids:
            try:
                infos = {c.id: c for c in self.store.list_cases() if c.id in ids}
            except CaseStoreError as exc:
                log.warning("recent cases not listed: %s", exc)
        shown = 0
        for n, cid in enumerate(ids, start=1):
            info = infos.get(cid)
            if info is None:
                continue
            label = (f"&{n}  Case {cid} · {info.patient_id or 'no patient ID'} · "
                     f"{info.sample_id or 'no sample ID'} ({info.status}, {info.image_count} images)")
            act = menu.addAction(label)
            act.triggered.connect(lambda _=False, c=cid: self.open_case(c))
            shown += 1
        if not shown:
            act = menu.addAction("No recent cases")
            act.setEnabled(False)

    # ------------------------------------------------------------------------------- sign-off
    def sign_off(self) -> None:
        if self.case is None or self.case.locked:
            return
        if self.analysis.running:
            self.dialogs.error(self, "Analysis running", "Wait for the analysis to finish before "
                               "signing off.")
            return
        problems = self.case_panel.problems(for_sign_off=True)
        if problems:
            self.focus_case_fields()
            self.dialogs.error(self, "Case details incomplete",
                               "Complete the case details before signing off:\n" + "\n".join(problems))
            return
        self._reload_case()
        blocker = self.session.sign_off_blocker()
        if blocker is not None:
            self.dialogs.error(self, blocker.title, str(blocker))
            return
        summary = self.session.summary()
        if self.session.account is not None:
            self._e_sign_off(summary)
            return
        names = self.dialogs.sign_off(self, self.technician(), self.case_panel.value("reviewer"),
                                      self.settings.lab.require_reviewer,
                                      f"Case call: <b>{summary.label}</b> from {summary.call.reviewed} "
                                      "reviewed images.")
        if names is None:
            return
        technician, reviewer = names
        try:
            case = self.session.sign_off(technician, reviewer or None,
                                         require_reviewer=self.settings.lab.require_reviewer)
        except (SessionRuleError, CaseStoreError) as exc:
            self.dialogs.error(self, getattr(exc, "title", "Not signed off"), str(exc))
            return
        self.case_panel.set_case(case)
        self.refresh_current()
        self.show_message(f"Case {case.id} signed off by {technician} and locked.")

    def _e_sign_off(self, summary) -> None:
        """Sign-off with accounts: the password again (and the reviewer's), each signature
        recorded with its meaning."""
        require = self.settings.lab.require_reviewer
        answer = self.dialogs.e_sign_off(self, self.technician(), require,
                                         f"Case call: <b>{summary.label}</b> from "
                                         f"{summary.call.reviewed} reviewed images.")
        if answer is None:
            return
        password, reviewer, reviewer_password = answer
        try:
            case = self.session.e_sign_off(password, reviewer or None, reviewer_password or None,
                                           require_reviewer=require)
        except (SessionRuleError, CaseStoreError) as exc:
            self.dialogs.error(self, getattr(exc, "title", "Not signed off"), str(exc))
            return
        self.case_panel.set_case(case)
        self.refresh_current()
        self.show_message(f"Case {case.id} signed off by {case.signed_by} and locked.")

    # -------------------------------------------------------------------------------- exports
    def _export_name(self, ext: str) -> str:
        case = self.case
        pid = re.sub(r"[^A-Za-z0-9._-]+", "_", case.patient.id or "")
        stem = f"case-{case.id}" + (f"-{pid}" if pid else "")
        folder = self.gui_state.get_str("paths/export_folder", "") or self.last_folder()
        return str(Path(folder) / f"{stem}.{ext}")

    def _ask_export_path(self, caption: str, ext: str, file_filter: str) -> str | None:
        """Ask where to export (suggesting the case's name in the last export folder); the
        extension is added when missing and the folder remembered. None when cancelled."""
        path = self.dialogs.save_file(self, caption, self._export_name(ext), file_filter)
        if not path:
            return None
        if not path.lower().endswith(f".{ext}"):
            path += f".{ext}"
        self.gui_state.set_str("paths/export_folder", str(Path(path).parent))
        return path

    def export_pdf(self) -> None:
        if self.case is None or not self.model.images():
            self.dialogs.error(self, "Nothing to report", "Analyse images first; the report "
                               "describes the case's analysed images.")
            return
        missing = [LABELS[n] for n in ("patient_id", "sample_id") if not self.case_panel.value(n)]
        if missing:
            self.focus_case_fields()
            self.dialogs.error(self, "Case details incomplete",
                               f"Enter the {' and the '.join(missing)} before printing the report.")
            return
        if self._report_job is not None:
            return
        path = self._ask_export_path("Export PDF report", "pdf", "PDF files (*.pdf)")
        if path:
            self.write_report(path)

    def write_report(self, path: str) -> None:
        """Build the PDF in a worker thread (pictures for hundreds of images take seconds)."""
        store, case_id, settings, engine = self.store, self.case.id, self.settings, self.engine

        def build():
            # The window's analysis keeps no pictures: they are redrawn from the files (the
            # activation maps with the loaded model).
            from lab_app.core.report import card_metrics
            from lab_app.core.report_assembly import ReportPictures, write_case_report
            meta = engine.meta if engine is not None else None
            return write_case_report(store, case_id, path, pictures=ReportPictures(engine=engine),
                                     model_meta=meta, model_metrics=card_metrics(meta) if meta else None,
                                     lab_threshold=settings.lab.confidence_threshold,
                                     page_size=settings.lab.report_page_size, overwrite=True)

        job = CallableWorker(build, "writing the report", expected=(LabAppError, OSError))
        job.signals.finished.connect(self._report_written)
        job.signals.errored.connect(self._report_failed)
        self._report_job = job
        self._update_actions()
        self.show_message(f"Writing the report to {path}…", timeout_ms=0)
        self._aux_pool.start(job)

    def _report_written(self, done) -> None:
        path = done.value
        self._report_job = None
        if self._closed:
            return
        self._update_actions()
        self.show_message(f"Report saved: {path}")
        self.report_written.emit(str(path))

    def _report_failed(self, message: str) -> None:
        self._report_job = None
        if self._closed:
            return
        self._update_actions()
        self.show_message("The report was not written.", error=True)
        self.dialogs.error(self, "Report not written", f"The report could not be written: {message}")

    def export_csv(self) -> None:
        if self.case is None:
            return
        path = self._ask_export_path("Export CSV", "csv", "CSV files (*.csv)")
        if not path:
            return
        try:
            written = self.store.export_csv(self.case.id, path, overwrite=True)
        except CaseStoreError as exc:
            self.dialogs.error(self, "CSV not written", str(exc))
            return
        self.show_message(f"CSV saved: {written}")

    def export_lis(self, kind: str) -> str | None:
        """The case's results for the laboratory information system (core.lis): a FHIR Bundle
        or an HL7 v2.5.1 ORU^R01; preliminary until sign-off, final after, corrected after an
        amendment. The PDF is not embedded here (export it separately)."""
        if self.case is None:
            return None
        from lab_app.core.lis import LisExportError, write_fhir, write_hl7
        ext, caption, filt = (("json", "Export FHIR Bundle", "FHIR JSON (*.json)") if kind == "fhir"
                              else ("hl7", "Export HL7 message", "HL7 messages (*.hl7)"))
        path = self._ask_export_path(caption, ext, filt)
        if not path:
            return None
        try:
            found = self.store.verify_case(self.case.id)
            if not found.intact:
                raise LisExportError(f"{found.message()} Its results are not sent to the LIS.")
            case = self.store.get_case(self.case.id)
            written = (write_fhir(case, path) if kind == "fhir"
                       else write_hl7(case, path, facility=self.settings.lab.name))
        except LabAppError as exc:
            self.dialogs.error(self, "Not exported", str(exc))
            return None
        status = "final" if case.status == "signed" else (
            "corrected" if case.status == "amended" else "preliminary (not signed off)")
        self.show_message(f"{'FHIR' if kind == 'fhir' else 'HL7'} results saved ({status}): {written}")
        return str(written)
