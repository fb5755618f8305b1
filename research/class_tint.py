"""Would a tint check per called class catch the errors a mild lamp or stain shift leaves
unflagged? (docs/robustness.md, "What did not work": no.)

The bundled recipe reads the background's tint as a class cue, so a field shifted a few percent
may be called the class whose tint it now has. The check tried here: the background's red minus
blue and green minus the mean of red and blue (model/white_balance.py ``background_stats``)
against the 1st..99th percentiles of the training fields of the class called (3 levels of
slack). For each shift it prints the fields with no flag from the product's analysis, the errors
among them, how many of those the check would catch, and how many unflagged fields it would
newly flag.

    .venv/bin/python -m research.class_tint --model runs/m200-flags

Needs the data set (research/common.py) and a recipe run that reads colours as captured
(runs/m200-flags, docs/robustness.md). About 3 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lab_app.core.pipeline import analyse_fields
from model import shifts, white_balance
from model.data import read_rgb

from .common import dataset_root, recipe_fields

SLACK = 3.0
SHIFTS = {
    **{f"lamp {name} {k:.0%}": (lambda im, g=g: shifts.channel_gain(im, g))
       for k in (0.03, 0.05)
       for name, g in (("warmer", (1 + k, 1.0, 1 - k)), ("cooler", (1 - k, 1.0, 1 + k)))},
    **{f"stain hue {d:+d} deg": (lambda im, d=d: shifts.hue_rotation(im, d)) for d in (8, -8, 12, -12)},
    "stain amount x0.65": lambda im: shifts.stain_amount(im, 0.65),
}


def class_tint_ranges(model_dir: Path, classes: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per class, the 1st and 99th percentiles of (red - blue, green - mean(red, blue)) over
    every second training field of the run's split."""
    rels = json.loads((model_dir / "split.json").read_text())["train"][::2]
    found: dict[str, list] = {c: [] for c in classes}
    for rel in rels:
        background = white_balance.estimate_background(read_rgb(dataset_root() / "Original" / rel))[0]
        if background:
            found[rel.split("/")[0]].append(white_balance.background_stats(background)[1:])
    return {c: (np.percentile(v, 1, axis=0), np.percentile(v, 99, axis=0))
            for c, v in found.items() if v}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="a recipe run's model dir")
    args = p.parse_args(argv)
    fields, truth, engine = recipe_fields(args.model)
    ranges = class_tint_ranges(args.model, engine.classes)
    for c, (low, high) in ranges.items():
        print(f"{c}: red-blue {low[0]:.1f}..{high[0]:.1f}, green-mid {low[1]:.1f}..{high[1]:.1f}")

    def report(label: str, images) -> None:
        unflagged = errors = caught = newly = 0
        for row, true in zip(analyse_fields(images, engine), truth):
            if row.flags or not row.prediction:
                continue
            background = (row.acquisition.get("white_balance") or {}).get("background")
            low, high = ranges[row.prediction]
            tint = np.array(white_balance.background_stats(tuple(background))[1:]) if background \
                else None
            unlike = tint is not None and bool(np.any(tint < low - SLACK) or np.any(tint > high + SLACK))
            unflagged += 1
            newly += unlike
            if row.prediction != true:
                errors += 1
                caught += unlike
        print(f"{label}: {unflagged} unflagged, {errors} errors among them, {caught} caught by "
              f"the class tint check, {newly} newly flagged", flush=True)

    report("as captured", fields)
    for name, shift in SHIFTS.items():
        report(name, [shift(im) for im in fields])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
