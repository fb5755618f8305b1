"""The per-image analysis result: one row of results.json / results.csv, one image in a case."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The flag names and labels are defined in vocabulary.py; a row's users (tests, bench, tools)
# may import the names from here too.
from .vocabulary import (ALL_FLAGS, FLAG_DAMAGED_FILE, FLAG_LOAD_ERROR,  # noqa: F401
                         FLAG_LOW_CONFIDENCE, FLAG_NO_CELLS, FLAG_OUT_OF_FOCUS, FLAG_OUT_OF_SCOPE,
                         FLAG_POOR_CAPTURE, FLAG_UNLIKE_TRAINING)


def flag_reason(flag: str, result: "ImageResult") -> str | None:
    """One sentence on why a flag was raised on this image, where the row says more than the
    flag's name; None otherwise."""
    if flag == FLAG_OUT_OF_SCOPE:
        return result.scope_reason if result.status == "ok" else None
    acq = result.acquisition or {}
    if flag == FLAG_OUT_OF_FOCUS and acq.get("sharpness") is not None:
        return (f"Too little fine detail (sharpness {acq['sharpness']:.2f}, in focus from "
                f"{acq.get('min_sharpness', 0):.2f}): refocus and capture the field again.")
    if flag == FLAG_POOR_CAPTURE and acq.get("quality"):
        from .quality import Quality
        q = acq["quality"]
        problems = Quality(q.get("blown_out", 0.0), q.get("blockiness", 1.0),
                           q.get("noise", 0.0)).problems()
        return " ".join(problems) or None
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
    """Why the colour was left as captured, when no background was found to balance it by; or
    what the exposure floor did (model/white_balance.py lift_exposure)."""
    acq = result.acquisition or {}
    balance = acq.get("white_balance") or {}
    if balance.get("fallback"):
        return f"Colour left as captured: {balance['fallback']}."
    exposure = acq.get("exposure") or {}
    if exposure.get("fallback"):
        return f"Exposure left as captured: {exposure['fallback']}."
    if exposure.get("gain"):
        return (f"Under-exposed: brightened x{exposure['gain']:.2f} to the training images' "
                "level before the model read it.")
    return None


def capture_note(result: "ImageResult") -> str | None:
    """When, with which camera and at what size a live capture was taken (camera panel), if it
    was one: the same words in the window and the report."""
    cap = (result.acquisition or {}).get("capture") or {}
    if not cap:
        return None
    when = str(cap.get("captured_at") or "")
    when = when.replace("T", " ")[:19] + (" UTC" if when.endswith("+00:00") else "")
    size = f"{cap.get('width')} × {cap.get('height')} px" if cap.get("width") else ""
    return "Captured " + " · ".join(p for p in (when.strip(), str(cap.get("camera") or ""), size) if p)


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
    # The path of the first input with the same bytes (same sha256) in the batch or the case: a
    # byte-identical file keeps its own row and says so, it is never merged away.
    duplicate_of: str | None = None
    # Not serialised: what the GUI/report may draw (cell mask, top-class activation map, the
    # report's small pictures: overlays.FieldPictures).
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    cam: np.ndarray | None = field(default=None, repr=False, compare=False)
    pictures: Any = field(default=None, repr=False, compare=False)

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
            "duplicate_of": self.duplicate_of,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ImageResult":
        keys = {k for k in cls.__dataclass_fields__ if k not in ("mask", "cam", "pictures")}
        result = cls(**{k: v for k, v in row.items() if k in keys})
        if "scope_reason" not in row and result.status == "ok" and result.error:
            # Rows written before scope_reason existed kept the scope reason in `error`.
            result.scope_reason, result.error = result.error, None
        return result
