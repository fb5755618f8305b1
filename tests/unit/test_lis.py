"""FHIR and HL7 exports of a stored case: content, escaping, and status following sign-off."""

from __future__ import annotations

import base64
import json

import pytest

from lab_app.core.case_models import ACCEPTED, OVERRIDDEN, LabInfo, Patient, Sample
from lab_app.core.cases import CaseStore, DecisionChange
from lab_app.core.lis import fhir_bundle, hl7_oru, write_fhir, write_hl7

from helpers import Clock, result

PDF = b"%PDF-1.4 tiny report\n%%EOF"


@pytest.fixture
def case_store(tmp_path):
    with CaseStore(tmp_path / "cases.sqlite3", clock=Clock()) as store:
        case = store.create_case(
            patient=Patient("P-77", "O'Brien-Smith, Ann ^Marie & co|x", "2016-04-09", "F"),
            sample=Sample("S-88412", "Peripheral blood smear", "2024-05-02", "2024-05-03"),
            technician="Ana Tech", physician="Dr. Who", lab=LabInfo("City Lab", "", None),
            actor="Ana Tech")
        images = [store.add_result(case.id, result(f"f{i}.jpg", prediction=c))
                  for i, c in enumerate(["Pre", "Pre", "Pre", "Pro"])]
        for img in images[:3]:
            store.set_decision(case.id, img.id, "Ana Tech", ACCEPTED)
        store.set_decision(case.id, images[3].id, "Ana Tech", OVERRIDDEN, override_class="Pre",
                           reason="blasts look Pre-B")
        yield store, store.get_case(case.id), images


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_fhir_bundle_has_patient_specimen_report_and_observations(case_store):
    store, case, _ = case_store
    bundle = fhir_bundle(case, pdf=PDF)
    from fhir.resources.R4B.bundle import Bundle
    Bundle.model_validate(bundle)                                   # valid FHIR
    (patient,) = resources(bundle, "Patient")
    assert patient["identifier"][0]["value"] == "P-77" and patient["gender"] == "female"
    assert patient["birthDate"] == "2016-04-09"
    (specimen,) = resources(bundle, "Specimen")
    assert specimen["accessionIdentifier"]["value"] == "S-88412"
    (report,) = resources(bundle, "DiagnosticReport")
    assert report["status"] == "preliminary"                        # not signed off yet
    assert "Case call: Pre-B ALL from 4 reviewed image(s)" in report["conclusion"]
    assert "research use only" in report["conclusion"].lower()
    assert base64.b64decode(report["presentedForm"][0]["data"]) == PDF
    obs = resources(bundle, "Observation")
    assert obs[0]["valueString"] == "Pre-B ALL"
    counts = {o["code"]["coding"][0]["code"]: o["valueQuantity"]["value"] for o in obs[1:]}
    assert counts == {"ALL-COUNT-BENIGN": 0, "ALL-COUNT-EARLY": 0, "ALL-COUNT-PRE": 4,
                      "ALL-COUNT-PRO": 0}
    refs = {r["reference"] for r in report["result"]}
    assert refs == {f"urn:uuid:{o['id']}" for o in obs}


def test_status_follows_sign_off_and_amendment(case_store):
    store, case, images = case_store
    open_msg = hl7_oru(case).split("\r")
    assert [s.split("|")[25] for s in open_msg if s.startswith("OBR")] == ["P"]
    assert all(s.split("|")[11] == "P" for s in open_msg if s.startswith("OBX"))
    signed = store.sign_off(case.id, "Ana Tech")
    assert resources(fhir_bundle(signed), "DiagnosticReport")[0]["status"] == "final"
    assert all(seg.split("|")[11] == "F" for seg in hl7_oru(signed).split("\r")
               if seg.startswith("OBX"))
    amended = store.amend(case.id, "Ana Tech", "second look", decisions=[
        DecisionChange(images[3].id, ACCEPTED)])
    assert resources(fhir_bundle(amended), "DiagnosticReport")[0]["status"] == "amended"
    message = hl7_oru(amended)
    assert all(seg.split("|")[11] == "C" for seg in message.split("\r") if seg.startswith("OBX"))
    obr = next(seg for seg in message.split("\r") if seg.startswith("OBR")).split("|")
    assert obr[25] == "C"
    counts = {seg.split("|")[3].split("^")[0]: seg.split("|")[5] for seg in message.split("\r")
              if seg.startswith("OBX") and "|NM|" in seg}
    assert counts["ALL-COUNT-PRE"] == "3" and counts["ALL-COUNT-PRO"] == "1"


def test_hl7_escapes_names_and_parses_back(case_store):
    from hl7apy.parser import parse_message
    _, case, _ = case_store
    text = hl7_oru(case, pdf=PDF)
    msg = parse_message(text.replace("\n", "\r"), find_groups=False)
    pid = [s for s in text.split("\r") if s.startswith("PID")][0].split("|")
    assert pid[3] == "P-77" and pid[7] == "20160409" and pid[8] == "F"
    family, given = pid[5].split("^")
    assert family == "O'Brien-Smith" and given == "Ann \\S\\Marie \\T\\ co\\F\\x"
    assert msg.msh.msh_9.to_er7() == "ORU^R01^ORU_R01"
    ed = [s for s in text.split("\r") if "ALL-REPORT-PDF" in s][0]
    assert base64.b64decode(ed.split("|")[5].split("^")[4]) == PDF


def test_files_are_written(case_store, tmp_path):
    _, case, _ = case_store
    f = write_fhir(case, tmp_path / "case.json")
    assert json.loads(f.read_text())["resourceType"] == "Bundle"
    h = write_hl7(case, tmp_path / "case.hl7")
    assert h.read_bytes().startswith(b"MSH|^~\\&|ALL-Workstation|")


def test_labapp_report_writes_pdf_fhir_and_hl7(case_store, tmp_path, capsys):
    from lab_app.report_cli import main as report_main
    store, case, _ = case_store
    pdf, fhir, hl7 = tmp_path / "r.pdf", tmp_path / "r.json", tmp_path / "r.hl7"
    rc = report_main([str(case.id), "--out", str(pdf), "--fhir", str(fhir), "--hl7", str(hl7),
                      "--db", str(store.path), "--facility", "City Lab"])
    assert rc == 0, capsys.readouterr().err
    assert capsys.readouterr().out.split() == [str(pdf), str(fhir), str(hl7)]
    report = resources(json.loads(fhir.read_text()), "DiagnosticReport")[0]
    assert base64.b64decode(report["presentedForm"][0]["data"]) == pdf.read_bytes()
    assert hl7.read_bytes().startswith(b"MSH|^~\\&|ALL-Workstation|City Lab|")
    # Without --out: the messages alone; an existing file is kept unless --overwrite.
    assert report_main([str(case.id), "--hl7", str(hl7), "--db", str(store.path)]) == 1
    assert "exists; use --overwrite" in capsys.readouterr().err
    assert report_main([str(case.id), "--hl7", str(hl7), "--db", str(store.path),
                        "--overwrite"]) == 0
    assert "ALL-REPORT-PDF" not in hl7.read_text()


def test_hl7_without_a_patient_name_still_validates_as_sent(tmp_path):
    """labapp-batch --report without --patient-name: PID-5 (required) is HL7's explicit null,
    not an empty field that vanishes from the message the LIS reads."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message
    with CaseStore(tmp_path / "cases.sqlite3", clock=Clock()) as store:
        case = store.create_case(patient=Patient("P-1"), sample=Sample("S-1"), technician="T",
                                 results=[result("a.jpg")])
        text = hl7_oru(store.get_case(case.id))
    message = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT)
    message.validate()
    pid = [s for s in text.split("\r") if s.startswith("PID|")][0]
    assert pid.split("|")[5] == '""'
