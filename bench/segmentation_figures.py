"""Figures quoted in docs/segmentation.md, measured on the ALL (Taleqani) data set.

    python bench/segmentation_figures.py [DATA_DIR] [--step N]

DATA_DIR defaults to $LABAPP_DATASET_DIR, else ../shared/data/all-taleqani; --step N uses every
Nth image of each class (1 = all, about 10 s on two cores). Prints, per class:
- the dataset preset's raw threshold mask against the authors' Segmented images (pooled IoU,
  IoU ignoring a 1-pixel band around the authors' outlines, pixel agreement), and against the
  authors' own procedure re-run on the Original (pixels identical);
- the default preset: share of fields with at least one cell, cell-count percentiles;
- the scope check: share of real fields judged in scope (false positives = the rest);
- segmentation time for a 224 x 224 field and a 4000 x 3000 capture.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab_app.core.scope import assess_scope  # noqa: E402
from lab_app.core.segmentation import preset, segment, threshold_mask  # noqa: E402

CLASSES = ("Benign", "Early", "Pre", "Pro")
# The Segmented jpgs store masked pixels as raw HSV bytes (hue >= 168 in the blue channel,
# S and V >= 50), black elsewhere. Half of 168 separates them from JPEG noise around black.
AUTHORS_MASK_LEVEL = 84


def authors_mask(segmented_bgr: np.ndarray) -> np.ndarray:
    return segmented_bgr.max(axis=2) >= AUTHORS_MASK_LEVEL


def authors_procedure(original_bgr: np.ndarray) -> np.ndarray:
    """Their code: a BGR array converted with the RGB->HSV code, hue 168..182, S, V >= 50."""
    hsv = cv2.cvtColor(original_bgr, cv2.COLOR_RGB2HSV)
    return cv2.inRange(hsv, (168, 50, 50), (182, 255, 255)) > 0


def boundary_band(mask: np.ndarray) -> np.ndarray:
    kernel = np.ones((3, 3), np.uint8)
    m = mask.astype(np.uint8)
    return (cv2.dilate(m, kernel) > 0) & ~(cv2.erode(m, kernel) > 0)


def percentiles(values: list[int]) -> str:
    p = np.percentile(values, [5, 25, 50, 75, 95]) if values else []
    return "/".join(f"{v:g}" for v in p) + f" (max {max(values) if values else 0})"


def main() -> None:
    default_dir = os.environ.get("LABAPP_DATASET_DIR") or str(
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "all-taleqani")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default=default_dir)
    parser.add_argument("--step", type=int, default=1)
    args = parser.parse_args()
    root = Path(args.data_dir)
    dataset, default = preset("dataset"), preset("default")

    totals = dict(inter=0, union=0, inter_t=0, union_t=0, agree=0, same=0, pixels=0, n=0,
                  with_cells=0, in_scope=0)
    print("class   n    IoU   IoU(1px)  agree   procedure  >=1cell  cells p5/25/50/75/95"
          "            in_scope")
    for cls in CLASSES:
        files = sorted((root / "Original" / cls).glob("*.jpg"))[:: args.step]
        c = dict.fromkeys(totals, 0)
        counts: list[int] = []
        out_of_scope: list[str] = []
        for path in files:
            bgr = cv2.imread(str(path))
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            ours = threshold_mask(rgb, dataset) > 0
            segmented = cv2.imread(str(root / "Segmented" / cls / path.name))
            theirs = authors_mask(segmented)
            keep = ~boundary_band(theirs)
            c["inter"] += int((ours & theirs).sum())
            c["union"] += int((ours | theirs).sum())
            c["inter_t"] += int((ours & theirs & keep).sum())
            c["union_t"] += int(((ours | theirs) & keep).sum())
            c["agree"] += int((ours == theirs).sum())
            c["same"] += int((ours == authors_procedure(bgr)).sum())
            c["pixels"] += ours.size
            c["n"] += 1
            seg = segment(rgb, default)
            counts.append(seg.count)
            c["with_cells"] += seg.count >= 1
            scope = assess_scope(rgb, seg)
            c["in_scope"] += scope.in_scope
            if not scope.in_scope:
                out_of_scope.append(f"{path.name}: {scope.reason}")
        for key in totals:
            totals[key] += c[key]
        print(f"{cls:7} {c['n']:4} {c['inter'] / c['union']:.3f}  {c['inter_t'] / c['union_t']:.3f}"
              f"     {c['agree'] / c['pixels']:.4f}  {c['same'] / c['pixels']:.5f}    "
              f"{c['with_cells'] / c['n']:.4f}   {percentiles(counts):28} "
              f"{c['in_scope'] / c['n']:.4f}")
        for line in out_of_scope:
            print("    out of scope:", line)
    t = totals
    print(f"{'all':7} {t['n']:4} {t['inter'] / t['union']:.3f}  {t['inter_t'] / t['union_t']:.3f}"
          f"     {t['agree'] / t['pixels']:.4f}  {t['same'] / t['pixels']:.5f}    "
          f"{t['with_cells'] / t['n']:.4f}   {'':28} {t['in_scope'] / t['n']:.4f}")

    field = cv2.imread(str(sorted((root / "Original" / "Pre").glob("*.jpg"))[0]))[:, :, ::-1]
    field = np.ascontiguousarray(field)
    capture = cv2.resize(field, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    for name, image, repeats in (("224x224", field, 200), ("4000x3000", capture, 5)):
        segment(image, default)
        start = time.perf_counter()
        for _ in range(repeats):
            segment(image, default)
        print(f"segment() {name}: {(time.perf_counter() - start) / repeats * 1000:.1f} ms")


if __name__ == "__main__":
    main()
