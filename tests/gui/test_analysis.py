"""Opening images, the worker, progress, cancel, close during a run, errors (real images, CPU)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from lab_app.gui import theme
from lab_app.gui.results_model import DETAIL_ROLE
from lab_app.gui.theme import error_reason

from helpers import SAMPLES, copy_samples

REPO = Path(__file__).resolve().parents[2]


def slow_engine(win, delay_s: float = 0.25):
    """Make each model call take at least ``delay_s`` so a run lasts long enough to interrupt."""
    real = win.engine.run_preprocessed

    def slow(x, with_cam=False):
        time.sleep(delay_s)
        return real(x, with_cam=with_cam)

    win.engine.run_preprocessed = slow


def many_images(src: Path, dst: Path, n: int) -> Path:
    """``n`` distinct files (the same pictures, bytes appended after the JPEG end marker, so
    each has its own sha256: the case store treats identical content as one image)."""
    dst.mkdir()
    files = sorted(src.glob("*.jpg"))
    for i in range(n):
        data = files[i % len(files)].read_bytes()
        (dst / f"field-{i:04d}.jpg").write_bytes(data + f"copy {i}".encode())
    return dst


def slow_run(make_window, image_folder: Path, tmp_path: Path, gui, n: int):
    """A window analysing ``n`` distinct images slowly, its first result already in."""
    folder = many_images(image_folder, tmp_path / "many", n)
    win = make_window()
    slow_engine(win)
    win.open_paths([folder])
    gui.qtbot.waitUntil(lambda: win.progress.value() > 0, timeout=30000)
    return win


def test_window_appears_without_loading_torch_or_onnxruntime(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from lab_app.gui.main_window import MainWindow\n"
        f"w = MainWindow(store_path={str(tmp_path / 'c.sqlite3')!r}, config_dir={str(tmp_path)!r})\n"
        "w.show(); app.processEvents()\n"
        "bad = [m for m in ('torch', 'onnxruntime') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "w.shutdown()\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env, timeout=120)


def test_open_folder_analyses_every_image_and_stores_it(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    rows = win.model.rows()
    assert len(rows) == 12
    assert all(r.state not in (theme.PENDING, theme.ANALYSING) for r in rows)
    case = win.store.get_case(win.case.id)
    assert len(case.images) == 12
    assert {Path(img.path).name for img in case.images} == {p.name for p in image_folder.iterdir()}
    assert all(img.result.status == "ok" and img.result.prediction for img in case.images)
    assert win.device_label.text() == "CPU: ONNX Runtime"
    info = win.engine.info
    assert info["name"] in win.model_label.text() and str(info["version"]) in win.model_label.text()
    # The first image is selected and shown with its cell count.
    assert win.current_row() is not None
    gui.qtbot.waitUntil(lambda: win._field is not None)
    assert "stained region" in win.viewer.cells_label.text()
    assert win.summary.other_label.text().startswith("12 analysed")
    assert not win.dialogs.errors


def test_unreadable_file_becomes_an_error_row_without_a_dialog(make_window, image_folder, gui):
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff this is not a JPEG")
    (image_folder / "notes.png").write_text("not an image")
    win = gui.analysed_window(make_window, image_folder)
    bad = [r for r in win.model.rows() if r.name in ("broken.jpg", "notes.png")]
    assert len(bad) == 2
    for r in bad:
        assert r.state == theme.ERROR
        assert r.result.status == "error" and r.result.error
        shown = win.model.index(win.model.find(r.path), 0).data(DETAIL_ROLE)   # the list's 2nd line
        assert error_reason(r.name, r.result.error) in shown
        assert r.name not in shown
    assert not win.dialogs.errors           # no modal box per file
    stored = {Path(i.path).name: i for i in win.store.get_case(win.case.id).images}
    assert stored["broken.jpg"].result.status == "error"
    # Selecting it explains why in the prediction panel.
    win.select_proxy_row(win.proxy.mapFromSource(win.model.index(win.model.find(bad[0].path), 0)).row())
    assert "Not analysed" in win.prediction.call_label.text()


def test_cancel_mid_run_keeps_what_was_analysed(make_window, image_folder, tmp_path, gui):
    win = slow_run(make_window, image_folder, tmp_path, gui, 200)
    qtbot = gui.qtbot
    with qtbot.waitSignal(win.analysis_finished, timeout=30000):
        win.actions_.cancel.trigger()
    rows = win.model.rows()
    done = [r for r in rows if r.image is not None]
    assert 0 < len(done) < 200
    assert not any(r.running for r in rows)
    assert len(win.store.get_case(win.case.id).images) == len(done)
    assert "Cancelled" in win.statusBar().currentMessage()
    # The rest can be analysed later.
    assert win.actions_.analyse.isEnabled()


def test_analyse_pending_analyses_only_what_a_cancelled_run_left(make_window, image_folder,
                                                                 tmp_path, gui):
    win = slow_run(make_window, image_folder, tmp_path, gui, 70)
    qtbot = gui.qtbot
    with qtbot.waitSignal(win.analysis_finished, timeout=30000):
        win.actions_.cancel.trigger()
    first = {i.path: i.result.analysed_at for i in win.store.get_case(win.case.id).images}
    left = 70 - len(first)
    assert 0 < len(first) and left > 0
    with qtbot.waitSignal(win.analysis_finished, timeout=60000):
        win.actions_.analyse.trigger()
    assert win.statusBar().currentMessage().startswith(f"Analysed {left} images")
    images = win.store.get_case(win.case.id).images
    assert len(images) == 70 and all(i.result.status == "ok" for i in images)
    # The images analysed before the cancel kept their results: not analysed again.
    assert {i.path: i.result.analysed_at for i in images if i.path in first} == first
    # With nothing pending, Analyse starts nothing and says so.
    win.actions_.analyse.trigger()
    assert not win.analysing and "Every image is analysed" in win.statusBar().currentMessage()


def test_closing_during_a_run_stops_the_worker_without_hanging(make_window, image_folder, tmp_path, gui):
    win = slow_run(make_window, image_folder, tmp_path, gui, 200)
    worker = win.analysis.worker
    assert worker is not None
    t0 = time.perf_counter()
    win.close()
    assert time.perf_counter() - t0 < 20
    assert worker.cancelled and not worker.running
    assert win.analysis.pool.activeThreadCount() == 0


def test_engine_error_is_shown_once_with_what_to_do(make_window, image_folder, tmp_path, model_dir, gui):
    tampered = tmp_path / "model"
    shutil.copytree(model_dir, tampered)
    with open(tampered / "model.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02\x03")
    win = make_window(model_dir=tampered)
    assert win.engine is None and win.engine_error
    assert len(win.dialogs.errors) == 1
    title, text = win.dialogs.errors[0]
    assert "model" in title.lower()
    assert "checksum" in text and "Preferences" in text
    assert win.device_label.text() == "No model loaded"
    # Images can still be added; they wait, and no further dialog appears.
    win.open_paths([image_folder])
    gui.qtbot.waitUntil(lambda: win.model.rowCount() == 12)
    gui.qtbot.wait(200)
    assert all(r.state == theme.PENDING for r in win.model.rows())
    assert len(win.dialogs.errors) == 1


def test_missing_model_folder_is_explained(make_window, tmp_path):
    win = make_window(model_dir=tmp_path / "nowhere")
    assert win.engine is None
    assert len(win.dialogs.errors) == 1
    assert "does not exist" in win.dialogs.errors[0][1]


def test_drop_files_and_folders_adds_them(make_window, image_folder, gui):
    win = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image_folder))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    win.dropEvent(event)
    gui.wait_analysed(win)
    assert win.model.rowCount() == 12


def test_a_folder_without_images_beside_others_is_named_without_a_dialog(make_window, tmp_path,
                                                                          gui):
    """Adding a folder of fields and one holding no images (mistyped, or named x.jpg) analysed
    the first and said nothing of the second: the window spoke only when nothing at all was
    found. The status bar now names it, from the start of the run to its summary."""
    fields = copy_samples(tmp_path / "fields", 2)
    empty = tmp_path / "x.jpg"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image", encoding="utf-8")
    win = make_window()
    seen = []
    win.statusBar().messageChanged.connect(seen.append)
    assert win.open_paths([fields, empty])
    gui.wait_analysed(win)
    note = f"The folder {empty} holds no image files; nothing in it is analysed."
    assert win.model.rowCount() == 2
    assert any(m.startswith("Analysing 2 images") and m.endswith(note) for m in seen)
    message = win.statusBar().currentMessage()
    assert message.startswith("Analysed 2 images") and message.endswith(note)
    assert not win.dialogs.errors                    # a note, not a modal box
    # The next adding, with no empty folder, says nothing of it any more.
    more = copy_samples(tmp_path / "more", 3)
    (more / SAMPLES[0].name).unlink()
    (more / SAMPLES[1].name).unlink()
    assert win.open_paths([more])
    gui.wait_analysed(win)
    assert win.model.rowCount() == 3 and note not in win.statusBar().currentMessage()


def test_screenshot_command_saves_a_png_and_exits_0(tmp_path, model_dir, image_folder):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("LABAPP_CONFIG_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "lab_app.app", "--model", str(model_dir), "--device", "cpu",
         "--size", "1366x768", "--screenshot", str(out), str(image_folder)],
        cwd=REPO, env=env, timeout=180, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import cv2
    import numpy as np
    shot = cv2.imread(str(out))
    assert shot is not None and shot.shape == (768, 1366, 3)
    # It shows the window's content, not a blank or half-painted frame: the selected field in
    # the viewer (the middle) and the fields' thumbnails in the list (the left), both with
    # their violet-stained nuclei, and the many colours of photographs.
    hsv = cv2.cvtColor(shot, cv2.COLOR_BGR2HSV)
    stained = (hsv[..., 0] >= 125) & (hsv[..., 0] <= 160) & (hsv[..., 1] > 60) & (hsv[..., 2] > 40)
    width = shot.shape[1]
    assert stained[:, int(0.3 * width):int(0.7 * width)].sum() > 5000
    assert stained[:, :int(0.25 * width)].sum() > 500
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 5000
    # and the status bar's dark text on its light background (the window was painted)
    bottom = cv2.cvtColor(shot[-20:], cv2.COLOR_BGR2GRAY)
    assert bottom.min() < 100 < bottom.max()


@pytest.mark.parametrize("argv", [["--size", "big"]])
def test_labapp_usage_errors_exit_2(argv):
    from lab_app.app import main
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_screenshot_without_a_model_exits_1_quickly(tmp_path, image_folder):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("LABAPP_CONFIG_DIR", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "lab_app.app", "--model", str(tmp_path / "missing"),
         "--screenshot", str(out), str(image_folder)],
        cwd=REPO, env=env, timeout=120, capture_output=True, text=True)
    assert proc.returncode == 1
    assert time.perf_counter() - t0 < 60
    assert out.exists()
    assert "does not exist" in proc.stderr
