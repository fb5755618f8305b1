"""Reproduce the seed-averaging lines of docs/model-development.md: the fold models of two or more
cross-validations of one split seed (labapp-train --fold I/K, different --seed or options), their
calibrated probabilities averaged on each fold's own validation fields, pooled over the folds.

    python -m research.fold_average RUN_PREFIX RUN_PREFIX [...] [--folds 5]

A RUN_PREFIX names the run dirs PREFIX-f1 ... PREFIX-fK (each with split.json and model/), as
labapp-train --out wrote them. Example (the session-6 runs, which stay in runs/ and are not in
git):

    python -m research.fold_average runs/cv96 runs/cv96s1

Needs ../shared/data/all-taleqani (or LABAPP_DATASET_DIR). Prints, per fold and pooled, the
errors of each cross-validation alone and of the average. Every prefix must validate the same
fields in each fold, or the comparison would mean nothing; a mismatch stops the script.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from model.data import read_rgb
from model.inference import InferenceEngine

from .common import dataset_root


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("prefixes", nargs="+")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--data-dir", default=str(dataset_root() / "Original"))
    args = p.parse_args()
    root = Path(args.data_dir)
    errors = {name: 0 for name in [*args.prefixes, "average"]}
    n_total = 0
    for i in range(1, args.folds + 1):
        vals = [json.loads(Path(f"{pre}-f{i}/split.json").read_text())["val"] for pre in args.prefixes]
        if any(v != vals[0] for v in vals):
            sys.exit(f"fold {i}: the runs validate different fields; use one --split-seed and --fold K")
        engines = [InferenceEngine(f"{pre}-f{i}/model", device="cpu") for pre in args.prefixes]
        classes = engines[0].classes
        fields = [read_rgb(root / v) for v in vals[0]]
        y = np.array([classes.index(v.split("/")[0]) for v in vals[0]])
        probs = [e.predict(fields).probabilities for e in engines]
        fold_errors = [int((pr.argmax(1) != y).sum()) for pr in [*probs, sum(probs) / len(probs)]]
        print(f"fold {i} (n={len(y)}): errors " + ", ".join(
            f"{name} {e}" for name, e in zip(errors, fold_errors)))
        for name, e in zip(errors, fold_errors):
            errors[name] += e
        n_total += len(y)
    print(f"pooled (n={n_total}): " + ", ".join(
        f"{name} {e} errors ({100 * (1 - e / n_total):.2f}%)" for name, e in errors.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
