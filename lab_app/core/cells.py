"""The cells of a field as the analysis segmented them, and their crops for the cell gallery.

The analysis segments a colour-balanced field (pipeline.prepare_field); the viewer and the
gallery must show the same cells with the same numbers, so they segment through
:func:`segment_like_analysis` too. The ``dataset`` preset reads the colours as captured, as in
the analysis.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from model import white_balance

from .segmentation import SegmentationParams, SegmentationResult, segment, stored_params

CROP_PX = 88          # gallery tile: the cell centred, with some of its surroundings
CROP_MARGIN = 0.35    # extra context around the cell's box, as a fraction of its larger side


@dataclass
class CellCrop:
    path: str                 # the field's file
    cell: int                 # the cell's number in the field (as the outlines are numbered)
    area: int                 # pixels in the field
    hue: float                # mean hue of the cell's pixels (OpenCV scale 0..179): stain colour
    bbox: tuple[int, int, int, int]
    crop: np.ndarray          # CROP_PX x CROP_PX x 3 RGB uint8


def balanced_for_segmentation(rgb: np.ndarray) -> tuple[np.ndarray, white_balance.WhiteBalance]:
    """The field balanced to the data set's background: what the stain rule and the scope check
    were written for, whichever colours the model reads (as captured, or balanced to a
    reference of its own). The analysis, the viewer and the gallery all segment this."""
    return white_balance.balance(rgb, white_balance.DATA_SET_BACKGROUND)


def segment_like_analysis(rgb: np.ndarray, params: SegmentationParams) -> SegmentationResult:
    """Segment ``rgb`` as the analysis does: on the colour-balanced field (``dataset`` preset:
    as captured)."""
    if params.preset == "dataset":
        return segment(rgb, params)
    return segment(balanced_for_segmentation(rgb)[0], params)


def _square_crop(rgb: np.ndarray, bbox: tuple[int, int, int, int], size: int) -> np.ndarray:
    x, y, w, h = bbox
    side = int(max(w, h) * (1 + 2 * CROP_MARGIN)) + 2
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    H, W = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - W, y0 + side - H)
    src = rgb
    if pad:   # a cell at the edge: pad with white, like the glass around it
        src = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        x0, y0 = x0 + pad, y0 + pad
    piece = src[y0:y0 + side, x0:x0 + side]
    return cv2.resize(piece, (size, size), interpolation=cv2.INTER_AREA)


def field_cells(path: str | os.PathLike[str], rgb: np.ndarray, params: SegmentationParams,
                size: int = CROP_PX) -> list[CellCrop]:
    """Every segmented cell of one field as a crop, with its size and stain colour."""
    seg = segment_like_analysis(rgb, params)
    hue = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 0]
    crops = []
    for cell in seg.cells:
        x, y, w, h = cell.bbox
        mask = np.zeros((h, w), np.uint8)
        cv2.drawContours(mask, [cell.contour - np.array([x, y], np.int32)], -1, 255, -1)
        inside = hue[y:y + h, x:x + w][mask > 0]
        crops.append(CellCrop(str(path), cell.label, int(cell.area),
                              float(inside.mean()) if inside.size else 0.0, cell.bbox,
                              _square_crop(rgb, cell.bbox, size)))
    return crops


def params_for(result: Any) -> SegmentationParams:
    """The segmentation an image was analysed with (its row's parameters), else the default."""
    return stored_params(getattr(result, "segmentation", None))
