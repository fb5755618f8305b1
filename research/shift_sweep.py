"""The analysis between and beyond the robustness benchmark's fixed shifts (docs/robustness.md).

bench/robustness.py measures one setting per shift, one step beyond everyday variation. An
independent check picks settings of its own; this sweeps each shift over milder and stronger
settings on the model's own validation fields and prints, per setting: accuracy, fraction
flagged, errors left unflagged and the accuracy of the unflagged calls. The settings that
matter most are the mild ones, where a field may look like the training data to every check yet
be called differently.

    .venv/bin/python -m research.shift_sweep --model runs/m200-flags [--limit 256] [--json OUT]

Needs the data set (research/common.py) and a recipe run's model dir (its split.json lists the
validation fields). About 25 s a setting for 511 fields on two idle cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lab_app.core.pipeline import AnalysisOptions, analyse_fields
from model import shifts
from model.data import read_rgb
from model.inference import InferenceEngine

from .common import validation_fields


def _settings() -> dict[str, shifts.Shift]:
    s: dict[str, shifts.Shift] = {}
    for g in (0.03, 0.05, 0.07, 0.12):
        s[f"lamp warm {g:.0%}"] = lambda im, rng, g=g: shifts.channel_gain(im, (1 + g, 1.0, 1 - g))
        s[f"lamp cool {g:.0%}"] = lambda im, rng, g=g: shifts.channel_gain(im, (1 - g, 1.0, 1 + g))
    for g in (0.03, 0.05):
        s[f"green cast {g:.0%}"] = lambda im, rng, g=g: shifts.channel_gain(im, (1.0, 1 + g, 1.0))
        s[f"magenta cast {g:.0%}"] = lambda im, rng, g=g: shifts.channel_gain(im, (1.0, 1 - g, 1.0))
    for e in (0.9, 0.85, 1.05, 1.1):
        s[f"exposure x{e}"] = lambda im, rng, e=e: shifts.channel_gain(im, (e, e, e))
    for d in (-12, -4, 4, 12):
        s[f"stain hue {d:+d} deg"] = lambda im, rng, d=d: shifts.hue_rotation(im, float(d))
    for f in (0.8, 0.5, 1.2, 1.6):
        s[f"stain amount x{f}"] = lambda im, rng, f=f: shifts.stain_amount(im, f)
    for q in (50, 20):
        s[f"jpeg q{q}"] = lambda im, rng, q=q: shifts.jpeg(im, q)
    for n in (3.0, 5.0, 12.0):
        s[f"noise sigma {n:g}"] = lambda im, rng, n=n: shifts.noise(im, n, rng)
    for b in (0.8, 1.6, 2.2):
        s[f"blur sigma {b:g}"] = lambda im, rng, b=b: shifts.blur(im, b)
    for m in (1.1, 0.9, 1.4):
        s[f"magnification x{m}"] = lambda im, rng, m=m: shifts.magnification(im, m)
    for r in (0.7, 0.35):
        s[f"camera resolution x{r}"] = lambda im, rng, r=r: shifts.resolution(im, r)
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="a recipe run's model dir")
    p.add_argument("--limit", type=int, default=None, help="at most N validation fields, spread")
    p.add_argument("--only", default=None, help="only settings whose name contains this")
    p.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = p.parse_args(argv)
    files, classes = validation_fields(args.model, args.limit)
    truth = np.array(classes)
    fields = [read_rgb(f) for f in files]
    engine = InferenceEngine(args.model, device="cpu")
    rows = []
    print(f"{len(fields)} validation fields of {args.model}")
    print("| setting | accuracy | flagged | errors unflagged | unflagged accuracy | flags |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, shift in {"as captured": lambda im, rng: im, **_settings()}.items():
        if args.only and args.only not in name and name != "as captured":
            continue
        rng = np.random.default_rng(0)
        images = [shift(im, rng) for im in fields]
        results = []
        for i in range(0, len(images), 64):
            results += analyse_fields(images[i:i + 64], engine, AnalysisOptions())
        correct = np.array([r.prediction for r in results]) == truth
        flagged = np.array([bool(r.flags) for r in results])
        flags: dict[str, int] = {}
        for r in results:
            for f in r.flags:
                flags[f] = flags.get(f, 0) + 1
        row = {"setting": name, "accuracy": float(correct.mean()), "flagged": float(flagged.mean()),
               "errors_unflagged": int((~correct & ~flagged).sum()),
               "unflagged_accuracy": float(correct[~flagged].mean()) if (~flagged).any() else None,
               "flags": flags}
        rows.append(row)
        ua = "" if row["unflagged_accuracy"] is None else f"{row['unflagged_accuracy']:.1%}"
        print(f"| {name} | {row['accuracy']:.1%} | {row['flagged']:.1%} | "
              f"{row['errors_unflagged']} | {ua} | "
              + ", ".join(f"{k} {v}" for k, v in sorted(flags.items())) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
