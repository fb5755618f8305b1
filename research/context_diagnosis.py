"""Reproduce the table in docs/model-development.md: does the bundled model read the cells or the
background of the Pre-B patient it misreads (files 001, 004, ... 028)?

    python -m research.context_diagnosis [--model DIR]

The notes' table measured model 2.0.0, no longer bundled: give --model a copy of it extracted
from git (research/README.md). Without --model the bundled model answers. Needs
../shared/data/all-taleqani (or LABAPP_DATASET_DIR). Prints one line per test: the calls and
confidences of the model (ONNX Runtime) on the altered fields.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from model.context_swap import background_plate, cell_mask, paste, soft_alpha
from model.data import read_rgb
from model.inference import InferenceEngine

from .common import dataset_root

PATIENT = [1, 4, 7, 10, 13, 16, 19, 22, 25, 28]     # every third file: one patient, all in validation
GOOD_PRE = [5, 8, 31, 34, 40, 46]                  # Pre-B fields the model calls right
PRE_DONOR, PRO_DONOR = 34, 600                     # a typical Pre-B and a Pro-B background


def field(data: Path, cls: str, number: int) -> np.ndarray:
    return read_rgb(data / cls / f"WBC-Malignant-{cls}-{number:03d}.jpg")


def erase_scale_bar(rgb: np.ndarray) -> np.ndarray:
    """Fill the bottom-right corner, where the burned-in scale bar sits, with nearby background."""
    out = rgb.copy()
    h, w = rgb.shape[:2]
    out[h - 26:h - 2, w - 50:w - 2] = np.median(rgb[h - 40:h - 28, w - 60:].reshape(-1, 3), axis=0)
    return out


def on_background(rgb: np.ndarray, donor: np.ndarray) -> np.ndarray:
    """The field's cells (mask with its rim, feathered) on the donor's cell-free background."""
    return paste(rgb, soft_alpha(cell_mask(rgb)), background_plate(donor, cell_mask(donor)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model dir (default: the bundled model)")
    args = p.parse_args()
    root = dataset_root()
    data = root / "Original"
    if not data.is_dir():
        print(f"data set not found at {root}", file=sys.stderr)
        return 2
    engine = InferenceEngine(args.model, device="cpu")
    patient = [field(data, "Pre", n) for n in PATIENT]
    good = [field(data, "Pre", n) for n in GOOD_PRE]
    pre_donor, pro_donor = field(data, "Pre", PRE_DONOR), field(data, "Pro", PRO_DONOR)
    tests = [
        ("patient, as is", patient),
        ("patient, scale bar erased", [erase_scale_bar(f) for f in patient]),
        ("patient's cells on a Pre-B background", [on_background(f, pre_donor) for f in patient]),
        ("patient's cells on a Pro-B background", [on_background(f, pro_donor) for f in patient]),
        ("good Pre-B fields, as is", good),
        ("good Pre-B cells on a Pro-B background", [on_background(f, pro_donor) for f in good]),
    ]
    for name, images in tests:
        probs = engine.predict(images).probabilities
        calls = " ".join(f"{engine.classes[int(q.argmax())]} {q.max():.2f}" for q in probs)
        print(f"{name:40s} {calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
