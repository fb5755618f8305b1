"""Reproduce the teacher-target figures of docs/model-development.md (session 7): how soft the
averaged probabilities of --distill teachers are on augmented training fields and on the
validation fields of a distilled run.

    python -m research.teacher_targets RUN_DIR [--fields 256]

RUN_DIR is a finished run of the former labapp-train --distill (run.json, split.json; the option
has left labapp-train, research/README.md); its teachers are read from its run.json. Needs
../shared/data/all-taleqani (or LABAPP_DATASET_DIR). Under a minute on one core at 96 px.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from model.data import read_rgb
from model.preprocessing import PreprocessConfig, preprocess, resize_field
from model.train import STORE_FACTOR

from .common import dataset_root


def main() -> int:
    import torch

    from model.augment import AugmentConfig, augment_batch

    from .distill import load_teachers

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--fields", type=int, default=256, help="training fields to augment")
    p.add_argument("--data-dir", type=Path, default=dataset_root() / "Original")
    args = p.parse_args()
    torch.set_num_threads(1)
    run = json.loads((args.run_dir / "run.json").read_text())
    split = json.loads((args.run_dir / "split.json").read_text())
    teacher_dirs = run["config"].get("distill")
    if not teacher_dirs:
        sys.exit(f"{args.run_dir} was not trained with --distill")
    pre = PreprocessConfig.from_json(run["preprocess"])
    classes, size = run["classes"], pre.input_size

    def labels(rels):
        return np.array([classes.index(r.split("/")[0]) for r in rels])

    picked = np.random.default_rng(0).choice(len(split["train"]), args.fields, replace=False)
    train_rels = [split["train"][i] for i in picked]
    store = torch.from_numpy(np.stack([resize_field(read_rgb(args.data_dir / r),
                                                    int(round(size * STORE_FACTOR)))
                                       for r in train_rels]))
    x_train = augment_batch(store, size, torch.tensor(pre.mean), torch.tensor(pre.std),
                            AugmentConfig(), torch.Generator().manual_seed(0))
    x_val = torch.from_numpy(preprocess([resize_field(read_rgb(args.data_dir / r), size)
                                         for r in split["val"]], pre))
    for tau in (1.0, float(run["config"]["distill_temperature"])):
        teachers = load_teachers(teacher_dirs, tuple(classes), size, pre.mean, pre.std, [],
                                 torch.device("cpu"), tau)
        for name, x, y in (("training fields, augmented", x_train, labels(train_rels)),
                           ("validation fields", x_val, labels(split["val"]))):
            prob = teachers.probabilities(x).numpy()
            on_label = prob[np.arange(len(y)), y]
            print(f"temperature {tau:g}, {name} (n={len(y)}): mean probability of the label "
                  f"{on_label.mean():.3f}, argmax wrong {100 * (prob.argmax(1) != y).mean():.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
