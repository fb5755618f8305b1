"""How far a model that reads colours as captured tolerates another background tint, and whether
correcting a lamp-shifted field can give its call back (docs/robustness.md, "What did not work").

On the model's own validation fields (``MODEL/split.json``), it measures accuracy
1. with each field's background moved by a red-minus-blue offset from its own (per-channel gains:
   red up by half the offset, blue down by half; level and green kept), the tolerance to a tint;
2. under the lamp and exposure shifts of model/shifts.py: as shifted, balanced to the data set's
   median background (the fixed reference), and averaged over K references drawn from the
   validation fields' own backgrounds (test-time averaging over the unknown original tint).

    .venv/bin/python -m research.tint_tolerance --model runs/m200-flags [--k 8]

Needs the data set (research/common.py) and a model dir with a split.json that has validation
fields (a recipe run, not a refit). About 4 minutes on two idle cores with K = 8.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from model import white_balance
from model import shifts
from model.shifts import SHIFTS

from .common import accuracy as right_share, as_captured, probabilities, recipe_fields

OFFSETS = (5, 10, 15)
LAMP_SHIFTS = ("lamp_warm", "lamp_cool", "exposure_down")


def _gain_to(rgb: np.ndarray, background, target) -> np.ndarray:
    """The field with the per-channel gains that take ``background`` to ``target``."""
    return shifts.channel_gain(rgb, tuple(t / max(b, 1.0) for t, b in zip(target, background)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="a recipe run's model dir")
    p.add_argument("--k", type=int, default=8, help="references averaged over (0: skip)")
    args = p.parse_args(argv)
    fields, truth, engine = recipe_fields(args.model)
    if engine.preprocess_config.white_balance is not None:
        raise SystemExit("this measures a model that reads colours as captured")

    def accuracy(images) -> tuple[float, np.ndarray]:
        probs = probabilities(engine, as_captured(engine, images))
        return right_share(engine, probs, truth), probs

    backgrounds = [white_balance.estimate_background(im)[0] for im in fields]
    print(f"{len(fields)} validation fields of {args.model}")
    print(f"as captured: {accuracy(fields)[0]:.4f}")
    for offset in OFFSETS:
        for sign in (1, -1):
            moved = [im if bg is None else
                     _gain_to(im, bg, (bg[0] + sign * offset / 2, bg[1], bg[2] - sign * offset / 2))
                     for im, bg in zip(fields, backgrounds)]
            print(f"background red-blue {sign * offset:+d}: {accuracy(moved)[0]:.4f}")
    pool = np.array([bg for bg in backgrounds if bg is not None])
    refs = pool[np.random.default_rng(1).choice(len(pool), args.k, replace=False)] if args.k else []
    for name in LAMP_SHIFTS:
        rng = np.random.default_rng(0)
        shifted = [SHIFTS[name](im, rng) for im in fields]
        found = [white_balance.estimate_background(im)[0] for im in shifted]
        line = f"{name}: as shifted {accuracy(shifted)[0]:.4f}"
        to_ref = [im if bg is None else _gain_to(im, bg, white_balance.DATA_SET_BACKGROUND)
                  for im, bg in zip(shifted, found)]
        line += f", to the data set's background {accuracy(to_ref)[0]:.4f}"
        if len(refs):
            probs = np.mean([accuracy([im if bg is None else _gain_to(im, bg, ref)
                                       for im, bg in zip(shifted, found)])[1] for ref in refs],
                            axis=0)
            acc = float(np.mean([engine.classes[int(np.argmax(r))] == t
                                 for r, t in zip(probs, truth)]))
            line += f", averaged over {len(refs)} references {acc:.4f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
