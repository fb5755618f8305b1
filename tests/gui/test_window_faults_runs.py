"""Interrupted runs: what the status bar says after a cancelled re-analysis."""

from __future__ import annotations

import re
import time


def test_a_cancelled_reanalysis_says_the_rest_keep_their_results(make_window, image_folder,
                                                                  tmp_path, gui):
    folder = tmp_path / "many"
    folder.mkdir()
    files = sorted(image_folder.glob("*.jpg"))
    for i in range(70):   # distinct bytes: the store keeps each as its own image
        (folder / f"field-{i:03d}.jpg").write_bytes(files[i % len(files)].read_bytes() + bytes([i]))
    win = make_window()
    assert win.open_paths([folder])
    gui.wait_analysed(win, timeout=120000)

    real = win.engine.run_preprocessed

    def slow(x, with_cam=False):
        time.sleep(0.25)
        return real(x, with_cam=with_cam)

    win.engine.run_preprocessed = slow
    win.reanalyse_case()
    gui.qtbot.waitUntil(lambda: win.progress.value() > 0, timeout=30000)
    with gui.qtbot.waitSignal(win.analysis_finished, timeout=30000):
        win.actions_.cancel.trigger()
    assert len(win.store.get_case(win.case.id).images) == 70
    assert win.session.pending_count() == 0
    message = win.statusBar().currentMessage()
    done = re.match(r"Cancelled: (\d+) of 70 images analysed", message)
    assert done and 0 < int(done.group(1)) < 70, message
    assert "keep their earlier results" in message and "pending" not in message
