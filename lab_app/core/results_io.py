"""results.json / results.csv written as the batch goes, so an interrupted run keeps its work.

Every finished image is appended (and flushed) to a journal, ``results.partial.jsonl``; the
journal is what ``--resume`` reads back. ``results.json`` and ``results.csv`` are rewritten
atomically at most every ``snapshot_every_s`` seconds and once at the end, so they are always
complete, parseable files describing everything finished so far.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.atomic import atomic_write_text, signals_held

from .results import ImageResult

JOURNAL = "results.partial.jsonl"
RESULTS_JSON, RESULTS_CSV = "results.json", "results.csv"
MASKS_DIR = "masks"          # --save-masks: <out>/masks/<input stem>[-N].png
CSV_FIXED = ["path", "status", "error", "prediction", "prediction_name", "confidence", "cells",
             "flags", "scope_reason", "sha256", "width", "height", "device", "model", "analysed_at"]
# After the class probabilities: what the acquisition checks measured (core/focus.py, model/ood.py,
# model/white_balance.py).
CSV_ACQUISITION = ["sharpness", "feature_distance", "colour_balance"]
# Last: the first input with the same bytes, when this one is a byte-identical duplicate.
CSV_DUPLICATE = ["duplicate_of"]


def colour_balance_text(acquisition: dict) -> str:
    """The CSV's colour_balance cell: the gains applied and to what, or why none were."""
    balance = acquisition.get("white_balance") or {}
    if balance.get("fallback"):
        return f"left as captured: {balance['fallback']}"
    gains = balance.get("gains")
    if not gains:
        return ""
    where = "" if balance.get("model_reads_balanced", True) else " (segmentation and scope)"
    return "gains " + " ".join(f"{g:.3f}" for g in gains) + where + _exposure(acquisition)


def _exposure(acquisition: dict) -> str:
    """What the exposure floor did for a model that reads colours as captured."""
    exposure = acquisition.get("exposure") or {}
    if exposure.get("fallback"):
        return f"; exposure left: {exposure['fallback']}"
    if exposure.get("gain"):
        return f"; exposure x{exposure['gain']:.3f} (model)"
    return ""


def spreadsheet_safe(value: str | None) -> str:
    """Text a spreadsheet will not run as a formula: a leading = + - @ (or tab, CR) gets a
    quote. For file names in results.csv (path, error, duplicate_of) and the case CSV export."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_line(cells: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def csv_header(classes: list[str]) -> str:
    return _csv_line(CSV_FIXED + [f"p_{c}" for c in classes] + CSV_ACQUISITION + CSV_DUPLICATE)


def csv_row(r: dict, classes: list[str], display_names: dict[str, str]) -> str:
    """One image's line of results.csv (``r``: ImageResult.to_row())."""
    model = r.get("model") or {}
    acq = r.get("acquisition") or {}
    return _csv_line([
        spreadsheet_safe(r["path"]), r["status"], spreadsheet_safe(r.get("error")), r.get("prediction") or "",
        display_names.get(r.get("prediction") or "", ""),
        "" if r.get("confidence") is None else f"{r['confidence']:.4f}",
        "" if r.get("cells") is None else r["cells"], ";".join(r.get("flags") or []),
        r.get("scope_reason") or "",
        r.get("sha256") or "", r.get("width") or "", r.get("height") or "", r.get("device") or "",
        f"{model.get('name', '')} {model.get('version', '')}".strip(), r.get("analysed_at") or "",
    ] + [("" if c not in (r.get("probabilities") or {}) else f"{r['probabilities'][c]:.4f}")
         for c in classes] + [
        "" if acq.get("sharpness") is None else f"{acq['sharpness']:.3f}",
        "" if acq.get("feature_distance") is None else f"{acq['feature_distance']:.3f}",
        colour_balance_text(acq), spreadsheet_safe(r.get("duplicate_of"))])


def results_csv(rows: list[dict], classes: list[str], display_names: dict[str, str]) -> str:
    return csv_header(classes) + "".join(csv_row(r, classes, display_names) for r in rows)


def results_json(doc: dict, row_texts: list[str]) -> str:
    """results.json: ``doc`` (everything but the images) indented, then "images", one row per
    line as already encoded (the journal's line). A snapshot of n rows is then a join, not n
    encodings through the slow indenting encoder: snapshots repeat every few seconds, so that
    made a long batch quadratic."""
    images = ('"images": [\n    ' + ",\n    ".join(row_texts) + "\n  ]") if row_texts \
        else '"images": []'
    head = json.dumps(doc, indent=2, ensure_ascii=False)
    return (head[:-2] + ",\n  " if doc else "{\n  ") + images + "\n}\n"


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class ResultsWriter:
    """Owns the output folder's result files for one batch."""

    def __init__(self, out_dir: Path, header: dict[str, Any], classes: list[str],
                 display_names: dict[str, str], snapshot_every_s: float = 2.0):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.header = dict(header)
        self.classes, self.display_names = classes, display_names
        # Each row encoded once, for every snapshot: its JSON (the journal line) and CSV line.
        self._json_rows: dict[int, str] = {}
        self._csv_rows: dict[int, str] = {}
        self.snapshot_every_s = snapshot_every_s
        self._last_snapshot = 0.0
        self._journal = open(self.out_dir / JOURNAL, "a", encoding="utf-8")
        if self._journal.tell() and not _ends_with_newline(self.out_dir / JOURNAL):
            # the run before was cut inside a line: the next row starts on its own line
            self._journal.write("\n")

    def __len__(self) -> int:
        """The rows held: this run's and those resumed from the journal."""
        return len(self._json_rows)

    @staticmethod
    def read_journal(out_dir: Path) -> dict[str, ImageResult]:
        """Results of an earlier, interrupted run in ``out_dir``. A line that is not a whole row
        is ignored (its image is analysed again): a torn last line, cut even inside a character
        of a non-ASCII file name, or one damaged outside the program."""
        path = Path(out_dir) / JOURNAL
        found: dict[str, ImageResult] = {}
        if not path.exists():
            return found
        for line in path.read_bytes().splitlines():
            try:
                row = json.loads(line.decode("utf-8"))
                if isinstance(row, dict) and isinstance(row.get("path"), str):
                    found[row["path"]] = ImageResult.from_row(row)
            except (ValueError, TypeError):   # UnicodeDecodeError is a ValueError
                continue
        return found

    def add(self, index: int, result: ImageResult, from_journal: bool = False) -> None:
        row = result.to_row()
        self._json_rows[index] = text = json.dumps(row, ensure_ascii=False)
        self._csv_rows[index] = csv_row(row, self.classes, self.display_names)
        if not from_journal:
            # flush: the line survives a killed process; fsync (power loss) waits for snapshot().
            self._journal.write(text + "\n")
            self._journal.flush()
        if time.monotonic() - self._last_snapshot >= self.snapshot_every_s:
            self.snapshot()

    def snapshot(self, timing: dict | None = None, complete: bool = False) -> None:
        if not self._journal.closed:
            os.fsync(self._journal.fileno())
        order = sorted(self._json_rows)
        doc = {**self.header, "complete": complete}
        if timing is not None:
            doc["timing"] = timing
        json_text = results_json(doc, [self._json_rows[i] for i in order])
        csv_text = csv_header(self.classes) + "".join(self._csv_rows[i] for i in order)
        with signals_held():   # the pair agrees: a Ctrl-C / SIGTERM waits until both are written
            atomic_write_text(self.out_dir / RESULTS_JSON, json_text)
            atomic_write_text(self.out_dir / RESULTS_CSV, csv_text)
        self._last_snapshot = time.monotonic()

    def close(self, timing: dict, complete: bool) -> None:
        self.snapshot(timing, complete)
        self._journal.close()
        if complete:  # a finished batch needs no journal; an interrupted one keeps it for --resume
            (self.out_dir / JOURNAL).unlink(missing_ok=True)


# --- A fresh batch into a folder that holds an earlier one -------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NUMBERED = re.compile(r"^(.*)-(\d+)$")


@dataclass
class EarlierRun:
    """What clear_earlier_run() found in an output folder."""
    found: bool = False                 # results.json, results.csv or a journal was there
    removed: list[str] = field(default_factory=list)   # names relative to the folder
    masks_removed: int = 0
    masks_left: int = 0                 # files in masks/ the program did not write (left)


def _recorded_paths(out_dir: Path) -> set[str]:
    """The input paths the earlier run's results.json and journal name."""
    paths = set(ResultsWriter.read_journal(out_dir))
    try:
        doc = json.loads((out_dir / RESULTS_JSON).read_text(encoding="utf-8"))
        paths.update(r["path"] for r in doc.get("images", [])
                     if isinstance(r, dict) and isinstance(r.get("path"), str))
    except (OSError, ValueError, AttributeError):   # missing, damaged or not ours
        pass
    return paths


def _is_mask_png(path: Path) -> bool:
    """An 8-bit greyscale PNG, as --save-masks writes (0/255)."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return False
    return (len(head) == 26 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR"
            and head[24] == 8 and head[25] == 0)


def _written_mask(path: Path, stems: set[str]) -> bool:
    """Whether masks/``path`` is a mask the earlier run wrote for one of its inputs: named after
    an input (``stem.png``, or ``stem-N.png`` when two inputs shared a stem) and a mask PNG."""
    if path.suffix.lower() != ".png" or path.is_symlink() or not path.is_file():
        return False
    name = path.stem.lower()
    numbered = _NUMBERED.match(name)
    return ((name in stems or (numbered is not None and numbered.group(1) in stems))
            and _is_mask_png(path))


def clear_earlier_run(out_dir: Path) -> EarlierRun:
    """Before a fresh batch (not --resume) writes into ``out_dir``: remove the files an earlier
    batch wrote there (results.json/csv, its journal and the masks named after its inputs), so
    the folder never mixes two runs. Nothing else is removed: files in masks/ that the earlier
    run's results do not account for are left (and counted), and so is an earlier report.pdf
    (a report is never overwritten: --report keeps it under a dated name, batch_report.py).
    OSError propagates."""
    out_dir = Path(out_dir)
    run = EarlierRun()
    records = [out_dir / n for n in (RESULTS_JSON, RESULTS_CSV, JOURNAL)]
    run.found = any(p.is_file() for p in records)
    masks = out_dir / MASKS_DIR
    if masks.is_dir() and not masks.is_symlink():
        stems = {Path(p).stem.lower() for p in _recorded_paths(out_dir)} if run.found else set()
        for entry in sorted(masks.iterdir()):
            if run.found and _written_mask(entry, stems):
                entry.unlink()
                run.masks_removed += 1
            else:
                run.masks_left += 1
        if run.masks_removed and not run.masks_left:
            masks.rmdir()
    # The records last: an interrupted clearing can be finished by the next run.
    for path in records:
        if path.is_file() and not path.is_symlink():
            path.unlink()
            run.removed.append(path.name)
    return run
