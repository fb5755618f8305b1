"""Whether lifting an under-exposed field to the training range gives a model that reads colours
as captured its calls back, and whether clamping a lamp's tint the same way would
(docs/robustness.md, "Exposure floor").

On the model's own validation fields (``MODEL/split.json``), accuracy and the share of calls
below the low-confidence threshold
1. under exposures x0.95 ... x0.45 (one gain on all channels): as shifted, and through the
   model's own preprocessing (``InferenceEngine.preprocess``: the exposure floor of
   model/white_balance.py ``lift_exposure``, taken from model.json ``background_range``);
2. under lamps 3-12% warmer or cooler: as shifted, and with the background's tint clamped into
   the training fields' range by per-channel gains (the rejected analogue for tint).

    .venv/bin/python -m research.exposure_floor --model runs/m200-flags

Needs the data set (research/common.py) and a recipe run that reads colours as captured and has
a background range (e.g. runs/m200-flags, docs/robustness.md). About 2 minutes on two cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from model import shifts, white_balance

from .common import accuracy, as_captured, probabilities, recipe_fields

EXPOSURES = (0.95, 0.9, 0.85, 0.8, 0.75, 0.65, 0.55, 0.45)
LAMPS = (0.03, 0.05, 0.08, 0.12)


def _clamped_tint(background, low, high) -> tuple[float, float, float]:
    """The background colour whose level and tints (white_balance.background_stats) are the
    nearest inside [low, high]."""
    level, red_blue, green_mid = np.clip(white_balance.background_stats(background), low, high)
    red_plus_blue = (3 * level - green_mid) / 1.5
    return ((red_plus_blue + red_blue) / 2, green_mid + red_plus_blue / 2,
            (red_plus_blue - red_blue) / 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="a recipe run's model dir")
    args = p.parse_args(argv)
    fields, truth, engine = recipe_fields(args.model)
    pre = engine.preprocess_config
    if pre.white_balance is not None or pre.exposure_floor is None:
        raise SystemExit("this measures a model that reads colours as captured, with a "
                         "background range (model.upgrade)")

    def score(x: np.ndarray) -> str:
        probs = probabilities(engine, x)
        low = np.mean(probs.max(axis=1) < engine.low_confidence_threshold)
        return f"{accuracy(engine, probs, truth):.4f} (low confidence {low:.3f})"

    def as_shifted(images) -> str:
        return score(as_captured(engine, images))

    print(f"{len(fields)} validation fields of {args.model}; exposure floor {pre.exposure_floor}")
    print(f"as captured: {as_shifted(fields)}; preprocessed: {score(engine.preprocess(fields))}")
    for gain in EXPOSURES:
        shifted = [shifts.channel_gain(im, (gain, gain, gain)) for im in fields]
        print(f"exposure x{gain}: as shifted {as_shifted(shifted)}, lifted to the floor "
              f"{score(engine.preprocess(shifted))}", flush=True)
    low, high = engine.background_range["low"], engine.background_range["high"]
    for k in LAMPS:
        for name, gains in (("warmer", (1 + k, 1.0, 1 - k)), ("cooler", (1 - k, 1.0, 1 + k))):
            shifted = [shifts.channel_gain(im, gains) for im in fields]
            clamped = []
            for im in shifted:
                bg = white_balance.estimate_background(im)[0]
                target = bg if bg is None else _clamped_tint(bg, low, high)
                clamped.append(im if bg is None else shifts.channel_gain(
                    im, tuple(t / max(b, 1.0) for t, b in zip(target, bg))))
            print(f"lamp {k:.0%} {name}: as shifted {as_shifted(shifted)}, tint clamped into the "
                  f"range {as_shifted(clamped)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
