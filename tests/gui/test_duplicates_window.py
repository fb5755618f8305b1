"""The window counts every file it was given: byte-identical copies are their own rows."""

from __future__ import annotations

import shutil

from helpers import SAMPLES


def test_the_window_counts_every_file(make_window, tmp_path, gui):
    folder = tmp_path / "in"
    folder.mkdir()
    for k, src in enumerate(SAMPLES[:3]):
        shutil.copy(src, folder / f"{k}.jpg")
    shutil.copy(SAMPLES[0], folder / "3-copy-of-0.jpg")
    win = gui.analysed_window(make_window, folder)
    text = win.summary.other_label.text()
    assert text.startswith("4 analysed") and "1 byte-identical duplicate" in text
    copy_row = next(i for i in range(win.proxy.rowCount())
                    if "copy" in win.proxy.index(i, 0).data())
    win.select_proxy_row(copy_row)
    gui.qtbot.waitUntil(lambda: "byte-identical copy of 0.jpg" in win.prediction.file_label.text())
