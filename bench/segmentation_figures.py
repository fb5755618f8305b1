"""Figures quoted in docs/segmentation.md, measured on the ALL (Taleqani) data set.

    python bench/segmentation_figures.py [DATA_DIR] [--step N] [--shifts] [--previous]

DATA_DIR defaults to $LABAPP_DATASET_DIR, else ../shared/data/all-taleqani; --step N uses every
Nth image of each class (1 = all, about 20 s on two cores). Like the analysis
(lab_app/core/pipeline.py, ``prepare_field``), the default preset and the scope check read the
colour-balanced field (model/preprocessing.py ``balance_field``, to the training fields'
background ``--reference``, default 249,255,252; ``--no-balance`` reads the raw field); the
dataset preset reads the raw field. Prints, per class:
- the dataset preset's raw threshold mask against the authors' Segmented images (pooled IoU,
  IoU ignoring a 1-pixel band around the authors' outlines, pixel agreement), and against the
  authors' own procedure re-run on the Original (pixels identical);
- the default preset: share of fields with at least one cell, cell-count percentiles;
- the scope check: share of real fields judged in scope (false positives = the rest);
- with --shifts: for each colour shift of model/shifts.py (lamp, exposure, stain strength and
  hue), the mean IoU between the default preset's mask of the field and of its shifted copy, both
  balanced (about 10 s per 100 fields);
- with --previous: the same count and shift figures for the default preset before the stain rule
  (HSV box hue 120..165, S >= 50, the pale pink extra range, edge fragments below 0.35 x 450 px);
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
from lab_app.core.segmentation import (PALE_PINK_NUCLEI, SegmentationParams,  # noqa: E402
                                       preset, segment, threshold_mask)
from model.preprocessing import PreprocessConfig, balance_field  # noqa: E402
from model.shifts import COLOUR_SHIFTS, SHIFTS  # noqa: E402
from model.stain_hsv import VIOLET_NUCLEI  # noqa: E402

CLASSES = ("Benign", "Early", "Pre", "Pro")
# The Segmented jpgs store masked pixels as raw HSV bytes (hue >= 168 in the blue channel,
# S and V >= 50), black elsewhere. Half of 168 separates them from JPEG noise around black.
AUTHORS_MASK_LEVEL = 84
# The training fields' background colour the analysis balances each field to (model dir's
# preprocess.white_balance).
TRAINING_BACKGROUND = (249.0, 255.0, 252.0)
# The default preset before the stain rule (for --previous): hue 120..165, S >= 50.
(_H0, _S0, _V0), (_H1, _S1, _V1) = VIOLET_NUCLEI
PREVIOUS_DEFAULT = SegmentationParams(
    preset="previous-default", method="hsv", hue_min=_H0, hue_max=_H1, sat_min=_S0, sat_max=_S1,
    val_min=_V0, val_max=_V1, extra_ranges=(PALE_PINK_NUCLEI,), border_fragment_fraction=0.35)


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


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def percentiles(values: list[int]) -> str:
    p = np.percentile(values, [5, 25, 50, 75, 95]) if values else []
    return "/".join(f"{v:g}" for v in p) + f" (max {max(values) if values else 0})"


def main() -> None:
    default_dir = os.environ.get("LABAPP_DATASET_DIR") or str(
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "all-taleqani")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default=default_dir)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--reference", default=",".join(f"{v:g}" for v in TRAINING_BACKGROUND),
                        help="background colour R,G,B the fields are balanced to")
    parser.add_argument("--no-balance", action="store_true", help="segment the raw fields")
    parser.add_argument("--shifts", action="store_true",
                        help="mean mask IoU under each colour shift (model/shifts.py)")
    parser.add_argument("--previous", action="store_true",
                        help="also the default preset before the stain rule")
    args = parser.parse_args()
    root = Path(args.data_dir)
    dataset, default = preset("dataset"), preset("default")
    pre = PreprocessConfig(224, white_balance=None if args.no_balance else
                           tuple(float(v) for v in args.reference.split(",")))
    variants = {"default": default}
    if args.previous:
        variants["previous"] = PREVIOUS_DEFAULT
    shift_iou: dict[str, dict[str, list[float]]] = {
        name: {shift: [] for shift in COLOUR_SHIFTS} for name in variants}
    other_counts: dict[str, dict[str, list[int]]] = {name: {} for name in variants}
    rng = np.random.default_rng(0)

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
            balanced = balance_field(rgb, pre)[0]
            seg = segment(balanced, default)
            counts.append(seg.count)
            c["with_cells"] += seg.count >= 1
            moved = {shift: balance_field(SHIFTS[shift](rgb, rng), pre)[0]
                     for shift in COLOUR_SHIFTS} if args.shifts else {}
            for name, params in variants.items():
                if name == "default":
                    mask = seg.mask > 0
                else:
                    other = segment(balanced, params)
                    other_counts[name].setdefault(cls, []).append(other.count)
                    mask = other.mask > 0
                for shift, image in moved.items():
                    shift_iou[name][shift].append(
                        mask_iou(mask, segment(image, params).mask > 0))
            scope = assess_scope(balanced, seg)
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

    for name in variants:
        if name != "default":
            for cls, values in other_counts[name].items():
                print(f"{name}: {cls:7} >=1cell {sum(v >= 1 for v in values) / len(values):.4f}  "
                      f"cells p5/25/50/75/95 {percentiles(values)}")
        if args.shifts:
            print(f"{name}: mean mask IoU, field vs shifted field (both balanced), "
                  f"{len(shift_iou[name][COLOUR_SHIFTS[0]])} fields")
            for shift in COLOUR_SHIFTS:
                values = np.array(shift_iou[name][shift])
                print(f"    {shift:16} {values.mean():.3f}  (10th percentile "
                      f"{np.percentile(values, 10):.3f})")

    field = cv2.imread(str(sorted((root / "Original" / "Pre").glob("*.jpg"))[0]))[:, :, ::-1]
    field = balance_field(np.ascontiguousarray(field), pre)[0]
    capture = cv2.resize(field, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    for label, params in (("default", default), *((("previous", PREVIOUS_DEFAULT),)
                                                  if args.previous else ())):
        for name, image, repeats in (("224x224", field, 200), ("4000x3000", capture, 5)):
            segment(image, params)
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                segment(image, params)
                runs.append(time.perf_counter() - start)
            print(f"segment() {label} {name}: median {np.median(runs) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
