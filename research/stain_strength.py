"""Would clamping a field's stain strength into the training range, as the exposure floor does
for the level, give a pale or heavy stain its calls back? (docs/robustness.md, "What did not
work": no, the training fields' stain strength spans five-fold.)

Stain strength of a field: the 99th percentile of its mean optical density (-ln of the 8-bit
level over 255, averaged over R, G, B), on a working copy of 128 x 128 pixels. The range: the
0.5th..99.5th percentiles over every 4th training field of the run's split. A field outside it
has its optical density scaled onto the nearer bound (Beer-Lambert: a paler stain is a smaller
density). For the validation fields as captured and under the stain-amount shifts of
model/shifts.py it prints the share outside the range and the accuracy as shifted and clamped.

    .venv/bin/python -m research.stain_strength --model runs/m200-flags

Needs the data set (research/common.py) and a recipe run (runs/m200-flags, docs/robustness.md).
About 2 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from model import shifts
from model.data import read_rgb
from model.resample import working_copy

from .common import accuracy, as_captured, dataset_root, probabilities, recipe_fields

FACTORS = (0.5, 0.65, 0.8, 1.35, 1.6)


def strength(rgb: np.ndarray) -> float:
    work = working_copy(rgb, 128 * 128).astype(np.float32)
    density = -np.log(np.clip(work / 255.0, 1 / 255, 1.0)).mean(axis=2)
    return float(np.percentile(density, 99))


def scale_density(rgb: np.ndarray, factor: float) -> np.ndarray:
    x = np.clip(rgb.astype(np.float32) / 255.0, 1 / 255, 1.0)
    return np.clip(np.rint(255.0 * np.exp(np.log(x) * factor)), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="a recipe run's model dir")
    args = p.parse_args(argv)
    fields, truth, engine = recipe_fields(args.model)
    train = json.loads((args.model / "split.json").read_text())["train"][::4]
    seen = [strength(read_rgb(dataset_root() / "Original" / rel)) for rel in train]
    low, high = (float(v) for v in np.percentile(seen, [0.5, 99.5]))
    print(f"training stain strength {low:.3f}..{high:.3f} (median {np.median(seen):.3f}, "
          f"{len(seen)} fields)")

    def right(images) -> float:
        return accuracy(engine, probabilities(engine, as_captured(engine, images)), truth)

    def clamped(im: np.ndarray) -> np.ndarray:
        s = strength(im)
        return scale_density(im, low / s) if s < low else (
            scale_density(im, high / s) if s > high else im)

    print(f"as captured: {right(fields):.4f}, clamped {right([clamped(f) for f in fields]):.4f}")
    for factor in FACTORS:
        shifted = [shifts.stain_amount(f, factor) for f in fields]
        outside = np.mean([not low <= strength(s) <= high for s in shifted])
        print(f"stain amount x{factor}: {outside:.1%} outside the range; as shifted "
              f"{right(shifted):.4f}, clamped {right([clamped(s) for s in shifted]):.4f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
