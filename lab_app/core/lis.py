"""Results to the laboratory information system: a FHIR Bundle and an HL7 v2.5.1 ORU^R01.

Both are built from the stored case (the same source as the PDF report) and validated with a
maintained library before they are written: fhir.resources (FHIR R4B, the 4.3 release of R4,
whose Patient, Specimen, Observation, DiagnosticReport and Bundle are those of R4) and hl7apy.

What they carry:
- Patient and Specimen (sample ID, type, collection and receipt dates);
- an Observation for the case call and one per subtype with its count among reviewed images;
- a DiagnosticReport with the conclusion (the case call and the research-use statement) and, when
  given, the PDF report as presentedForm (FHIR) or an encapsulated-data OBX (HL7).
The status follows sign-off: an open case is preliminary (FHIR ``preliminary``, OBX-11 ``P``), a
signed case final (``final``, ``F``), an amended case a corrected result (``amended``, ``C``).

Nothing here opens a network connection: the files are handed to the LIS by the lab's interface
engine (a shared folder, MLLP, a FHIR server upload) outside the program.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from model.atomic import atomic_write_bytes
from model.classes import CLASS_IDS, DISPLAY_NAMES

from .case_models import AMENDED, OPEN, Case
from .case_summary import summarize
from .errors import LabAppError

RESEARCH_NOTE = "For research use only. Not for use in diagnostic procedures."
CODE_SYSTEM = "urn:all-workstation:codes"     # local codes: no LOINC exists for these results
CASE_CALL_CODE = ("ALL-SUBTYPE", "ALL subtype, image analysis (case call)")
SENDING_APP = "ALL-Workstation"


class LisExportError(LabAppError):
    """A FHIR or HL7 message could not be built or written."""


def _status(case: Case) -> tuple[str, str]:
    """(FHIR DiagnosticReport/Observation status, HL7 result status)."""
    if case.status == OPEN:
        return "preliminary", "P"
    if case.status == AMENDED:
        return "amended", "C"
    return "final", "F"


def _uid(case: Case, what: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"all-workstation:case:{case.id}:{what}"))


def _fhir_gender(sex: str) -> str:
    return {"F": "female", "M": "male", "X": "other"}.get((sex or "").strip().upper()[:1], "unknown")


def _conclusion(case: Case) -> tuple[str, Any]:
    summary = summarize(case.images)
    text = (f"Case call: {summary.label} from {summary.call.reviewed} reviewed image(s). "
            f"{RESEARCH_NOTE}")
    return text, summary


# --------------------------------------------------------------------------------- FHIR
def fhir_bundle(case: Case, *, pdf: bytes | None = None, now: datetime | None = None) -> dict:
    """The case as a FHIR R4(B) collection Bundle (a dict, validated by fhir.resources)."""
    from fhir.resources.R4B.bundle import Bundle

    now = now or datetime.now(timezone.utc)
    status, _ = _status(case)
    conclusion, summary = _conclusion(case)
    ids = {k: _uid(case, k) for k in ("patient", "specimen", "report", "call")}
    patient: dict[str, Any] = {"resourceType": "Patient", "id": ids["patient"],
                               "identifier": [{"value": case.patient.id or f"case-{case.id}"}],
                               "gender": _fhir_gender(case.patient.sex)}
    if case.patient.name:
        patient["name"] = [{"text": case.patient.name}]
    if case.patient.birth_date:
        patient["birthDate"] = case.patient.birth_date
    specimen: dict[str, Any] = {"resourceType": "Specimen", "id": ids["specimen"],
                                "subject": {"reference": f"urn:uuid:{ids['patient']}"},
                                "type": {"text": case.sample.specimen or "Peripheral blood smear"}}
    if case.sample.id:
        specimen["accessionIdentifier"] = {"value": case.sample.id}
    if case.sample.collected_on:
        specimen["collection"] = {"collectedDateTime": case.sample.collected_on}
    if case.sample.received_on:
        specimen["receivedTime"] = _fhir_datetime(case.sample.received_on)
    subject = {"reference": f"urn:uuid:{ids['patient']}"}
    code = {"coding": [{"system": CODE_SYSTEM, "code": CASE_CALL_CODE[0],
                        "display": CASE_CALL_CODE[1]}], "text": CASE_CALL_CODE[1]}
    observations = [{
        "resourceType": "Observation", "id": ids["call"], "status": status, "code": code,
        "subject": subject, "specimen": {"reference": f"urn:uuid:{ids['specimen']}"},
        "valueString": summary.label, "note": [{"text": RESEARCH_NOTE}]}]
    for cid in CLASS_IDS:
        oid = _uid(case, f"count-{cid}")
        ids[f"count-{cid}"] = oid
        observations.append({
            "resourceType": "Observation", "id": oid, "status": status,
            "code": {"coding": [{"system": CODE_SYSTEM, "code": f"ALL-COUNT-{cid.upper()}",
                                 "display": f"Reviewed images called {DISPLAY_NAMES[cid]}"}],
                     "text": f"Reviewed images called {DISPLAY_NAMES[cid]}"},
            "subject": subject, "specimen": {"reference": f"urn:uuid:{ids['specimen']}"},
            "valueQuantity": {"value": summary.call.counts.get(cid, 0), "unit": "images"}})
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "id": ids["report"], "status": status, "code": code,
        "identifier": [{"value": f"case-{case.id}"}], "subject": subject,
        "specimen": [{"reference": f"urn:uuid:{ids['specimen']}"}],
        "issued": now.isoformat(timespec="seconds"),
        "result": [{"reference": f"urn:uuid:{o['id']}"} for o in observations],
        "conclusion": conclusion}
    performers = [p for p in (case.signed_by or case.technician, case.reviewer_signed_by) if p]
    if performers:
        report["resultsInterpreter"] = [{"display": p} for p in performers]
    if pdf is not None:
        report["presentedForm"] = [{"contentType": "application/pdf", "language": "en",
                                    "data": base64.b64encode(pdf).decode("ascii"),
                                    "title": f"Case {case.id} report"}]
    entries = [patient, specimen, *observations, report]
    doc = {"resourceType": "Bundle", "type": "collection", "timestamp": report["issued"],
           "identifier": {"value": f"case-{case.id}-{report['issued']}"},
           "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries]}
    try:
        return json.loads(Bundle.model_validate(doc).model_dump_json())
    except ValueError as exc:    # pydantic's ValidationError is a ValueError
        raise LisExportError(f"The FHIR bundle of case {case.id} is not valid: {exc}") from exc


def _fhir_datetime(value: str) -> str:
    """A date alone gets midnight UTC (FHIR instants need a time)."""
    return value if "T" in value else f"{value}T00:00:00+00:00"


# ---------------------------------------------------------------------------------- HL7
def _esc(text: Any) -> str:
    """HL7 v2 escaping of a value put into one component."""
    s = "" if text is None else str(text)
    out = (s.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
           .replace("&", "\\T\\").replace("~", "\\R\\"))
    return out.replace("\r\n", "\\.br\\").replace("\n", "\\.br\\").replace("\r", "\\.br\\")


def _hl7_date(value: str | None) -> str:
    return (value or "").replace("-", "").replace(":", "").replace("T", "")[:14]


def hl7_oru(case: Case, *, pdf: bytes | None = None, now: datetime | None = None,
            facility: str = "", receiving: str = "LIS") -> str:
    """The case as an HL7 v2.5.1 ORU^R01 message (ER7, segments separated by CR)."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Message
    from hl7apy.exceptions import HL7apyException
    from hl7apy.parser import parse_message

    now = now or datetime.now(timezone.utc)
    _, result_status = _status(case)
    conclusion, summary = _conclusion(case)
    stamp = now.strftime("%Y%m%d%H%M%S")
    try:
        m = Message("ORU_R01", version="2.5.1")
        m.msh.msh_3 = _esc(SENDING_APP)
        m.msh.msh_4 = _esc(facility)
        m.msh.msh_5 = _esc(receiving)
        m.msh.msh_7 = stamp
        m.msh.msh_9 = "ORU^R01^ORU_R01"
        m.msh.msh_10 = f"C{case.id}-{stamp}"
        m.msh.msh_11 = "P"            # processing id: production
        m.msh.msh_12 = "2.5.1"
        group = m.oru_r01_patient_result
        pid = group.oru_r01_patient.pid
        pid.pid_1 = "1"
        pid.pid_3 = _esc(case.patient.id or f"case-{case.id}")
        family, _, given = (case.patient.name or "").partition(",")
        # PID-5 is required: a case without a name (labapp-batch without --patient-name) sends
        # HL7's explicit null "", which a strict receiver accepts, not an absent field.
        pid.pid_5.pid_5_1 = _esc(family.strip()) or '""'
        if given.strip():
            pid.pid_5.pid_5_2 = _esc(given.strip())
        if case.patient.birth_date:
            pid.pid_7 = _hl7_date(case.patient.birth_date)
        pid.pid_8 = {"F": "F", "M": "M", "X": "O"}.get((case.patient.sex or "").upper()[:1], "U")
        order = group.oru_r01_order_observation
        obr = order.obr
        obr.obr_1 = "1"
        obr.obr_3 = f"case-{case.id}"
        obr.obr_4 = f"{CASE_CALL_CODE[0]}^{_esc(CASE_CALL_CODE[1])}^L"
        obr.obr_7 = _hl7_date(case.sample.collected_on) or stamp
        if case.sample.id:
            obr.obr_20 = _esc(case.sample.id)      # filler field 1: the sample ID
        obr.obr_22 = stamp
        obr.obr_25 = result_status
        obx_rows = [("CWE", CASE_CALL_CODE[0], CASE_CALL_CODE[1],
                     f"{_esc(summary.call.call)}^{_esc(summary.label)}^L", "")]
        for cid in CLASS_IDS:
            obx_rows.append(("NM", f"ALL-COUNT-{cid.upper()}",
                             f"Reviewed images called {DISPLAY_NAMES[cid]}",
                             str(summary.call.counts.get(cid, 0)), "images"))
        obx_rows.append(("TX", "ALL-CONCLUSION", "Conclusion", _esc(conclusion), ""))
        if pdf is not None:
            obx_rows.append(("ED", "ALL-REPORT-PDF", "Case report (PDF)",
                             "^application^pdf^Base64^" + base64.b64encode(pdf).decode("ascii"), ""))
        for n, (vtype, code, text, value, units) in enumerate(obx_rows, start=1):
            obs = order.oru_r01_observation if n == 1 else order.add_group("ORU_R01_OBSERVATION")
            obx = obs.obx
            obx.obx_1 = str(n)
            obx.obx_2 = vtype
            obx.obx_3 = f"{code}^{_esc(text)}^L"
            obx.obx_5 = value
            if units:
                obx.obx_6 = units
            obx.obx_11 = result_status
            obx.obx_14 = stamp
        m.validate()
        er7 = m.to_er7()
        # What is sent, read back and validated: an empty required field vanishes from the text.
        # (Read tolerantly: hl7apy's strict reading limits the PDF's ED data to 199 characters.)
        parse_message(er7, validation_level=VALIDATION_LEVEL.TOLERANT).validate()
        return er7
    except HL7apyException as exc:
        raise LisExportError(f"The HL7 message of case {case.id} could not be built: {exc}") from exc


# -------------------------------------------------------------------------------- files
def write_fhir(case: Case, path: str | os.PathLike[str], *, pdf: bytes | None = None) -> Path:
    doc = fhir_bundle(case, pdf=pdf)
    return _write(path, json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))


def write_hl7(case: Case, path: str | os.PathLike[str], *, pdf: bytes | None = None,
              facility: str = "") -> Path:
    text = hl7_oru(case, pdf=pdf, facility=facility)
    return _write(path, (text + "\r").encode("utf-8"))


def _write(path: str | os.PathLike[str], data: bytes) -> Path:
    try:
        return atomic_write_bytes(path, data)
    except OSError as exc:
        raise LisExportError(f"{path} could not be written: {exc.strerror or exc}.") from exc
