"""Background swap: a field's stained cells pasted onto another smear's background.

Why. Labels are per patient, and each patient's smear has its own look (red-cell density, stain
tint, focus). A model can score well by recognising the smear rather than the blasts: with the
2.0.0 model, pasting a Pre-B field's blasts onto a Pro-B field's background turned the call into
Benign or Early, and the reverse turned 7 of 10 misread Pre-B fields into Pre-B. The context check
(model/context_check.py: ``labapp-eval --context-check``, and every export for the model card)
measures how many calls such a swap changes. (Training with the swap as an augmentation was tried
and rejected in docs/model-development.md.)

How. Each field gets a soft mask of its stained cells (the HSV boxes of model/stain_hsv.py, plus
a margin) and, when its cells cover little of the field, a background plate: the field with its
cells inpainted away. A swapped field keeps what lies inside its cell mask and takes everything
else from another field's plate.

Pure numpy + OpenCV; nothing here imports Qt or lab_app.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import cv2
import numpy as np

from .stain_hsv import PALE_PINK_NUCLEI, VIOLET_NUCLEI

REFERENCE_SIDE = 224          # the data set's field size; kernel sizes below are for it
# The cells the check keeps: the application's HSV boxes from before the stain rule (model 2.3.0;
# model/stain_hsv.py), so that the check measures the same swap in every card since 2.0.0.
STAIN_BOXES = (VIOLET_NUCLEI, PALE_PINK_NUCLEI)
MARGIN_PX = 4                 # cells keep a rim of their own surroundings
PLATE_MAX_STAIN = 0.25        # a plate only from fields whose cells cover at most this fraction


@dataclass
class ContextBank:
    alphas: np.ndarray        # uint8 N x H x W, 255 = the field's own cell pixels (soft edge)
    plates: np.ndarray        # uint8 M x H x W x 3, backgrounds with the cells inpainted away
    plate_source: np.ndarray  # int M: the store index each plate came from


def _odd(px: float) -> int:
    k = max(1, int(round(px)))
    return k if k % 2 else k + 1


def cell_mask(rgb: np.ndarray) -> np.ndarray:
    """uint8 0/255 mask of the stained cells of an RGB uint8 field, with a small margin."""
    scale = math.sqrt(rgb.shape[0] * rgb.shape[1]) / REFERENCE_SIDE
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    mask = np.zeros(rgb.shape[:2], np.uint8)
    for low, high in STAIN_BOXES:
        mask |= cv2.inRange(hsv, np.array(low, np.uint8), np.array(high, np.uint8))
    ellipse = cv2.MORPH_ELLIPSE
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(ellipse, (_odd(4 * scale),) * 2))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(ellipse, (_odd(3 * scale),) * 2))
    margin = _odd(2 * MARGIN_PX * scale)
    return cv2.dilate(mask, cv2.getStructuringElement(ellipse, (margin, margin)))


def soft_alpha(mask: np.ndarray) -> np.ndarray:
    """The mask with feathered edges, so a pasted cell shows no hard seam."""
    feather = _odd(3 * math.sqrt(mask.shape[0] * mask.shape[1]) / REFERENCE_SIDE)
    return cv2.GaussianBlur(mask, (feather, feather), 0)


def paste(rgb: np.ndarray, alpha: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """rgb where alpha is 255, the plate elsewhere (all the same height and width)."""
    a = alpha[..., None].astype(np.float32) / 255.0
    return (a * rgb + (1 - a) * plate + 0.5).astype(np.uint8)


def background_plate(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The field with its masked cells inpainted from the surrounding background."""
    wider = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return cv2.inpaint(rgb, wider, 5, cv2.INPAINT_TELEA)


def _mask_and_plate(field: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    mask = cell_mask(field)
    plate = background_plate(field, mask) if mask.mean() / 255.0 <= PLATE_MAX_STAIN else None
    return soft_alpha(mask), plate


def build_context_bank(store: np.ndarray) -> ContextBank:
    """Masks for every stored field (N x H x W x 3 uint8), plates from the sparse ones.

    OpenCV releases the GIL, so threads spread the work over the cores (about 15 ms a field
    at 314 px on one core)."""
    from concurrent.futures import ThreadPoolExecutor
    n, h, w, _ = store.shape
    alphas = np.empty((n, h, w), np.uint8)
    plates, sources = [], []
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for i, (alpha, plate) in enumerate(pool.map(_mask_and_plate, store)):
            alphas[i] = alpha
            if plate is not None:
                plates.append(plate)
                sources.append(i)
    plate_arr = np.stack(plates) if plates else np.empty((0, h, w, 3), np.uint8)
    return ContextBank(alphas, plate_arr, np.asarray(sources, np.int64))
