"""Is the field in focus? A contrast-free sharpness measure on the field the model sees.

A defocused field keeps its colours, so neither the scope check nor the classifier's confidence
notices it, yet the chromatin and nuclear outlines the call rests on are gone. The measure
compares the field's edge energy with that of the same field blurred once more (Gaussian, sigma
``PROBE_SIGMA`` px): a sharp field loses most of its fine edges to that blur, an already blurred
field loses little. ``sharpness = 1 - E|grad(blurred)|^2 / E|grad(field)|^2`` is thus 0..1 and
independent of contrast, exposure and stain strength.

It is measured on the grey field at the model's input size (224 x 224 for the bundled model), so
a capture that is sharp at camera resolution but blurred where the model reads it is caught too.
A field with almost no edges at all (a blank slide) has no focus to judge; it reads 1.0 and the
scope check deals with it.

``MIN_SHARPNESS`` was set on every fourth of the data set's Original fields (651; the figures
are in docs/robustness.md): real fields read 0.21..0.72 (1st percentile 0.24), the same fields
blurred with sigma 3 px 0.05..0.10, with sigma 2 px 0.08..0.19, with sigma 1.2 px 0.12..0.37.
"""

from __future__ import annotations

import cv2
import numpy as np

PROBE_SIGMA = 1.0
MIN_SHARPNESS = 0.15
# Mean squared gradient (8-bit levels per pixel, squared) below which a field has no structure.
MIN_EDGE_ENERGY = 4.0


def _edge_energy(grey: np.ndarray) -> float:
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    # Sobel's 3x3 kernel weighs the gradient by 4 (per axis); scale back to levels per pixel.
    return float(np.mean(gx * gx + gy * gy)) / 16.0


def sharpness(field_rgb: np.ndarray) -> float:
    """0 (no fine detail left) .. 1 (all detail is fine detail); see the module docstring."""
    grey = cv2.cvtColor(field_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    energy = _edge_energy(grey)
    if energy < MIN_EDGE_ENERGY:
        return 1.0
    blurred = cv2.GaussianBlur(grey, (0, 0), sigmaX=PROBE_SIGMA, sigmaY=PROBE_SIGMA,
                               borderType=cv2.BORDER_REFLECT)
    return float(np.clip(1.0 - _edge_energy(blurred) / energy, 0.0, 1.0))


def in_focus(value: float) -> bool:
    return value >= MIN_SHARPNESS
