"""Robustness benchmark: the analysis under another lamp, camera, stain batch, focus or magnification.

Run:  .venv/bin/python bench/robustness.py [--model DIR] [--limit N] [--json OUT] [--record]
      .venv/bin/python bench/robustness.py --fast        (the bundled samples; seconds)

Fields: the validation blocks of the model's own split (``MODEL/split.json``), which it did not
train on. A refit trained on every image, so it has none: benchmark the recipe run it repeats.
``--fast`` uses the bundled sample fields instead (labels from their names; the bundled model
saw them in training, so its figures there say only that the benchmark runs).

Every field goes through the product's own analysis (``lab_app.core.pipeline.analyse_fields``:
colour constancy, segmentation, scope and focus checks, the model, every flag), once as captured
and once under each shift of ``model/shifts.py``. For each shift it reports accuracy (a field
without a call counts as wrong), the share of fields flagged for review, the errors that carry no
flag, and the accuracy of the unflagged calls; for the colour shifts also the mean IoU between
the segmentation mask of the field and of its shifted copy. Then the cases that must be flagged:
badly blurred fields and blank slides of stain-like tints, with and without sensor noise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("LABAPP_DATASET_DIR", REPO.parent / "shared/data/all-taleqani"))
SAMPLES = REPO / "resources" / "samples"

from lab_app.core.pipeline import AnalysisOptions, analyse_fields  # noqa: E402
from lab_app.core.results import FLAG_LOW_CONFIDENCE  # noqa: E402
from model.data import read_rgb  # noqa: E402
from model.inference import InferenceEngine  # noqa: E402
from model.metrics import classification_report  # noqa: E402
from model.shifts import (BLANK_TINTS, COLOUR_SHIFTS, MUST_FLAG, SHIFTS,  # noqa: E402
                          tinted_blank)

CLASSES = ("Benign", "Early", "Pre", "Pro")
BLANK_NOISE = (0.0, 6.0)


def label_from_name(name: str) -> str:
    """'WBC-Malignant-Pre-095.jpg' -> 'Pre'; 'WBC-Benign-006.jpg' -> 'Benign'."""
    for c in CLASSES:
        if re.search(rf"-{c}-", name):
            return c
    raise ValueError(f"no class in the file name {name}")


def validation_fields(model_dir: Path, limit: int | None) -> list[tuple[Path, str]]:
    split_file = model_dir / "split.json"
    split = json.loads(split_file.read_text())
    if split.get("refit") or not split.get("val"):
        raise SystemExit(f"{model_dir} trained on every image, so no field of the data set is new "
                         "to it; benchmark the recipe run it repeats (its model.json names it).")
    rels = sorted(split["val"])
    if limit and limit < len(rels):   # evenly spread over the classes' blocks
        rels = [rels[int(i)] for i in np.linspace(0, len(rels) - 1, limit)]
    root = DATA / "Original"
    if not root.is_dir():
        raise SystemExit(f"the data set is not at {root}; set LABAPP_DATASET_DIR or use --fast")
    return [(root / rel, rel.split("/")[0]) for rel in rels]


def sample_fields() -> list[tuple[Path, str]]:
    return [(p, label_from_name(p.name)) for p in sorted(SAMPLES.glob("*.jpg"))]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def score(results, truth: list[str]) -> dict:
    calls = [r.prediction for r in results]
    correct = np.array([c == t for c, t in zip(calls, truth)])
    flagged = np.array([bool(r.flags) for r in results])
    unflagged = ~flagged
    return {
        "n": len(results), "accuracy": float(correct.mean()),
        "flagged": float(flagged.mean()),
        "errors_unflagged": int((~correct & unflagged).sum()),
        "unflagged_accuracy": float(correct[unflagged].mean()) if unflagged.any() else None,
        "flags": {f: int(sum(f in r.flags for r in results))
                  for f in sorted({f for r in results for f in r.flags})},
    }


def run(model_dir: Path | None, fields: list[tuple[Path, str]], chunk: int = 64) -> dict:
    engine = InferenceEngine(model_dir, device="cpu")
    opts = AnalysisOptions(keep_arrays=True)
    truth = [label for _, label in fields]
    originals = [read_rgb(p) for p, _ in fields]
    rng = np.random.default_rng(0)

    def analyse(images):
        out = []
        for i in range(0, len(images), chunk):
            out += analyse_fields(images[i:i + chunk], engine, opts)
        return out

    t0 = time.perf_counter()
    base = analyse(originals)
    report = {"model": {k: engine.info[k] for k in ("name", "version")},
              "model_dir": str(engine.model_dir), "fields": len(fields), "shifts": {}}
    in_domain = score(base, truth)
    idx = [CLASSES.index(t) for t in truth]
    probs = np.array([[r.probabilities[c] for c in engine.classes] for r in base])
    metrics = classification_report(np.array(idx), probs, list(engine.classes))
    in_domain.update(macro_f1=metrics["macro_f1"], ece=metrics["ece"])
    # "Newly flagged": flagged by anything but the model's own low-confidence flag.
    in_domain["newly_flagged"] = float(np.mean([bool(set(r.flags) - {FLAG_LOW_CONFIDENCE})
                                                for r in base]))
    report["in_domain"] = in_domain
    for name, shift in {**SHIFTS, **MUST_FLAG}.items():
        shifted = analyse([shift(im, rng) for im in originals])
        row = score(shifted, truth)
        if name in COLOUR_SHIFTS:
            row["mask_iou"] = float(np.mean([_iou(a.mask, b.mask) for a, b in zip(base, shifted)]))
        report["shifts"][name] = row
    blanks = [tinted_blank(224, tint, sigma, rng) for tint in BLANK_TINTS for sigma in BLANK_NOISE]
    blank_results = analyse(blanks)
    report["blanks"] = {"n": len(blanks),
                        "flagged": float(np.mean([bool(r.flags) for r in blank_results])),
                        "called_unflagged": int(sum(r.prediction is not None and not r.flags
                                                    for r in blank_results))}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def table(report: dict) -> str:
    d = report["in_domain"]
    lines = [f"Model {report['model']['name']} {report['model']['version']}, "
             f"{report['fields']} fields it did not train on.",
             "",
             f"In-domain: accuracy {_pct(d['accuracy'])}, macro-F1 {d['macro_f1']:.3f}, "
             f"ECE {d['ece']:.3f}; flagged {_pct(d['flagged'])} (newly flagged, other than low "
             f"confidence: {_pct(d['newly_flagged'])}); errors without a flag: "
             f"{d['errors_unflagged']}.",
             "",
             "| shift | accuracy | flagged | errors unflagged | unflagged accuracy | mask IoU |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, r in report["shifts"].items():
        iou = f"{r['mask_iou']:.3f}" if "mask_iou" in r else ""
        lines.append(f"| {name} | {_pct(r['accuracy'])} | {_pct(r['flagged'])} | "
                     f"{r['errors_unflagged']} | {_pct(r['unflagged_accuracy'])} | {iou} |")
    b = report["blanks"]
    lines += ["", f"Blank slides ({b['n']}: {len(BLANK_TINTS)} stain-like tints, without and with "
                  f"sensor noise): flagged {_pct(b['flagged'])}, called without a flag "
                  f"{b['called_unflagged']}."]
    return "\n".join(lines)


def record(report: dict, command: str) -> None:
    from bench.results_md import read_results, section_span
    path = REPO / "bench" / "RESULTS.md"
    text, start, end = section_span(read_results(path), "## Robustness (bench/robustness.py)",
                                    "Acquisition shifts of model/shifts.py applied to fields the "
                                    "model did not train on; every flag of the product counted.")
    head = (f"### Robustness ({dt.date.today().isoformat()}, {platform.machine()}, "
            f"{os.cpu_count()} cores, model {report['model']['name']}-"
            f"{report['model']['version']})\n\n`{command}` ({report['seconds']} s)\n\n")
    body = text[start:end].rstrip("\n") + "\n\n" + head + table(report) + "\n"
    path.write_text(text[:start] + body + ("\n" + text[end:].lstrip("\n") if text[end:] else ""),
                    encoding="utf-8")


def write_card(model_dir: Path, report: dict) -> None:
    """Put the figures into model.json ("robustness") and re-render the card from it."""
    from model.atomic import atomic_write_bytes, atomic_write_json
    from model.manifest import MANIFEST, seal
    from model.model_card import render_model_card
    from model.modeldir import read_model_json
    meta = read_model_json(model_dir)
    meta["robustness"] = {k: report[k] for k in ("model", "fields", "in_domain", "shifts", "blanks")}
    atomic_write_json(model_dir / "model.json", meta)
    atomic_write_bytes(model_dir / "MODEL_CARD.md", render_model_card(meta).encode("utf-8"))
    if (model_dir / MANIFEST).exists():   # the new model.json, deliberately: a new identity
        seal(model_dir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="model dir (default: the bundled one)")
    p.add_argument("--fast", action="store_true", help="the bundled sample fields only")
    p.add_argument("--limit", type=int, default=None, help="at most N validation fields, evenly spread")
    p.add_argument("--json", type=Path, default=None, help="write the full report here")
    p.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    p.add_argument("--card", type=Path, default=None, metavar="MODEL_DIR",
                   help="write the figures into this model dir's model.json and MODEL_CARD.md "
                        "(the model itself, or the refit of the recipe run measured)")
    args = p.parse_args(argv)
    from model.modeldir import default_model_dir
    model_dir = args.model or default_model_dir()
    fields = sample_fields() if args.fast else validation_fields(model_dir, args.limit)
    report = run(model_dir, fields)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.card:
        write_card(args.card, report)
    if args.record:
        record(report, "python bench/robustness.py " + " ".join(argv if argv is not None
                                                                 else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
