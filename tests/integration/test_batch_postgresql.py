"""Issue 20's "done when": two labapp-batch --report --db postgresql://… runs at once store both
cases whole; another process reads them; labapp-report prints one from the server (real fields,
CPU; tests/fixtures_pg.py starts the server), and its FHIR Bundle and HL7 message validate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from lab_app import report_cli
from lab_app.core.cases import CaseStore
from lab_app.core.session import CaseSession

REPO = Path(__file__).resolve().parents[2]


def test_two_batch_runs_at_once_store_both_cases_whole(shipped_fields, model_dir, pg_url, tmp_path,
                                                       monkeypatch):
    env = dict(os.environ, LABAPP_CONFIG_DIR=str(tmp_path / "config"))
    procs = []
    for tag, cls_index in (("A", 0), ("B", 1)):
        folder = tmp_path / f"in-{tag}"
        folder.mkdir()
        for paths in list(shipped_fields.values())[cls_index:cls_index + 2]:
            for p in paths[:2]:
                shutil.copy(p, folder / p.name)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "lab_app.cli", str(folder), "--out", str(tmp_path / f"out-{tag}"),
             "--model", str(model_dir), "--device", "cpu", "--quiet", "--report",
             "--patient-id", f"P-{tag}", "--technician", f"Tech {tag}", "--db", pg_url],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]

    # another process (this one) sees both, whole, with intact audit chains
    with CaseStore(pg_url) as store:
        infos = sorted(store.list_cases(), key=lambda i: i.patient_id)
        assert [(i.patient_id, i.image_count) for i in infos] == [("P-A", 4), ("P-B", 4)]
        assert all(f.intact for f in store.verify_all())
        session = CaseSession(store)
        case = session.open_case(infos[1].id)
        assert case.technician == "Tech B" and len(session.rows) == 4
        assert all(r.image.result.status == "ok" for r in session.rows)

    monkeypatch.setenv("LABAPP_CONFIG_DIR", str(tmp_path / "config"))
    pdf = tmp_path / "case.pdf"
    assert report_cli.main([str(infos[0].id), "--out", str(pdf), "--db", pg_url]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    assert report_cli.main(["--verify", "--db", pg_url]) == 0

    # labapp-report CASE --fhir F --hl7 H from the server: both validate
    from fhir.resources.R4B.bundle import Bundle
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message
    fhir, hl7 = tmp_path / "case.json", tmp_path / "case.hl7"
    assert report_cli.main([str(infos[1].id), "--fhir", str(fhir), "--hl7", str(hl7),
                            "--db", pg_url]) == 0
    bundle = Bundle.model_validate_json(fhir.read_text(encoding="utf-8"))
    assert {e.resource.__resource_type__ for e in bundle.entry} >= {"Patient", "DiagnosticReport"}
    message = parse_message(hl7.read_text(encoding="utf-8").replace("\n", "\r").strip(),
                            validation_level=VALIDATION_LEVEL.TOLERANT)
    message.validate()
    assert message.msh.msh_12.value == "2.5.1" and message.name == "ORU_R01"
