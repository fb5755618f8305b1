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
ALL_FLAGS = (FLAG_LOW_CONFIDENCE, FLAG_NO_CELLS, FLAG_OUT_OF_SCOPE, FLAG_LOAD_ERROR, FLAG_DAMAGED_FILE)


@dataclass
class ImageResult:
    path: str
    status: str = "ok"                       # "ok" | "error"
    error: str | None = None                 # one-line reason when status == "error"
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
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ImageResult":
        keys = {k for k in cls.__dataclass_fields__ if k not in ("mask", "cam")}
        return cls(**{k: v for k, v in row.items() if k in keys})
