"""Issue 20's "a window on a second process sees them": labapp-batch --report runs in another
process and stores its case on the PostgreSQL store (tests/fixtures_pg.py starts a throwaway
server); a window opened on that store lists it in Open a case, opens it whole, and lists a case
another process stores while the window is open."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _batch(folder: Path, out: Path, patient: str, pg_url: str, model_dir: Path,
           config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lab_app.cli", str(folder), "--out", str(out), "--model",
         str(model_dir), "--device", "cpu", "--quiet", "--report", "--patient-id", patient,
         "--technician", "Bea Tech", "--db", pg_url],
        cwd=REPO, env=dict(os.environ, LABAPP_CONFIG_DIR=str(config)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_window_on_the_server_sees_what_another_process_stored(make_window, scripted_dialogs,
                                                                 shipped_fields, model_dir, pg_url,
                                                                 tmp_path, qtbot):
    from lab_app.gui.dialogs import OpenCaseDialog
    folder = tmp_path / "in"
    folder.mkdir()
    for paths in list(shipped_fields.values())[:2]:
        shutil.copy(paths[0], folder / paths[0].name)
    proc = _batch(folder, tmp_path / "out", "NET-1", pg_url, model_dir, tmp_path / "batch-config")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]

    win = make_window(load_engine=False, dialogs=scripted_dialogs, store_path=pg_url)
    assert win.store is not None and win.store.url == pg_url and not scripted_dialogs.errors
    dlg = OpenCaseDialog(win, win.store)
    qtbot.addWidget(dlg)
    listed = [(dlg.table.item(r, 1).text(), dlg.table.item(r, 5).text())
              for r in range(dlg.table.rowCount())]
    assert listed == [("NET-1", "2")]
    case_id = dlg.case_id()
    assert win.open_case(case_id) and not scripted_dialogs.errors     # its audit chain holds
    assert win.case.technician == "Bea Tech" and len(win.session.rows) == 2
    assert win.model.rowCount() == 2
    assert all(r.image.result.status == "ok" for r in win.session.rows)

    # another workstation stores a case while the window is open: the list shows it
    code = textwrap.dedent(f"""
        from lab_app.core.case_models import Patient, Sample
        from lab_app.core.cases import CaseStore
        with CaseStore({pg_url!r}) as s:
            s.create_case(patient=Patient("NET-2"), sample=Sample("S-2"), technician="Cy Tech")
    """)
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)
    dlg.refresh()
    assert [dlg.table.item(r, 1).text() for r in range(dlg.table.rowCount())] == ["NET-2", "NET-1"]
