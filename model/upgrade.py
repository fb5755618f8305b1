"""``python -m model.upgrade``: give an existing model dir the acquisition checks, no retraining.

Model dirs exported before 2.3.0 read each field's colours as captured and have no
unlike-training detector. This writes a copy that

- balances every field's colour to the background colour of its own training images
  (model/white_balance.py; the median of their background estimates), and
- carries a feature density fitted on those training fields (model/ood.py), its flag threshold
  set on the dir's held-out validation fields, or, for a refit (which has none), scaled from
  another model dir's held-out ratio (``--threshold-from``, the same recipe on a block split).

The weights, the ONNX graph, the temperature and the low-confidence threshold stay as they
were: on fields captured like the training data the balance changes little, which
bench/robustness.py measures. The copy gets its own version and a note in its card.

    python -m model.upgrade MODEL_DIR --data-dir DATA --out NEW_DIR --version 2.3.0
        [--threshold-from HELD_OUT_MODEL_DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from . import ood
from .data import read_rgb, scan_folder_dataset
from .errors import DataError, ModelError
from .export import fit_feature_density
from .model_card import render_model_card
from .atomic import atomic_write_bytes, atomic_write_json
from .manifest import MANIFEST, write_manifest
from .modeldir import read_model_json, sha256_file
from .preprocessing import PreprocessConfig, model_field
from .white_balance import BACKGROUND_STATS, background_stats, estimate_background


def _samples(model_dir: Path, data_dirs: list[str], part: str, classes: list[str]):
    split = json.loads((model_dir / "split.json").read_text())
    wanted = set(split.get(part, []))
    found = {}
    for d in data_dirs:
        for s in scan_folder_dataset(Path(d), tuple(classes), allow_new_classes=True):
            if s.rel in wanted:
                found.setdefault(s.rel, s)
    missing = wanted - set(found)
    if missing:
        raise DataError(f"{len(missing)} {part} images of {model_dir} are not in "
                        f"{', '.join(data_dirs)} (first: {sorted(missing)[0]}).")
    samples = [found[r] for r in sorted(found)]
    return samples, np.array([classes.index(s.class_id) for s in samples])


LOW_PERCENTILES = (0.1, 0.5, 0.5)   # per background statistic, cut at each end


def background_range(backgrounds: np.ndarray) -> dict:
    """What the training fields' backgrounds (the lamp's colour and the exposure) span, as
    0.5th..99.5th percentiles of three numbers a lamp or an exposure moves apart: the level
    (mean of R, G, B), red minus blue (warm or cool light) and green minus the mean of red and
    blue (green or magenta cast). A model that reads colours as captured has seen nothing
    outside them."""
    b = np.asarray(backgrounds, np.float64)
    stats = np.array([background_stats(tuple(row)) for row in b])
    # The level varies more within the data set (darker smears) than a lamp's tint does, and an
    # exposure change moves it far: its outer 0.1% set the bounds, the tints' outer 0.5%.
    low = [float(np.percentile(stats[:, k], q)) for k, q in enumerate(LOW_PERCENTILES)]
    high = [float(np.percentile(stats[:, k], 100 - q)) for k, q in enumerate(LOW_PERCENTILES)]
    return {"names": list(BACKGROUND_STATS), "low": [round(v, 2) for v in low],
            "high": [round(v, 2) for v in high], "n": int(len(b)),
            "outer_percent": list(LOW_PERCENTILES)}


def upgrade(model_dir: Path, data_dirs: list[str], out: Path, version: str,
            threshold_from: Path | None = None, white_balance: bool = True) -> Path:
    meta = read_model_json(model_dir)
    if meta.get("feature_density") is not None:
        raise DataError(f"{model_dir} already has the acquisition checks; nothing to upgrade.")
    classes = list(meta["classes"])
    train, y_train = _samples(model_dir, data_dirs, "train", classes)
    val, _ = _samples(model_dir, data_dirs, "val", classes)
    raws = {s.rel: read_rgb(s.path) for s in train}
    found = np.array([b for b, _ in (estimate_background(rgb) for rgb in raws.values()) if b])
    reference = tuple(float(v) for v in np.median(found, axis=0)) if white_balance else None
    pre = PreprocessConfig(int(meta["input_size"]), tuple(meta["mean"]), tuple(meta["std"]),
                           reference)
    recipe_record = None
    if not val:
        if threshold_from is None:
            raise DataError(f"{model_dir} has no held-out fields (a refit); give --threshold-from "
                            "a model dir of the same recipe trained on a block split.")
        other = read_model_json(threshold_from)
        recipe_record = dict(other.get("feature_density") or {},
                             measured_on=f"{other['name']} {other['version']} (the same recipe "
                                         "on split 0's training blocks)")
        if "threshold" not in recipe_record:
            raise DataError(f"{threshold_from} has no unlike-training detector to scale from.")
    out.mkdir(parents=True, exist_ok=True)
    for f in model_dir.iterdir():
        if f.is_file() and f.name not in ("model.json", "MODEL_CARD.md", MANIFEST):
            shutil.copy2(f, out / f.name)
    train_fields = [model_field(raws[s.rel], pre) for s in train]
    val_fields = [model_field(read_rgb(s.path), pre) for s in val] if val else None
    density, record = fit_feature_density(out / "model.onnx", pre, train_fields, y_train,
                                          val_fields, recipe_record)
    density.save(out / ood.FILENAME)
    record["sha256"] = sha256_file(out / ood.FILENAME)
    old = f"{meta['name']} {meta['version']}"
    meta.update(pre.to_json())
    if reference is None:
        meta.pop("white_balance", None)
    meta["feature_density"] = record
    meta["background_range"] = background_range(found)
    meta["version"] = version
    meta.pop("robustness", None)
    t = meta["training"]
    balance = (f"colour constancy to the training fields' background "
               f"({', '.join(f'{v:g}' for v in reference)}) and " if reference else "")
    t["note"] = ((t.get("note") or "") + f" Upgraded from {old} without retraining (python -m "
                 f"model.upgrade): {balance}an unlike-training detector; weights, temperature and "
                 "low-confidence threshold unchanged.").strip()
    atomic_write_json(out / "model.json", meta)
    atomic_write_bytes(out / "MODEL_CARD.md", render_model_card(meta).encode("utf-8"))
    write_manifest(out)   # the new model.json and density get a new identity
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.upgrade", description=__doc__.splitlines()[0])
    p.add_argument("model_dir", type=Path)
    p.add_argument("--data-dir", action="append", dest="data_dirs", required=True, metavar="DIR",
                   help="the folder the model was trained on (repeat for several)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--threshold-from", type=Path, default=None, metavar="MODEL_DIR")
    p.add_argument("--no-white-balance", dest="white_balance", action="store_false",
                   help="keep reading colours as captured (the weights were trained that way)")
    args = p.parse_args(argv)
    try:
        print(upgrade(args.model_dir, args.data_dirs, args.out, args.version, args.threshold_from,
                      args.white_balance))
    except ModelError as exc:
        print(f"python -m model.upgrade: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
