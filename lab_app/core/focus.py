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

from dataclasses import dataclass

import cv2
import numpy as np

PROBE_SIGMA = 1.0
MIN_SHARPNESS = 0.15
# Mean squared gradient (8-bit levels per pixel, squared) below which a field has no structure.
MIN_EDGE_ENERGY = 4.0


@dataclass(frozen=True)
class GreyField:
    """A field's grey levels and squared Sobel gradient (gx^2 + gy^2, 3 x 3, float32): what the
    focus and the capture-quality measures both read, made once when they read the same field."""

    grey_u8: np.ndarray
    grey: np.ndarray
    gradient2: np.ndarray


def _gradient2(grey: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    gx *= gx      # in place: the same sums as gx * gx + gy * gy, without two new arrays
    gy *= gy
    gx += gy
    return gx


def grey_field(field_rgb: np.ndarray) -> GreyField:
    grey_u8 = cv2.cvtColor(field_rgb, cv2.COLOR_RGB2GRAY)
    grey = grey_u8.astype(np.float32)
    return GreyField(grey_u8, grey, _gradient2(grey))


def _edge_energy(gradient2: np.ndarray) -> float:
    # Sobel's 3x3 kernel weighs the gradient by 4 (per axis); scale back to levels per pixel.
    return float(np.mean(gradient2)) / 16.0


def sharpness(field_rgb: np.ndarray, grey: GreyField | None = None) -> float:
    """0 (no fine detail left) .. 1 (all detail is fine detail); see the module docstring.
    ``grey``: ``grey_field(field_rgb)`` when the caller already has it."""
    if grey is None:
        grey = grey_field(field_rgb)
    energy = _edge_energy(grey.gradient2)
    if energy < MIN_EDGE_ENERGY:
        return 1.0
    blurred = cv2.GaussianBlur(grey.grey, (0, 0), sigmaX=PROBE_SIGMA, sigmaY=PROBE_SIGMA,
                               borderType=cv2.BORDER_REFLECT)
    return float(np.clip(1.0 - _edge_energy(_gradient2(blurred)) / energy, 0.0, 1.0))


def in_focus(value: float) -> bool:
    return value >= MIN_SHARPNESS
