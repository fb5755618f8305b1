"""The per-image analysis result: one row of results.json / results.csv, one image in a case."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Flag names shared by the CLI, the GUI, the case store and the report.
FLAG_LOW_CONFIDENCE = "low_confidence"
FLAG_NO_CELLS = "no_cells"
FLAG_OUT_OF_SCOPE = "out_of_scope"
FLAG_LOAD_ERROR = "load_error"
FLAG_DAMAGED_FILE = "damaged_file"   # a cut-short file that loaded with its missing part grey
FLAG_OUT_OF_FOCUS = "out_of_focus"   # too little fine detail left for a call (core/focus.py)
FLAG_UNLIKE_TRAINING = "unlike_training"  # far from every training field in feature space (model/ood.py)
ALL_FLAGS = (FLAG_LOW_CONFIDENCE, FLAG_NO_CELLS, FLAG_OUT_OF_SCOPE, FLAG_LOAD_ERROR, FLAG_DAMAGED_FILE,
             FLAG_OUT_OF_FOCUS, FLAG_UNLIKE_TRAINING)

# What the window and the report call each flag (one wording everywhere).
FLAG_LABELS = {FLAG_LOW_CONFIDENCE: "Low confidence", FLAG_NO_CELLS: "No cells found",
               FLAG_OUT_OF_SCOPE: "Out of scope", FLAG_LOAD_ERROR: "Load error",
               FLAG_DAMAGED_FILE: "Damaged file (missing part shown grey)",
               FLAG_OUT_OF_FOCUS: "Out of focus",
               FLAG_UNLIKE_TRAINING: "Unlike the training images"}


def flag_label(flag: str) -> str:
    return FLAG_LABELS.get(flag, flag.replace("_", " ").capitalize())


def flag_reason(flag: str, result: "ImageResult") -> str | None:
    """One sentence on why a flag was raised on this image, where the row says more than the
    flag's name; None otherwise."""
    if flag == FLAG_OUT_OF_SCOPE:
        return result.scope_reason if result.status == "ok" else None
    acq = result.acquisition or {}
    if flag == FLAG_OUT_OF_FOCUS and acq.get("sharpness") is not None:
        return (f"Too little fine detail (sharpness {acq['sharpness']:.2f}, in focus from "
                f"{acq.get('min_sharpness', 0):.2f}): refocus and capture the field again.")
    if flag == FLAG_UNLIKE_TRAINING and acq.get("background_range"):
        seen = (acq.get("white_balance") or {}).get("background") or []
        return (f"The background's colour (RGB {', '.join(f'{v:.0f}' for v in seen)}) is unlike "
                "that of every training image: another lamp, filter, exposure or camera white "
                "balance, which changes the model's calls. Set the camera like the lab's "
                "reference, or check the call by eye.")
    if flag == FLAG_UNLIKE_TRAINING and acq.get("feature_distance") is not None:
        return (f"The field looks unlike the images the model learned from (distance "
                f"{acq['feature_distance']:.2f}, limit {acq.get('max_feature_distance') or 0:.2f}): "
                "another stain, lamp, camera or magnification? Check the call by eye.")
    return None


def white_balance_note(result: "ImageResult") -> str | None:
    """Why the colour was left as captured, when no background was found to balance it by."""
    balance = (result.acquisition or {}).get("white_balance") or {}
    if balance.get("fallback"):
        return f"Colour left as captured: {balance['fallback']}."
    return None


@dataclass
class ImageResult:
    path: str
    status: str = "ok"                       # "ok" | "error"
    error: str | None = None                 # one-line reason when status == "error", else None
    prediction: str | None = None            # class id (Benign/Early/Pre/Pro); None if no call
    confidence: float | None = None          # calibrated probability of the prediction
    probabilities: dict[str, float] = field(default_factory=dict)
    cells: int | None = None
    flags: list[str] = field(default_factory=list)
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    segmentation: dict[str, Any] = field(default_factory=dict)  # parameters used
    model: dict[str, Any] = field(default_factory=dict)         # name, version, sha256
    device: str | None = None
    analysed_at: str | None = None           # ISO 8601 UTC
    # How the field was captured, as measured: white_balance (gains, background, fallback),
    # sharpness (core/focus.py), feature_distance (model/ood.py) and their limits.
    acquisition: dict[str, Any] = field(default_factory=dict)
    # Why the scope check put an analysed image out of scope (out_of_scope flag), else None.
    scope_reason: str | None = None
    # Not serialised: small arrays the GUI/report may draw (cell mask, activation map).
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    cam: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def needs_review(self) -> bool:
        return self.status != "ok" or bool(self.flags)

    def to_row(self) -> dict[str, Any]:
        """The results.json contract (ARCHITECTURE.md) plus provenance fields."""
        return {
            "path": self.path, "status": self.status, "error": self.error,
            "prediction": self.prediction, "confidence": self.confidence,
            "probabilities": dict(self.probabilities), "cells": self.cells,
            "flags": list(self.flags), "sha256": self.sha256, "width": self.width,
            "height": self.height, "segmentation": dict(self.segmentation),
            "model": dict(self.model), "device": self.device, "analysed_at": self.analysed_at,
            "acquisition": dict(self.acquisition), "scope_reason": self.scope_reason,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ImageResult":
        keys = {k for k in cls.__dataclass_fields__ if k not in ("mask", "cam")}
        result = cls(**{k: v for k, v in row.items() if k in keys})
        if "scope_reason" not in row and result.status == "ok" and result.error:
            # Rows written before scope_reason existed kept the scope reason in `error`.
            result.scope_reason, result.error = result.error, None
        return result
