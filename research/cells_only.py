"""Reproduce "The cells without their smear" in docs/model-development.md (session 8): fields
with everything but the segmented cells painted white, and a background-drop training run.

    python -m research.cells_only write-copy OUT_DIR
        the data set's Original/ with everything but the application's segmented cells (default
        preset, mask dilated 3 px) painted white, as JPEG (quality 98) under OUT_DIR/Original;
        train on it with labapp-train OUT_DIR/Original --split runs/cv96-fI/split.json ...
    python -m research.cells_only evaluate RUN_PREFIX [--cells-prefix P --cells-dir D]
        errors on folds 2 and 5 of RUN_PREFIX-f2 / -f5: on the fields, on their cells-on-white
        views and on the mean of the two; with --cells-prefix, also a cells-only model (run on
        the copy in D) and its mean with RUN_PREFIX's field model

The background-drop runs (runs/cv96drop-fI) were trained with labapp-train's former
--context-swap, its plates whitened: research/README.md says how to rerun them at the commit
that still had it.

Needs ../shared/data/all-taleqani (or LABAPP_DATASET_DIR). The copy takes under a minute; each
96 px, 40-epoch fold run about 12 minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .common import dataset_root

DATA = dataset_root()
FOLDS = (2, 5)   # fold 2 validates the unseen Pre-B patient; fold 5 has the next-most errors


def write_copy(out: Path) -> None:
    import cv2

    from lab_app.core.imaging import load_rgb
    from lab_app.core.segmentation import segment
    src = DATA / "Original"
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    files = sorted(src.rglob("*.jpg"))
    for f in files:
        rgb = load_rgb(f).rgb
        cells = cv2.dilate(segment(rgb).mask, grow) > 0
        target = out / "Original" / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        painted = np.where(cells[..., None], rgb, 255).astype(np.uint8)
        cv2.imwrite(str(target), cv2.cvtColor(painted, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 98])
    print(f"{len(files)} fields written under {out / 'Original'}")


def evaluate(prefix: str, cells_prefix: str | None, cells_dir: Path | None) -> None:
    from .context_diagnosis import PATIENT  # the unseen patient's file numbers, kept there

    from model.context_swap import cell_mask, paste, soft_alpha
    from model.data import read_rgb
    from model.inference import InferenceEngine
    patient_files = {f"Pre/WBC-Malignant-Pre-{n:03d}.jpg" for n in PATIENT}
    for fold in FOLDS:
        val = json.loads(Path(f"{prefix}-f{fold}/split.json").read_text())["val"]
        engine = InferenceEngine(f"{prefix}-f{fold}/model", device="cpu")
        y = np.array([engine.classes.index(rel.split("/")[0]) for rel in val])
        patient = np.array([rel in patient_files for rel in val])
        fields = [read_rgb(DATA / "Original" / rel) for rel in val]
        on_white = [paste(f, soft_alpha(cell_mask(f)), np.full_like(f, 255)) for f in fields]
        p_field = engine.predict(fields).probabilities
        p_white = engine.predict(on_white).probabilities
        rows = [("field", p_field), ("cells-on-white view", p_white),
                ("mean of the two", (p_field + p_white) / 2)]
        if cells_prefix:
            cells = InferenceEngine(f"{cells_prefix}-f{fold}/model", device="cpu")
            p_cells = cells.predict([read_rgb(cells_dir / rel) for rel in val]).probabilities
            rows += [("cells-only model", p_cells),
                     ("field and cells-only mean", (p_field + p_cells) / 2)]
        for name, probs in rows:
            wrong = probs.argmax(1) != y
            print(f"fold {fold} {name}: {int(wrong.sum())} errors of {len(y)}, "
                  f"patient {int((wrong & patient).sum())} of {int(patient.sum())} wrong")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("write-copy").add_argument("out_dir", type=Path)
    ev = sub.add_parser("evaluate")
    ev.add_argument("prefix")
    ev.add_argument("--cells-prefix")
    ev.add_argument("--cells-dir", type=Path)
    args = p.parse_args()
    if args.command == "write-copy":
        write_copy(args.out_dir)
    else:
        evaluate(args.prefix, args.cells_prefix,
                 args.cells_dir / "Original" if args.cells_dir else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
