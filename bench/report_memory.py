"""Peak memory of ``labapp-batch --report`` on many images and on huge ones (issue 17.6).

Run:  .venv/bin/python bench/report_memory.py [--images 5000] [--huge 6] [--nice 15]
                                              [--repo PATH] [--label TEXT] [--write bench/RESULTS.md]

Inputs, made in a temporary folder:
- ``--images N``: N inputs named ``00001-<field>.jpg`` ..., symbolic links to the data set's
  Original fields taken in turn (2604 distinct fields: beyond that the links repeat files, which
  the batch marks ``duplicate_of`` and still lists, each in its own row);
- ``--huge K``: K distinct 12000 x 8000 (96 megapixel) JPEGs, data set fields blown up.
Each set is run once as ``/usr/bin/time -v nice -n 15 python -m lab_app.cli DIR --out OUT --report
--patient-id B-1 --sample-id S-1 --quiet --device cpu --db DB`` (the tree at ``--repo``, default
this one) and its peak RSS, wall and user CPU time are read from time's report. The run is
checked: one results.json row per input, and every input's file name in the PDF's text (its
table row and its appendix entry). ``--write`` puts the figures in this script's section of
RESULTS.md, one row per (input, label), replacing a row with the same key.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("LABAPP_DATASET_DIR", REPO.parent / "shared/data/all-taleqani")) / "Original"

from bench.results_md import read_results, section_span  # noqa: E402

HEADING = "## labapp-batch --report: bounded memory (bench/report_memory.py)"
INTRO = """Peak RSS of the whole `labapp-batch --report` process (/usr/bin/time -v), ONNX Runtime on
the CPU. Targets (issue 17.6): under 1 GB on 5000 images, under 1.5 GB on six 96 MP images.

Command: `.venv/bin/python bench/report_memory.py --images 5000 --huge 6 --write bench/RESULTS.md`
(`--repo TREE --label TEXT` measures another tree, e.g. an older commit's `git worktree`)."""
TABLE_HEAD = ("| input | code | peak RSS (MB) | wall (s) | user CPU (s) | report pages | report (MB) |\n"
              "| --- | --- | --- | --- | --- | --- | --- |")


def fields() -> list[Path]:
    found = sorted(DATA.glob("*/*.jpg"))
    if not found:
        raise SystemExit(f"no data set fields under {DATA} (set LABAPP_DATASET_DIR)")
    return found


def many_inputs(n: int, root: Path) -> Path:
    folder = root / f"images-{n}"
    folder.mkdir(parents=True)
    src = fields()
    for i in range(n):
        f = src[i % len(src)]
        (folder / f"{i + 1:05d}-{f.name}").symlink_to(f)
    return folder


def huge_inputs(k: int, root: Path, size: tuple[int, int] = (12000, 8000)) -> Path:
    import cv2
    folder = root / f"huge-{k}"
    folder.mkdir(parents=True)
    src = fields()
    for i in range(k):
        f = src[(i * len(src)) // k]
        big = cv2.resize(cv2.imread(str(f)), size, interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"huge-{i + 1}-{f.name}"), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return folder


def run_batch(repo: Path, folder: Path, work: Path, niceness: int) -> dict:
    out, db = work / f"out-{folder.name}", work / f"{folder.name}.sqlite3"
    cmd = ["/usr/bin/time", "-v", "nice", "-n", str(niceness), sys.executable, "-m", "lab_app.cli",
           str(folder), "--out", str(out), "--report", "--patient-id", "B-1", "--sample-id", "S-1",
           "--quiet", "--device", "cpu", "--db", str(db)]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"labapp-batch exited with {proc.returncode}:\n{proc.stderr[-3000:]}")

    def field_of(label: str) -> str:
        m = re.search(rf"^\s*{re.escape(label)}: (.+)$", proc.stderr, flags=re.M)
        if m is None:
            raise RuntimeError(f"/usr/bin/time gave no '{label}'")
        return m.group(1).strip()
    wall = 0.0
    for part in field_of("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    return {"peak_mb": int(field_of("Maximum resident set size (kbytes)")) / 1024,
            "wall_s": wall, "user_s": float(field_of("User time (seconds)")), "out": out}


def check(folder: Path, out: Path) -> dict:
    """One results row per input; every input's name in the report (table and appendix)."""
    names = sorted(p.name for p in folder.iterdir())
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))["images"]
    if len(rows) != len(names):
        raise RuntimeError(f"{len(rows)} result rows for {len(names)} inputs")
    pdf = out / "report.pdf"
    text = pdf_text(pdf)
    flat = re.sub(r"\s+", "", text)   # the table wraps long file names over lines
    missing = [n for n in names if flat.count(n) < 2]
    if missing:
        raise RuntimeError(f"{len(missing)} inputs not in the report twice, e.g. {missing[:3]}")
    pages = len(re.findall(r"Page \d+ of \d+", text))
    return {"pages": pages, "pdf_mb": pdf.stat().st_size / 2**20,
            "duplicates": sum(1 for r in rows if r.get("duplicate_of"))}


def pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-q", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
    from pypdf import PdfReader
    return "\n".join(page.extract_text() or "" for page in PdfReader(pdf).pages)


def git_label(repo: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return repo.name


def write_rows(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """Insert or replace table rows keyed by (input, code); the rest of the file stays as is."""
    text = read_results(path)
    text, start, end = section_span(text, HEADING, INTRO)
    body = text[start:end]
    if TABLE_HEAD not in body:
        body = body.rstrip("\n") + "\n\n" + TABLE_HEAD + "\n"
    lines = body.split("\n")
    for key_input, key_code, row in rows:
        prefix = f"| {key_input} | {key_code} |"
        idx = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        if idx:
            lines[idx[0]] = row
        else:
            last = max(i for i, line in enumerate(lines) if line.startswith("|"))
            lines.insert(last + 1, row)
    body = "\n".join(lines)
    if not body.endswith("\n\n") and end < len(text):
        body = body.rstrip("\n") + "\n\n"
    path.write_text(text[:start] + body + text[end:], encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000, help="inputs of the many-images run (0: none)")
    ap.add_argument("--huge", type=int, default=6, help="96 MP JPEGs of the huge run (0: none)")
    ap.add_argument("--nice", type=int, default=15, help="niceness of the batch (a shared machine)")
    ap.add_argument("--repo", type=Path, default=REPO, help="the tree whose labapp-batch runs")
    ap.add_argument("--label", help="the code column (default: the tree's git commit)")
    ap.add_argument("--write", type=Path, help="record the rows in this RESULTS.md")
    args = ap.parse_args()
    label = args.label or git_label(args.repo)
    rows = []
    with tempfile.TemporaryDirectory(prefix="labapp-report-memory-") as tmp:
        work = Path(tmp)
        runs = []
        if args.images:
            runs.append((f"{args.images} fields (links to the data set's 224 x 224 fields)",
                         many_inputs(args.images, work)))
        if args.huge:
            runs.append((f"{args.huge} JPEGs of 12000 x 8000 (96 MP)", huge_inputs(args.huge, work)))
        for title, folder in runs:
            got = run_batch(args.repo.resolve(), folder, work, args.nice)
            seen = check(folder, got["out"])
            print(f"{title} [{label}]: peak RSS {got['peak_mb']:.0f} MB, wall {got['wall_s']:.1f} s, "
                  f"user {got['user_s']:.1f} s; report {seen['pages']} pages, {seen['pdf_mb']:.1f} MB, "
                  f"{seen['duplicates']} inputs marked duplicate_of, every input in it", flush=True)
            rows.append((title, label, f"| {title} | {label} | {got['peak_mb']:.0f} | {got['wall_s']:.0f} | "
                                       f"{got['user_s']:.0f} | {seen['pages']} | {seen['pdf_mb']:.0f} |"))
    if args.write:
        write_rows(args.write, rows)
        when = dt.date.today().isoformat()
        print(f"recorded in {args.write} ({when}, {platform.machine()}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
