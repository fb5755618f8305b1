"""Regenerate docs/screenshots/*.png from the real window, offscreen (QWidget.grab()).

    python -m tools.make_screenshots [--model DIR] [--out docs/screenshots] [--size 1366x768]

Uses the bundled model (or --model), the sample fields in resources/samples/ and a temporary
case database and settings folder. Pictures:

- ``main-window.png``: a case after analysis, patient details filled in, some calls reviewed;
- ``overlays.png``: segmentation mask and numbered cell outlines on a zoomed field;
- ``activation-map.png``: where the model found evidence for its call;
- ``override-dialog.png``: the override dialog over the window (key 1-4 pressed);
- ``needs-review.png``: the list filtered to flagged images (an empty field, out of scope);
- ``error-row.png``: an unreadable file: an error row with its reason, no dialog;
- ``segmentation-preview.png``: custom segmentation settings previewed on the current field;
- ``cell-gallery.png``: every cell of the case side by side, grouped by call, one highlighted
  in its field after a click;
- ``main-window-1280x1024.png``, ``main-window-1920x1080.png``: the same case on the other
  clinic screens (main-window.png is 1366 x 768);
- ``camera-panel.png``: the live camera panel (the sample fields played as a camera) after a
  capture with Space: the focus score, and the captured field analysed in the case;
All at 1366 x 768, the smallest screen the window is made for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _screen_config(width: int, height: int) -> str:
    import json
    path = Path(tempfile.mkdtemp(prefix="labapp-qt-")) / "screen.json"
    path.write_text(json.dumps({"screens": [{"name": "docs", "x": 0, "y": 0, "width": width,
                                             "height": height, "logicalDpi": 96,
                                             "logicalBaseDpi": 96, "dpr": 1}]}))
    return str(path)


def _flagged_examples(sample: Path, folder: Path) -> None:
    """Two fields a technician must look at: an empty slide area and an out-of-focus field."""
    import cv2
    import numpy as np
    from PIL import Image
    rgb = np.asarray(Image.open(sample).convert("RGB"))
    blank = np.full_like(rgb, (236, 232, 240))
    noise = np.random.default_rng(0).normal(0, 3, rgb.shape)
    Image.fromarray(np.clip(blank + noise, 0, 255).astype(np.uint8)).save(folder / "field-empty.png")
    blurred = cv2.GaussianBlur(rgb, (0, 0), 7)
    Image.fromarray(blurred).save(folder / "field-out-of-focus.png")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model dir (default: the bundled model)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    p.add_argument("--size", default="1366x768")
    p.add_argument("--samples", type=Path, default=REPO / "resources" / "samples")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_screen_config(1920, 1080)}"

    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QColor, QFont, QFontDatabase, QPainter
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    fonts = REPO / "resources" / "fonts"
    for ttf in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        if (fonts / ttf).exists():
            QFontDatabase.addApplicationFont(str(fonts / ttf))
    app.setFont(QFont("DejaVu Sans", 9))

    from lab_app.gui.dialogs import OverrideDialog, QuietDialogs
    from lab_app.gui.main_window import MainWindow
    from lab_app.gui.screenshot import save_grab, window_settled

    def settle(win, extra_s: float = 0.3, timeout_s: float = 120.0) -> None:
        t_end = time.perf_counter() + timeout_s
        while not window_settled(win) and time.perf_counter() < t_end:
            app.processEvents()
            time.sleep(0.01)
        t_end = time.perf_counter() + extra_s
        while time.perf_counter() < t_end:
            app.processEvents()
            time.sleep(0.01)

    tmp = Path(tempfile.mkdtemp(prefix="labapp-docs-"))
    images = tmp / "slide-2024-0117"
    images.mkdir()
    samples = sorted(p for p in args.samples.glob("*") if p.suffix.lower() in (".jpg", ".png", ".tif"))
    if not samples:
        raise SystemExit(f"no sample images in {args.samples}")
    for src in samples:
        shutil.copy(src, images / src.name)
    (images / "field-scan-error.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated by the camera")
    _flagged_examples(samples[0], images)

    win = MainWindow(store_path=tmp / "cases.sqlite3", config_dir=tmp, model_dir=args.model,
                     device="cpu", dialogs=QuietDialogs())
    win.resize(width, height)
    win.show()
    win.start_engine()
    for name, value in (("patient_id", "P-2024-0117"), ("patient_name", "Doe, Jane"),
                        ("patient_birth_date", "2016-04-09"), ("patient_sex", "F"),
                        ("sample_id", "S-88412"), ("collected_on", "2024-05-02"),
                        ("received_on", "2024-05-02"), ("physician", "Dr. A. Rahimi"),
                        ("technician", "M. Karimi")):
        win.case_panel.set_value(name, value)
    win.ensure_case()
    win.open_paths([images])
    settle(win)
    if win.engine is None:
        raise SystemExit(f"the model did not load: {win.engine_error}")

    # Review a few calls, as a technician would with Enter and 1-4.
    by_name = {r.name: r for r in win.model.rows()}
    for name in ("WBC-Benign-006.jpg", "WBC-Malignant-Pre-095.jpg", "WBC-Malignant-Pre-741.jpg"):
        row = by_name.get(name)
        if row is not None and row.undecided and row.result.prediction:
            win.store.set_decision(win.case.id, row.image.id, "M. Karimi", "accepted")
    row = by_name.get("field-out-of-focus.png")
    if row is not None and row.image is not None and row.result.status == "ok":
        target = "Pre" if row.result.prediction != "Pre" else "Early"
        win.store.set_decision(win.case.id, row.image.id, "M. Karimi", "overridden",
                               override_class=target,
                               reason="Out of focus; the blasts match the Pre-B fields of this slide.")
    win.open_case(win.case.id)
    args.out.mkdir(parents=True, exist_ok=True)
    target = next((i for i in range(win.proxy.rowCount())
                   if win.proxy.row_at(i).undecided and win.proxy.row_at(i).result.prediction), 0)
    win.select_proxy_row(target)
    win.actions_.show_outlines.setChecked(True)
    win.actions_.show_mask.setChecked(False)
    win.actions_.show_cam.setChecked(False)
    win.image_list.view.setFocus()
    settle(win)
    shots = [save_grab(win, args.out / "main-window.png")]

    # Overlays: mask and numbered outlines, zoomed in; then the activation map.
    win.actions_.show_mask.setChecked(True)
    settle(win)
    win.viewer.view.zoom_by(1.6)
    settle(win)
    shots.append(save_grab(win, args.out / "overlays.png"))
    win.actions_.show_mask.setChecked(False)
    win.actions_.show_cam.setChecked(True)
    win.viewer.view.fit()
    settle(win)
    shots.append(save_grab(win, args.out / "activation-map.png"))
    win.actions_.show_cam.setChecked(False)

    # The override dialog over the window, as after pressing 3.
    row = win.current_row()
    dlg = OverrideDialog(win, row.name, row.result.prediction,
                         next(c for c in ("Pre", "Pro", "Early") if c != row.result.prediction))
    dlg.reason.setEditText("Blasts with fine chromatin; nuclear detail fits Pre-B.")
    dlg.reason.lineEdit().deselect()
    dlg.show()
    settle(win)
    base = win.grab()
    pic = dlg.grab()
    painter = QPainter(base)
    shade = QColor(0, 0, 0, 60)
    painter.fillRect(base.rect(), shade)
    pos = QPoint((base.width() - pic.width()) // 2, (base.height() - pic.height()) // 3)
    painter.fillRect(pos.x() + 6, pos.y() + 6, pic.width(), pic.height(), QColor(0, 0, 0, 90))
    painter.drawPixmap(pos, pic)
    painter.end()
    path = args.out / "override-dialog.png"
    base.save(str(path), "PNG")
    shots.append(path)
    dlg.close()

    # Needs review: flagged images and the error row.
    win.image_list.set_filters(show="flagged")
    err = win.model.find(str(images / "field-scan-error.jpg"))
    if win.proxy.rowCount():
        win.select_proxy_row(0)
    settle(win)
    shots.append(save_grab(win, args.out / "needs-review.png"))
    win.image_list.set_filters(show="all")
    if err >= 0:
        win.select_proxy_row(win.proxy.mapFromSource(win.model.index(err, 0)).row())
        settle(win)
        shots.append(save_grab(win, args.out / "error-row.png"))

    # Segmentation preview with custom settings.
    win.select_proxy_row(target)
    win.side_tabs.setCurrentIndex(1)
    settle(win)
    win.seg_panel.spins["min_cell_area"].setValue(400)
    settle(win, extra_s=0.6)
    shots.append(save_grab(win, args.out / "segmentation-preview.png"))
    win.seg_panel.reset_to_preset()
    win.side_tabs.setCurrentIndex(0)

    # The cell gallery, one cell shown in its field.
    win.show_gallery(True)
    settle(win, extra_s=0.6)
    tiles = win.gallery.tiles()
    if tiles:
        win.show_cell(*tiles[min(3, len(tiles) - 1)])
        settle(win, extra_s=0.6)
    shots.append(save_grab(win, args.out / "cell-gallery.png"))
    win.show_gallery(False)
    win.dock_results.raise_()

    # The other clinic screens.
    for w, h in ((1280, 1024), (1920, 1080)):
        win.resize(w, h)
        settle(win, extra_s=0.6)
        shots.append(save_grab(win, args.out / f"main-window-{w}x{h}.png"))
    win.resize(width, height)
    settle(win)

    # At the microscope: the camera panel, fed by the sample fields, after one capture.
    win.gui_state.set_str("camera/source", str(args.samples))
    win.actions_.camera.trigger()
    t_end = time.perf_counter() + 20
    while not win.camera_panel.capture_button.isEnabled() and time.perf_counter() < t_end:
        app.processEvents()
        time.sleep(0.01)
    win.camera_panel.capture()
    settle(win, extra_s=0.6)
    shots.append(save_grab(win, args.out / "camera-panel.png"))
    win.actions_.camera.trigger()

    win.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)
    for s in shots:
        print(s.relative_to(REPO) if s.is_relative_to(REPO) else s)
    del Qt
    return 0


if __name__ == "__main__":
    sys.exit(main())
