"""Reproduce the limits of the poor_capture flag (lab_app/core/quality.py, docs/robustness.md):
the three capture measures on every second Original field of the data set, as captured and under
each acquisition shift of model/shifts.py, as percentiles.

    .venv/bin/python -m research.quality_limits [--step 2] [--json OUT]

Needs the data set (research/common.py). About 2 minutes on two idle cores.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from lab_app.core.imaging import load_rgb
from lab_app.core.quality import measure
from model import shifts

from .common import dataset_root

VARIANTS = ("as captured", "exposure_up", "jpeg_q30", "jpeg_q15", "sensor_noise", "lamp_warm",
            "lamp_cool", "exposure_down", "stain_pale", "stain_heavy", "defocus",
            "camera_half_resolution", "magnification_up", "magnification_down")
PERCENTILES = (1, 50, 99, 99.5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--step", type=int, default=2, help="every STEP-th field (default 2)")
    p.add_argument("--json", default=None, help="write the table as JSON here")
    args = p.parse_args(argv)
    files = sorted((dataset_root() / "Original").glob("*/*.jpg"))[::args.step]
    rng = np.random.default_rng(0)
    values: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
    for f in files:
        rgb = load_rgb(f).rgb
        for v in VARIANTS:
            q = measure(rgb if v == "as captured" else shifts.SHIFTS[v](rgb, rng))
            values[v].append((q.blown_out, q.blockiness, q.noise))
    table = {}
    print(f"{len(files)} fields; percentiles {PERCENTILES}")
    for v, rows in values.items():
        a = np.array(rows)
        table[v] = {name: [round(float(np.percentile(a[:, i], pc)), 3) for pc in PERCENTILES]
                    for i, name in enumerate(("blown_out", "blockiness", "noise"))}
        print(f"{v:<24} " + "  ".join(f"{k} {table[v][k]}" for k in table[v]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"fields": len(files), "percentiles": PERCENTILES, "table": table}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
