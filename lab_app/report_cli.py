"""labapp-report: re-export the PDF report of a stored case.

    labapp-report CASE_ID [--out FILE] [--fhir FILE] [--hl7 FILE] [--page-size A4|Letter]
                  [--appendix] [--overwrite] [--db PATH] [--model DIR]
    labapp-report --verify [--db PATH]

Exit codes: 0 written; 1 the case (or the --db database) is unknown, the file exists (without --overwrite) or cannot be
written (one-line message on stderr), or the case was changed outside the program (its audit
chain is broken: the report is written with a warning box at the top, and the line names the
case); 2 usage error (also a --db URL other than postgresql://). --verify checks every
case of the database and the account log (exit 1 if any was changed). The page size defaults to the lab settings'
one. The footer's validation metrics come from --model DIR's model.json, else from the metrics
recorded with the case's results, else from the bundled model with the same sha256; calls are
marked below the lab's threshold where the settings set one, else below that model's calibrated
threshold. Nothing of the analysis is at hand here, so the segmentation overlays are redrawn
from the files with the stored parameters; activation maps (which need the model) are not part
of a re-export.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from .core.errors import LabAppError

PROG = "labapp-report"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Write the PDF report of a stored case "
                                "(research use only), and its FHIR / HL7 results for the LIS.",
                                epilog="exit codes: 0 written (or --verify: every case intact); "
                                "1 the case is unknown, a file exists (without --overwrite) or "
                                "cannot be written, or the case was changed outside the program "
                                "(--verify: any case); 2 usage error.")
    p.add_argument("case_id", type=int, nargs="?", metavar="CASE_ID",
                   help="case number as shown in the case list")
    p.add_argument("--out", type=Path, metavar="FILE", help="PDF file to write")
    p.add_argument("--fhir", type=Path, metavar="FILE",
                   help="also write the results as a FHIR Bundle (JSON) for the LIS; with --out "
                        "the PDF is included")
    p.add_argument("--hl7", type=Path, metavar="FILE",
                   help="also write the results as an HL7 v2.5.1 ORU^R01 message for the LIS")
    p.add_argument("--facility", default="", metavar="NAME",
                   help="sending facility in the HL7 message header (default: empty)")
    p.add_argument("--verify", action="store_true",
                   help="check every case's audit chain and the account log instead (changes "
                        "made outside the program)")
    p.add_argument("--page-size", choices=("A4", "Letter"), default=None,
                   help="paper size (default: the lab settings' size, else A4)")
    p.add_argument("--appendix", action="store_true", help="add larger images on appendix pages")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--db", default=None, metavar="PATH|URL",
                   help="case database file or folder, or postgresql://user@host:port/dbname "
                        "(default: the lab settings' database, else the user's data folder)")
    p.add_argument("--model", type=Path, default=None, metavar="DIR",
                   help="model folder whose model.json gives the validation metrics")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)         # exits 2 on a usage error
    if not args.verify and (args.case_id is None or not (args.out or args.fhir or args.hl7)):
        parser.error("give CASE_ID and --out FILE, --fhir FILE or --hl7 FILE (or --verify)")
    from .core.cases import check_db_location
    try:
        check_db_location(args.db)
    except LabAppError as exc:
        parser.error(str(exc))
    if args.db and "://" not in args.db:
        from .core.cases import resolve_db_path
        if not resolve_db_path(args.db).is_file():
            # Opening it would create an empty database and report "no case N" / "0 cases".
            print(f"{PROG}: error: There is no case database at {args.db}; check --db.",
                  file=sys.stderr)
            return 1
    if args.verify:
        return _verify(args.db)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    # Imported after parsing so --help stays fast.
    from .core.cases import CaseStore
    from .core.report_assembly import ReportPictures, write_case_report
    from .core.settings import SettingsError, database_location, load_settings

    page_size, lab_threshold = args.page_size, None
    try:
        lab = load_settings().lab
        page_size = page_size or lab.report_page_size
        lab_threshold = lab.confidence_threshold
    except SettingsError as exc:
        print(f"{PROG}: warning: {exc} Using default settings.", file=sys.stderr)
    try:
        with CaseStore(database_location(args.db)) as store:
            case = store.get_case(args.case_id)
            written = []
            if args.out:
                meta, metrics = _model_card(args.model, case)
                written.append(write_case_report(
                    store, args.case_id, args.out, pictures=ReportPictures(), model_meta=meta,
                    model_metrics=metrics, lab_threshold=lab_threshold,
                    page_size=page_size or "A4", include_appendix=args.appendix,
                    overwrite=args.overwrite))
            found = store.verify_case(args.case_id)
            written += _lis_exports(args, case, found)
    except LabAppError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    out = written[0]
    if not found.intact:
        print(f"{PROG}: error: {found.message()} The report {out} carries a warning box.",
              file=sys.stderr)
        return 1
    return 0


def _lis_exports(args: argparse.Namespace, case: Any, integrity: Any) -> list[Path]:
    """The FHIR and HL7 files asked for (core.lis), with the PDF just written when there is one.
    A broken audit chain is refused here: nothing changed outside the program goes to the LIS."""
    if not (args.fhir or args.hl7):
        return []
    from .core.lis import LisExportError, write_fhir, write_hl7
    if not integrity.intact:
        raise LisExportError(f"{integrity.message()} Its results are not sent to the LIS.")
    pdf = args.out.read_bytes() if args.out else None
    out = []
    for path in (args.fhir, args.hl7):
        if path is not None and path.exists() and not args.overwrite:
            raise LisExportError(f"{path} exists; use --overwrite to replace it.")
    if args.fhir:
        out.append(write_fhir(case, args.fhir, pdf=pdf))
    if args.hl7:
        out.append(write_hl7(case, args.hl7, pdf=pdf, facility=args.facility))
    return out


def _verify(db: Path | None) -> int:
    """Every case's audit chain and the account log's; one line per changed case (and one for
    changed accounts), exit 1 if there is any."""
    from .core.accounts import Accounts
    from .core.cases import CaseStore
    from .core.settings import database_location
    try:
        with CaseStore(database_location(db)) as store:
            found = store.verify_all()
            accounts = Accounts(store).verify()
            where = store.location
    except LabAppError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    broken = [f for f in found if not f.intact]
    for f in broken:
        print(f"{PROG}: {f.message()}", file=sys.stderr)
    if not accounts.intact:
        print(f"{PROG}: {accounts.message()}", file=sys.stderr)
    print(f"{len(found)} cases checked in {where}: "
          f"{len(broken) or 'none'} changed outside the program. {accounts.message()}")
    return 1 if broken or not accounts.intact else 0


def _model_card(model_dir: Path | None,
                case: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(model.json of the case's model where it can be found, the metrics to quote).

    --model DIR gives both; else the bundled model with the case's sha256 gives the card, and its
    metrics unless the results recorded their own (the report then quotes those).
    """
    if model_dir is not None:
        meta = _read_json(model_dir / "model.json")
        if meta is None:
            raise _UsageProblem(f"{model_dir} is not a model folder (model.json missing or unreadable).")
        return meta, _metrics(meta)
    shas, recorded = set(), False
    for img in case.images:
        model = img.result.model or {}
        recorded = recorded or bool(model.get("metrics"))
        if model.get("sha256"):
            shas.add(model["sha256"])
    from model.errors import ModelLoadError
    from model.manifest import identity_of, read_manifest
    from model.modeldir import bundled_models_root
    root = bundled_models_root()
    for card in sorted(root.glob("*/model.json")) if root.is_dir() else []:
        meta = _read_json(card)
        try:   # results name the model's identity (its manifest); before, the weights' sha256
            identity = identity_of(read_manifest(card.parent))
        except ModelLoadError:
            identity = None
        if meta and (meta.get("sha256") in shas or identity in shas):
            return meta, None if recorded else _metrics(meta)
    return None, None


def _metrics(meta: dict[str, Any]) -> dict[str, Any] | None:
    """model.json's validation figures; None when they are missing or not figures (a model.json
    edited by hand: the report then says they were not provided)."""
    metrics = meta.get("metrics")
    return metrics if isinstance(metrics, dict) else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class _UsageProblem(LabAppError):
    """A bad --model folder: reported like the other one-line errors."""


if __name__ == "__main__":
    raise SystemExit(main())
