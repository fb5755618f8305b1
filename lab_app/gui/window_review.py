"""Main-window behaviour for reviewing: the current image, the viewer, decisions and navigation."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt

from lab_app.core.case_models import ACCEPTED, OVERRIDDEN, PENDING
from lab_app.core.case_rows import ImageRow
from lab_app.core.errors import CaseStoreError
from lab_app.core.session import SessionRuleError
from lab_app.core.vocabulary import count_text

from .field_loader import FieldData, FieldJob
from .segmentation_panel import params_from_json
from .theme import CLASS_IDS, class_label, error_reason, flag_label

log = logging.getLogger(__name__)


class ReviewMixin:
    advance_after_decision = True

    # ------------------------------------------------------------------------ current image
    def current_proxy_row(self) -> int:
        idx = self.image_list.view.selectionModel().currentIndex()
        return idx.row() if idx.isValid() else -1

    def current_row(self) -> ImageRow | None:
        r = self.current_proxy_row()
        if r < 0 or r >= self.proxy.rowCount():
            return None
        return self.proxy.row_at(r)

    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self.refresh_current(reload_field=True)

    def refresh_current(self, reload_field: bool = False) -> None:
        row = self.current_row()
        locked = self.case is not None and self.case.locked
        self.prediction.show_row(row, locked=locked)
        if row is None:
            if reload_field:
                self.clear_viewer()
            return
        if reload_field or self._field is None or self._field.path != row.path:
            self._load_field(row)
        else:
            self._update_viewer_header()

    def clear_viewer(self) -> None:
        self._field_request += 1
        self._field = None
        self._field_cam = None
        self.viewer.view.clear_field("Drop images or a folder here, or use File ▸ Add images "
                                     "(Ctrl+I) / Add folder (Ctrl+Shift+I).")
        self.viewer.title.setText("")
        self.viewer.cells_label.setText("")
        self.seg_panel.set_preview(None)

    def _load_field(self, row: ImageRow) -> None:
        self._field_request += 1
        self.viewer.title.setText(row.name)
        job = FieldJob(self._field_request, row.path, self._preview_params(), self._on_field_loaded,
                       engine=self.engine)
        self._view_pool.start(job)

    def _preview_params(self):
        return self.seg_panel.params

    def _on_field_loaded(self, data: FieldData) -> None:
        if self._closed:
            return
        if data.request != self._field_request and not (
                data.cam_only and self._field is not None and self._field.path == data.path):
            return   # an answer to a request no longer wanted (the technician moved on)
        row = self.current_row()
        view = self.viewer.view
        if data.error:
            self._field = None
            view.clear_field(error_reason(Path(data.path).name, data.error))
            self.viewer.zoom_label.setText("")
            self.viewer.title.setText(Path(data.path).name)
            self.viewer.cells_label.setText("")
            self.seg_panel.set_preview(None)
            self.field_shown.emit(data.path)
            return
        same_field = self._field is not None and self._field.path == data.path
        if data.cam_only:
            if same_field:
                self._field_cam = (data.cam, data.cam_class)
                view.set_cam(data.cam)
                self._update_viewer_header(row)
            return
        if not same_field:
            view.set_field(data.image)
            self._field_cam = None
            view.set_cam(None)
        self._field = data
        view.set_segmentation(data.seg)
        self._apply_pending_highlight()
        self._update_viewer_header(row)
        self.field_shown.emit(data.path)

    def _update_viewer_header(self, row: ImageRow | None = None) -> None:
        data = self._field
        if data is None or data.rgb is None:
            return
        row = row or self.current_row()
        h, w = data.rgb.shape[:2]
        self.viewer.title.setText(Path(data.path).name)
        n = data.seg.count if data.seg is not None else None
        analysed = row.result.cells if row is not None and row.result is not None else None
        same = True
        if row is not None and row.result is not None and row.result.segmentation:
            same = params_from_json(row.result.segmentation) == self.seg_panel.params
        parts = [f"{w} × {h} px"]
        if n is not None:
            cells = count_text(n)
            if not same and analysed is not None:
                cells += f" (preview; analysed: {analysed})"
            parts.append(cells)
        cam_cls = (self._field_cam or (None, None))[1]
        if self.viewer.view.show_cam:
            parts.append(f"map: {class_label(cam_cls)}" if cam_cls else
                         "map: needs the model" if self.engine is None else "map: computing…")
        self.viewer.cells_label.setText(" · ".join(parts))
        self.seg_panel.set_preview(n, analysed, same)
        note = (f"The activation map shows where the model found evidence for {class_label(cam_cls)}."
                if cam_cls else "")
        self.viewer.update_overlay_label(note)

    # ---------------------------------------------------------------------- overlays, preview
    def set_overlay(self, mask: bool | None = None, outlines: bool | None = None,
                    cam: bool | None = None) -> None:
        a = self.actions_
        self.viewer.view.set_overlays(mask=a.show_mask.isChecked() if mask is None else mask,
                                      outlines=a.show_outlines.isChecked() if outlines is None else outlines,
                                      cam=a.show_cam.isChecked() if cam is None else cam)
        self._update_viewer_header()
        if not self._field:
            self.viewer.update_overlay_label()

    def preview_segmentation(self, params) -> None:
        """Re-segment the field on screen with the panel's parameters (live preview)."""
        self.gui_state.set_segmentation(params.to_json())
        a = self.actions_
        if not (a.show_mask.isChecked() or a.show_outlines.isChecked()):
            a.show_outlines.setChecked(True)
        data = self._field
        if data is None or data.rgb is None:
            return
        self._field_request += 1
        job = FieldJob(self._field_request, data.path, params, self._on_field_loaded,
                       engine=None, rgb=data.rgb, image=data.image, want_cam=False)
        self._view_pool.start(job)

    # ------------------------------------------------------------------------------ decisions
    def _reviewable_row(self) -> ImageRow | None:
        try:
            return self.session.reviewable(self.current_row())
        except SessionRuleError as exc:
            if self.current_row() is not None:
                self.show_message(str(exc), error=self.current_row().failed)
            return None

    def accept_current(self) -> None:
        row = self._reviewable_row()
        if row is None:
            return
        try:
            self.session.accept_rule(row)
        except SessionRuleError as exc:
            self.dialogs.error(self, exc.title, str(exc))
            return
        flags = self.session.flags_to_confirm(row)
        reason = None
        if flags:
            # A flagged call is never accepted with one key: the technician confirms having
            # looked, and the confirmation is the decision's reason in the audit trail.
            labels = ", ".join(flag_label(f) for f in flags)
            if not self.dialogs.confirm(
                    self, "Accept a flagged call?",
                    f"{row.name} is flagged: {labels}. Look at the field (and the activation map) "
                    f"before accepting {class_label(row.result.prediction)}.\n\nAccept the model's "
                    "call anyway? Your confirmation is recorded."):
                self.show_message("Not accepted: the flagged call is still waiting for a decision.")
                return
            reason = f"Accepted after review despite: {labels}"
        self._decide(row, ACCEPTED, reason=reason)

    def override_current(self, class_index: int) -> None:
        row = self._reviewable_row()
        if row is None:
            return
        target = CLASS_IDS[class_index]
        predicted = row.result.prediction
        if target == predicted and not row.image.out_of_scope:
            self._decide(row, ACCEPTED)
            self.show_message(f"{class_label(target)} is the model's call: accepted.")
            return
        if self.decision_actor() is None:
            return
        choice = self.dialogs.override_reason(self, row.name, predicted, target)
        if choice is None:
            self.show_message("Override cancelled; nothing changed.")
            return
        cid, reason = choice
        if cid == predicted and not row.image.out_of_scope:
            self._decide(row, ACCEPTED)
            return
        self._decide(row, OVERRIDDEN, cid, reason)

    def reset_decision(self) -> None:
        row = self._reviewable_row()
        if row is None or row.decision == PENDING:
            return
        self._decide(row, PENDING, advance=False)

    def _decide(self, row: ImageRow, decision: str, override_class: str | None = None,
                reason: str | None = None, advance: bool | None = None) -> bool:
        actor = self.decision_actor()
        if actor is None:
            return False
        advance = self.advance_after_decision if advance is None else advance
        # Find the next undecided image before the update: a filter may hide this row after it.
        target = (self._find_undecided(+1, self.current_proxy_row(), skip=row)
                  if advance and decision != PENDING and not self.session.locked else None)
        try:
            if self.session.locked:
                why = self.dialogs.amend_reason(
                    self, f"Case {self.case.id} is signed off. Why is the decision on {row.name} "
                    "changed? The change is recorded as an amendment and printed on the next report.")
                if not why:
                    self.show_message("Nothing changed: an amendment needs a reason.")
                    return False
                image = self.session.amend_decision(row, actor, why, decision, override_class, reason)
                self.case_panel.set_case(self.case)
                advance = False
            else:
                image = self.session.decide(row, actor, decision, override_class, reason)
        except (SessionRuleError, CaseStoreError) as exc:
            self.dialogs.error(self, "Decision not saved", str(exc))
            return False
        self._refresh_summary()
        self._refresh_gallery()      # the cell's group follows the technician's call
        what = {ACCEPTED: f"Accepted {class_label(image.result.prediction)}",
                OVERRIDDEN: f"Overridden to {class_label(override_class)}",
                PENDING: "Decision undone"}[decision]
        self.show_message(f"{what} for {row.name}.", timeout_ms=4000)
        if target is not None:
            self.select_proxy_row(self.proxy_row_of(target))
        else:
            self.refresh_current()
            if advance and decision != PENDING:
                self.show_message(f"{what} for {row.name}. No undecided image is left in the list; "
                                  "sign off when every image has a decision (Ctrl+Shift+S).",
                                  timeout_ms=8000)
        return True

    # ----------------------------------------------------------------------------- navigation
    def _next_proxy_row(self, step: int, start: int, wanted) -> int | None:
        """The next proxy row after ``start`` (wrapping around, ``step`` +1 or -1) whose image
        ``wanted(row)`` accepts; from the first (last) row when nothing is selected."""
        n = self.proxy.rowCount()
        for k in range(1, n + 1):
            r = (start + step * k) % n if start >= 0 else (k - 1 if step > 0 else n - k)
            if wanted(self.proxy.row_at(r)):
                return r
        return None

    def proxy_row_of(self, source_row: int) -> int:
        """The list position of a session row (-1 when a filter hides it)."""
        return self.proxy.mapFromSource(self.model.index(source_row, 0)).row()

    def _find_undecided(self, step: int, start: int, skip: ImageRow | None = None) -> int | None:
        """Source row of the next undecided image in list order after proxy row ``start``."""
        r = self._next_proxy_row(step, start, lambda row: row.undecided and row is not skip)
        return None if r is None else self.proxy.mapToSource(self.proxy.index(r, 0)).row()

    def go_undecided(self, step: int = +1) -> bool:
        target = self._find_undecided(step, self.current_proxy_row())
        if target is None:
            self.show_message("No image in the list is waiting for a decision.")
            return False
        proxy_row = self.proxy_row_of(target)
        if proxy_row == self.current_proxy_row():
            self.refresh_current()
        else:
            self.select_proxy_row(proxy_row)
        return True

    def go_flagged(self, step: int = +1) -> bool:
        """Select the next (or previous) image with a flag in list order, wrapping around."""
        current = self.current_row()
        r = self._next_proxy_row(step, self.current_proxy_row(),
                                 lambda row: bool(row.flags) and row is not current)
        if r is None:
            self.show_message("No other image in the list has a flag.")
            return False
        self.select_proxy_row(r)
        return True

    def step_image(self, step: int) -> None:
        n = self.proxy.rowCount()
        if n == 0:
            return
        here = self.current_proxy_row()
        self.select_proxy_row(min(n - 1, max(0, here + step)) if here >= 0 else 0)

    def _after_filter(self) -> None:
        if self.current_row() is None and self.proxy.rowCount():
            self.select_proxy_row(0)
        self.refresh_current()

    # --------------------------------------------------------------------------- cell gallery
    def show_gallery(self, checked: bool = True) -> None:
        if checked:
            self.dock_gallery.show()
            self.dock_gallery.raise_()
            self.resizeDocks([self.dock_gallery], [max(300, self.height() // 3)],
                             Qt.Orientation.Vertical)
            self.gallery.view.setFocus()
        else:
            self.dock_gallery.hide()

    def _gallery_visibility(self, visible: bool) -> None:
        self.actions_.gallery.setChecked(visible)
        if visible:
            self.gallery.show_rows(self.session.rows)

    def _refresh_gallery(self) -> None:
        if self.dock_gallery.isVisible() and not self.dock_gallery.visibleRegion().isEmpty():
            self.gallery.show_rows(self.session.rows)

    def show_cell(self, path: str, cell: int) -> None:
        """The gallery's click-through: show the cell's field with that cell highlighted."""
        i = self.session.find(path)
        if i < 0:
            return
        proxy_row = self.proxy_row_of(i)
        if proxy_row < 0:                       # hidden by a filter: show everything
            self.image_list.set_filters(None, "all")
            proxy_row = self.proxy_row_of(i)
        self._pending_highlight = (path, cell)
        self.actions_.show_outlines.setChecked(True)
        if proxy_row == self.current_proxy_row() and self._field is not None \
                and self._field.path == path:
            self._apply_pending_highlight()
        else:
            self.select_proxy_row(proxy_row)

    def _apply_pending_highlight(self) -> None:
        pending, data = self._pending_highlight, self._field
        if pending is None or data is None or data.path != pending[0] or data.seg is None:
            return
        self._pending_highlight = None
        cell = next((c for c in data.seg.cells if c.label == pending[1]), None)
        self.viewer.view.highlight_cell(cell)

    def _refresh_summary(self) -> None:
        self.summary.update_summary(self.session.images(), self.session.pending_count())
