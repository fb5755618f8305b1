"""Case export as JSON (everything, with the audit log) and CSV (one row per image).

Pure functions of the loaded objects; the store writes the result atomically.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from model.classes import CLASS_IDS, DISPLAY_NAMES

from .. import __version__
from .case_models import AuditEntry, Case
from .case_summary import CaseSummary
from .results_io import spreadsheet_safe

EXPORT_FORMAT = 1

CSV_COLUMNS = (
    ["case_id", "case_status", "patient_id", "patient_name", "patient_birth_date", "patient_sex",
     "sample_id", "specimen", "collected_on", "received_on", "physician", "technician", "reviewer",
     "case_call", "image_id", "path", "sha256", "width", "height", "file_size", "status", "error",
     "prediction", "prediction_name", "confidence"]
    + [f"p_{cid}" for cid in CLASS_IDS]
    + ["cells", "flags", "scope_reason", "in_scope", "decision", "override_class", "decision_reason", "decided_by",
       "decided_at", "final_class", "model_name", "model_version", "model_sha256", "device",
       "analysed_at"]
)


def case_to_json(case: Case, summary: CaseSummary, audit: list[AuditEntry], exported_at: str) -> str:
    doc: dict[str, Any] = {
        "format": EXPORT_FORMAT, "software_version": __version__, "exported_at": exported_at,
        "case": case.to_dict(), "summary": summary.to_dict(),
        "audit": [asdict(entry) for entry in audit],
    }
    found = case.integrity     # the audit chain's verdict (lab_app/core/case_integrity.py)
    if found is not None:
        doc["integrity"] = {"intact": found.intact, "digest": found.digest,
                            "problems": list(found.problems)}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def case_to_csv(case: Case, summary: CaseSummary) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    base = {
        "case_id": case.id, "case_status": case.status, "patient_id": case.patient.id,
        "patient_name": case.patient.name, "patient_birth_date": case.patient.birth_date,
        "patient_sex": case.patient.sex, "sample_id": case.sample.id,
        "specimen": case.sample.specimen, "collected_on": case.sample.collected_on,
        "received_on": case.sample.received_on, "physician": case.physician,
        "technician": case.technician, "reviewer": case.reviewer, "case_call": summary.call.call,
    }
    for img in case.images:
        r = img.result
        row = dict(base)
        row.update({
            "image_id": img.id, "path": img.path, "sha256": img.sha256, "width": img.width,
            "height": img.height, "file_size": img.file_size, "status": r.status, "error": r.error,
            "prediction": r.prediction, "prediction_name": DISPLAY_NAMES.get(r.prediction or "", ""),
            "confidence": r.confidence, "cells": r.cells, "flags": ";".join(r.flags),
            "scope_reason": r.scope_reason, "in_scope": img.in_scope, "decision": img.decision.status,
            "override_class": img.decision.override_class, "decision_reason": img.decision.reason,
            "decided_by": img.decision.actor, "decided_at": img.decision.at,
            "final_class": img.final_class, "model_name": r.model.get("name"),
            "model_version": r.model.get("version"), "model_sha256": r.model.get("sha256"),
            "device": r.device, "analysed_at": r.analysed_at,
        })
        for cid in CLASS_IDS:
            row[f"p_{cid}"] = r.probabilities.get(cid)
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas: text starting with = + - @ is prefixed with a quote."""
    if value is None:
        return ""
    return spreadsheet_safe(value) if isinstance(value, str) else value
