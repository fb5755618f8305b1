"""Open the window on a screen of a given size and scale (first run: no saved layout) and print
what a technician can see, as JSON. Run by tests/gui/test_layout.py in a fresh interpreter,
because Qt reads the screen size and the scale factor only at start-up.

    python tests/gui/layout_probe.py WIDTH HEIGHT SCALE CONFIG_DIR
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

width, height, scale, config = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
screen = Path(config) / "screen.json"
screen.write_text(json.dumps({"screens": [{"name": "probe", "x": 0, "y": 0, "width": width,
                                           "height": height, "logicalDpi": 96,
                                           "logicalBaseDpi": 96, "dpr": 1}]}))
os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screen}"
os.environ["QT_SCALE_FACTOR"] = str(scale)
os.environ["LABAPP_CONFIG_DIR"] = config

from PySide6.QtCore import QRect  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

app = QApplication([])
from lab_app.gui.dialogs import QuietDialogs  # noqa: E402
from lab_app.gui.main_window import MainWindow  # noqa: E402
from lab_app.gui.results_model import COL  # noqa: E402

tmp = tempfile.mkdtemp(prefix="labapp-layout-")
win = MainWindow(store_path=Path(tmp) / "cases.sqlite3", config_dir=config, dialogs=QuietDialogs())
win.show()
for _ in range(20):
    app.processEvents()


def shown(widget) -> bool:
    """Visible and not clipped by its window (its whole rectangle lies inside the window)."""
    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        return False
    top_left = widget.mapTo(win, widget.rect().topLeft())
    return QRect(0, 0, win.width(), win.height()).contains(QRect(top_left, widget.size()))


avail = QGuiApplication.primaryScreen().availableGeometry()
table = win.table
needed = ("file", "status", "call", "confidence")
right = max(table.columnViewportPosition(COL[k]) + table.columnWidth(COL[k]) for k in needed)
print(json.dumps({
    "screen": [avail.width(), avail.height()],
    "window": [win.frameGeometry().width(), win.frameGeometry().height()],
    "fits_screen": avail.contains(win.frameGeometry()),
    "ruo_shown": shown(win.findChild(type(win.device_label), "ruoLabel")),
    "table_columns_fit": right <= table.viewport().width(),
    "table_width": table.viewport().width(), "columns_need": right,
    "accept_shown": shown(win.prediction.accept_button),
    "next_shown": shown(win.prediction.next_button) if hasattr(win.prediction, "next_button") else None,
    "case_tab_shown": shown(win.side_tabs.tabBar()),
    "segmentation_tab_shown": win.side_tabs.tabBar().tabRect(1).right() <= win.side_tabs.tabBar().width(),
}))
win.shutdown()
