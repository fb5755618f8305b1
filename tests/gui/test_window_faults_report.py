"""Printing the report when it cannot be written or laid out: one sentence, no traceback text."""

from __future__ import annotations

import contextlib
import errno

import pytest


def _printable(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    gui.set_field(win, "patient_id", "P-1")
    gui.set_field(win, "sample_id", "S-1")
    return win


def _print(win, gui, path) -> None:
    win.dialogs.save_path = str(path)
    win.actions_.export_pdf.trigger()
    gui.qtbot.waitUntil(lambda: win._report_job is None, timeout=60000)


def test_a_case_text_too_long_for_a_page_is_named(make_window, image_folder, gui, tmp_path):
    win = _printable(make_window, image_folder, gui)
    name = win.case_panel.widgets["patient_name"]
    name.setText("N" * 5000)          # pasted by mistake
    name.editingFinished.emit()
    assert len(win.store.get_case(win.case.id).patient.name) == 5000
    _print(win, gui, tmp_path / "report.pdf")
    assert len(win.dialogs.errors) == 1
    title, text = win.dialogs.errors[0]
    assert title == "Report not written"
    assert "patient name (5,000 characters) is too long to fit on a page" in text
    assert "unexpected" not in text and "LayoutError" not in text and "Flowable" not in text
    assert not list(tmp_path.glob("*.pdf")) and not list(tmp_path.glob(".*.tmp"))
    # Shortened, it prints.
    name.setText("Ada Lovelace")
    name.editingFinished.emit()
    win.dialogs.errors.clear()
    _print(win, gui, tmp_path / "report.pdf")
    assert not win.dialogs.errors and (tmp_path / "report.pdf").stat().st_size > 0


@pytest.mark.parametrize("exc", [PermissionError(errno.EACCES, "Permission denied"),
                                 OSError(errno.ENOSPC, "No space left on device")],
                         ids=["read-only folder", "disk full"])
def test_a_report_the_disk_refuses_is_one_sentence(make_window, image_folder, gui, tmp_path,
                                                   monkeypatch, exc):
    win = _printable(make_window, image_folder, gui)
    import lab_app.core.report as report

    @contextlib.contextmanager
    def refused(path, mode=None):
        raise exc
        yield

    monkeypatch.setattr(report, "atomic_writer", refused)
    _print(win, gui, tmp_path / "out" / "report.pdf")
    assert len(win.dialogs.errors) == 1
    title, text = win.dialogs.errors[0]
    assert title == "Report not written"
    assert exc.strerror in text and "unexpected" not in text
    assert win.actions_.export_pdf.isEnabled()       # the technician can try again
