"""Safe review: a flagged call is not accepted with one key; G goes to the next flagged image;
a PC whose GPU does not work still analyses, on the CPU, and says so."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from lab_app.core.case_models import ACCEPTED, PENDING


def _with_blurred_field(shipped_fields, folder):
    """Four sharp fields and one defocused copy (flagged out_of_focus) in the middle."""
    folder.mkdir()
    sharp = [shipped_fields[c][0] for c in ("Benign", "Early")] + \
            [shipped_fields[c][0] for c in ("Pre", "Pro")]
    for n, src in enumerate(sharp[:2]):
        shutil.copy(src, folder / f"a{n}-{src.name}")
    rgb = np.asarray(Image.open(sharp[2]).convert("RGB"))
    Image.fromarray(cv2.GaussianBlur(rgb, (0, 0), 4)).save(folder / "b-blurred.png")
    for n, src in enumerate(sharp[2:]):
        shutil.copy(src, folder / f"c{n}-{src.name}")
    return folder


def test_flagged_call_needs_a_confirmation_that_is_recorded(make_window, shipped_fields, tmp_path, gui):
    folder = _with_blurred_field(shipped_fields, tmp_path / "in")
    win = gui.analysed_window(make_window, folder)
    flagged = next(r for r in win.model.rows() if r.name == "b-blurred.png")
    assert "out_of_focus" in flagged.flags and flagged.result.prediction
    win.select_proxy_row(win.proxy.mapFromSource(win.model.index(win.model.find(flagged.path), 0)).row())
    win.image_list.view.setFocus()
    gui.qtbot.keyClick(win.image_list.view, Qt.Key.Key_Return)          # one Enter: not enough
    assert flagged.decision == PENDING
    assert "still waiting for a decision" in win.statusBar().currentMessage()
    win.dialogs.confirm_answer = True
    gui.qtbot.keyClick(win.image_list.view, Qt.Key.Key_Return)
    assert flagged.decision == ACCEPTED
    stored = win.store.get_case(win.case.id).image(flagged.image.id)
    assert stored.decision.reason == "Accepted after review despite: Out of focus"
    audit = [e for e in win.store.audit(win.case.id) if e.image_id == flagged.image.id]
    assert any("despite: Out of focus" in (e.new or "") + (e.reason or "") for e in audit)
    # An unflagged call is still accepted with one Enter, without a question.
    win.dialogs.confirm_answer = False
    sharp = next(r for r in win.model.rows() if not r.flags and r.undecided)
    win.select_proxy_row(win.proxy.mapFromSource(win.model.index(win.model.find(sharp.path), 0)).row())
    gui.qtbot.keyClick(win.image_list.view, Qt.Key.Key_Return)
    assert sharp.decision == ACCEPTED and sharp.image.decision.reason is None


def test_g_goes_to_the_next_flagged_image_and_wraps(make_window, shipped_fields, tmp_path, gui):
    folder = _with_blurred_field(shipped_fields, tmp_path / "in")
    win = gui.analysed_window(make_window, folder)
    names = [win.proxy.row_at(i).name for i in range(win.proxy.rowCount())]
    flagged = [n for i, n in enumerate(names) if win.proxy.row_at(i).flags]
    assert "b-blurred.png" in flagged and 0 < len(flagged) < len(names)
    win.select_proxy_row(0)
    win.image_list.view.setFocus()
    seen = []
    for _ in range(len(flagged) + 1):
        gui.qtbot.keyClick(win.image_list.view, Qt.Key.Key_G)
        seen.append(win.current_row().name)
    # In list order from the first image, then around again to the first flagged one.
    order = [n for n in names[1:] + names[:1] if n in flagged]
    assert seen == order + order[:1]
    gui.qtbot.keyClick(win.image_list.view, Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)
    assert win.current_row().name == order[-1]                         # Shift+G goes back


def test_a_gpu_that_does_not_work_falls_back_to_the_cpu(make_window, image_folder, gui,
                                                        monkeypatch):
    # A GPU that does not work, also on a machine whose GPU does: CUDA is refused as torch
    # refuses it on a PC without a usable driver.
    import model.inference as inference
    from model.errors import DeviceError
    real = inference.InferenceEngine

    class NoUsableGpu(real):
        def __init__(self, model_dir=None, device="auto", **kwargs):
            if device == "cuda":
                raise DeviceError("CUDA was requested, but torch finds no usable CUDA GPU "
                                  "(check the NVIDIA driver). Use --device cpu.")
            super().__init__(model_dir, device=device, **kwargs)

    monkeypatch.setattr(inference, "InferenceEngine", NoUsableGpu)
    win = make_window(device="cuda")
    assert win.engine is not None and win.engine_error is None
    assert win.engine.device_label.startswith("CPU")
    assert "GPU not available" in win.device_label.text()
    assert "runs on the CPU" in win.device_label.toolTip()
    gui.set_field(win, "technician", "Ana Tech")
    assert win.open_paths([image_folder])
    gui.wait_analysed(win)
    assert all(r.result.status == "ok" for r in win.model.rows())


def test_flagged_first_lists_the_flagged_images_first_in_input_order(make_window, shipped_fields,
                                                                      tmp_path, gui):
    folder = _with_blurred_field(shipped_fields, tmp_path / "in")
    win = gui.analysed_window(make_window, folder)
    before = [win.proxy.row_at(i).name for i in range(win.proxy.rowCount())]
    flagged = [n for n in before if win.model.row(win.model.find(str(folder / n))).flags]
    assert flagged and len(flagged) < len(before)
    win.image_list.flagged_first.setChecked(True)
    after = [win.proxy.row_at(i).name for i in range(win.proxy.rowCount())]
    assert after == flagged + [n for n in before if n not in flagged]
    win.image_list.flagged_first.setChecked(False)
    assert [win.proxy.row_at(i).name for i in range(win.proxy.rowCount())] == before
