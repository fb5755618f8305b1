"""labapp-crossval: pool the folds of a block cross-validation into one out-of-fold figure.

One block split says how a recipe did on the patients that happened to land in validation; on
this data set that swings from 95.7% to 100% with the split seed (docs/model-development.md). The
K runs of ``labapp-train --fold I/K`` validate every block exactly once, so summing their
confusion matrices scores every image once, by a model that never trained on its smear.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

from .data import recorded_data_hashes
from .errors import DataError, ModelError
from .metrics import confusion_report
from .atomic import atomic_write_json
from .modeldir import read_model_json
from .recipe import RECIPE_OPTIONS, recipe_value

# What every fold must share for their figures to describe one recipe (model.json "training").
_SAME_RECIPE = (*RECIPE_OPTIONS, "epochs", "keep", "init")


def _fold_of(meta: dict, where: Path) -> tuple[int, int]:
    fold = meta.get("training", {}).get("split", {}).get("fold")
    if not fold:
        raise DataError(f"{where} was not trained as a cross-validation fold (labapp-train --fold I/K).")
    return int(fold[0]), int(fold[1])


def pool_folds(model_dirs: list[Path]) -> dict:
    """Check that the model dirs are the K folds of one recipe, one split seed and one data set,
    and pool their validation confusion matrices."""
    if not model_dirs:
        raise DataError("Give the model folders of the folds (the model/ folder of each run).")
    metas = [(Path(d), read_model_json(Path(d))) for d in model_dirs]
    first_dir, first = metas[0]
    k = _fold_of(first, first_dir)[1]
    t0 = first["training"]
    folds: dict[int, tuple[Path, dict]] = {}
    for where, meta in metas:
        i, k_here = _fold_of(meta, where)
        t = meta["training"]
        if k_here != k:
            raise DataError(f"{where} is a fold of a {k_here}-fold split, {first_dir} of a {k}-fold one.")
        if i in folds:
            raise DataError(f"Fold {i} is given twice: {folds[i][0]} and {where}.")
        if t["split"].get("seed") != t0["split"].get("seed"):
            raise DataError(f"{where} drew its blocks with split seed {t['split'].get('seed')}, "
                            f"{first_dir} with {t0['split'].get('seed')}: the folds would overlap.")
        if not recorded_data_hashes(t["data"]) & recorded_data_hashes(t0["data"]):
            raise DataError(f"{where} was trained on other images than {first_dir}.")
        if meta["classes"] != first["classes"]:
            raise DataError(f"{where} has classes {meta['classes']}, {first_dir} {first['classes']}.")
        for key in _SAME_RECIPE:
            if recipe_value(t, key) != recipe_value(t0, key):
                raise DataError(f"{where} used {key} {recipe_value(t, key)} where {first_dir} used "
                                f"{recipe_value(t0, key)}: folds of different recipes cannot be pooled.")
        folds[i] = (where, meta)
    missing = sorted(set(range(1, k + 1)) - set(folds))
    classes = first["classes"]
    pooled = np.sum([meta["metrics"]["confusion_matrix"] for _, meta in folds.values()], axis=0)
    per_fold = []
    for i, (where, meta) in sorted(folds.items()):
        m = meta["metrics"]
        per_fold.append({"fold": i, "model": str(where), "n": m["n"],
                         "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                         "ece_after_calibration": m.get("ece_after_calibration", m.get("ece")),
                         "epochs_run": meta["training"].get("epochs_run"),
                         "validation_blocks": {c: v["val_numbers"] for c, v in
                                               meta["training"]["split"]["classes"].items()}})
    accs = [f["accuracy"] for f in per_fold]
    return {
        "folds": k, "folds_given": len(folds), "missing_folds": missing,
        "split_seed": t0["split"].get("seed"), "recipe": {key: recipe_value(t0, key) for key in _SAME_RECIPE},
        "pooled": confusion_report(pooled, classes),
        "fold_accuracy_mean": statistics.fmean(accs),
        "fold_accuracy_sd": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "per_fold": per_fold,
    }


def format_summary(result: dict) -> str:
    p = result["pooled"]
    lines = [f"{result['folds_given']} of {result['folds']} folds (split seed {result['split_seed']})"
             + (f"; MISSING folds {result['missing_folds']}: the pooled figure covers only the "
                "blocks of the folds given" if result["missing_folds"] else "")]
    for f in result["per_fold"]:
        lines.append(f"  fold {f['fold']}: n={f['n']}  accuracy {f['accuracy']:.2%}  "
                     f"macro-F1 {f['macro_f1']:.3f}  ECE {f['ece_after_calibration']:.3f}  "
                     f"({f['epochs_run']} epochs)")
    lines.append(f"pooled out-of-fold: n={p['n']}  accuracy {p['accuracy']:.2%}  "
                 f"macro-F1 {p['macro_f1']:.3f}  (fold accuracy {result['fold_accuracy_mean']:.2%} "
                 f"± {result['fold_accuracy_sd']:.2%})")
    lines.append("  recall: " + ", ".join(f"{c} {v['recall']:.1%}" for c, v in p["per_class"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="labapp-crossval",
        description="Pool the validation figures of the K folds of a block cross-validation "
                    "(runs of labapp-train --fold I/K) into one out-of-fold accuracy and macro-F1.")
    ap.add_argument("model_dirs", nargs="+", type=Path, metavar="MODEL_DIR",
                    help="the model/ folder of each fold's run")
    ap.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures here")
    args = ap.parse_args(argv)
    try:
        result = pool_folds(args.model_dirs)
    except ModelError as exc:
        print(f"labapp-crossval: {exc}", file=sys.stderr)
        return 1
    print(format_summary(result))
    if args.json:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
