"""The window must survive a long session on the installed Qt binding (see lab_app.gui.qtcompat)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_many_qt_calls_and_emits_do_not_abort_the_interpreter():
    code = (
        "import lab_app.gui\n"
        "from PySide6.QtCore import QObject, Signal, QCoreApplication\n"
        "app = QCoreApplication([])\n"
        "class S(QObject):\n"
        "    sig = Signal(object)\n"
        "s = S(); s.sig.connect(lambda v: None)\n"
        "for i in range(200000):\n"
        "    s.setObjectName('x')\n"
        "    s.sig.emit(None)\n"
        "    app.processEvents()\n"
        "print('alive')\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "alive" in proc.stdout
