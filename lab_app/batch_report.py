"""``labapp-batch --report``: store the batch as a case and print its PDF report.

The pictures come from the analysis itself (``KeptPictures``, filled as the results stream), so
the report decodes, segments and infers no image a second time.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from .core.case_models import LabInfo, Patient, Sample
from .core.cases import CaseStore
from .core.report import card_metrics
from .core.report_assembly import KeptPictures, ReportPictures, write_case_report
from .core.results import ImageResult
from .core.settings import database_location, load_settings

REPORT_NAME = "report.pdf"


def _keep_previous(path: Path) -> Path | None:
    """An earlier report in the output folder is kept under a dated name, never overwritten."""
    if not path.exists():
        return None
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
    n = 1
    while kept.exists():
        n += 1
        kept = path.with_name(f"{path.stem}-{stamp}-{n}{path.suffix}")
    path.rename(kept)
    return kept


def write_batch_report(args: argparse.Namespace, out_dir: Path, results: list[ImageResult],
                       engine, kept: KeptPictures | None = None) -> Path:
    settings = load_settings()
    store = CaseStore(database_location(args.db))   # --db, else the lab settings' database
    try:
        case = store.create_case(
            patient=Patient(id=args.patient_id or "", name=args.patient_name or "",
                            birth_date=args.patient_dob, sex=args.patient_sex or ""),
            sample=Sample(id=args.sample_id or "", specimen=args.specimen or "Peripheral blood smear",
                          collected_on=args.collected, received_on=args.received),
            technician=args.technician or "", physician=args.physician or "",
            lab=LabInfo.from_settings(settings.lab), actor=args.technician or "labapp-batch",
            results=results)
        target = Path(out_dir) / REPORT_NAME
        _keep_previous(target)
        # --threshold is this batch's own threshold (its flags used it); else the lab's, if set.
        lab_threshold = args.threshold if args.threshold is not None else settings.lab.confidence_threshold
        # What the analysis kept is used; only resumed images (none kept) are redrawn.
        return write_case_report(
            store, case.id, target, pictures=ReportPictures(kept=kept, engine=engine),
            model_meta=engine.meta, model_metrics=card_metrics(engine.meta), lab_threshold=lab_threshold,
            page_size=args.page_size or settings.lab.report_page_size, include_appendix=True)
    finally:
        store.close()
