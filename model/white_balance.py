"""Colour constancy: bring each field's illuminant to the training data's background colour.

A smear field always shows some unstained background (glass and plasma between the cells), and
under the microscope lamp that background is the colour of the light itself. Another lamp, bulb,
camera white balance or exposure scales the three channels by different factors (a von Kries
gain; in gamma-encoded 8-bit RGB a channel gain stays a channel gain), which moves every stain
hue the model and the segmentation read. Estimating the background's colour and scaling each
channel so that it lands on the reference background of the training fields undoes that, and
leaves a field captured like the training data almost as it was.

The estimate: on a working copy of at most ``WORK_MAX_PIXELS``, the brightest ``BRIGHT_SHARE`` of
pixels by luminance, and their per-channel median. It is trusted when those pixels are a flat,
bright plate (the background), and not when the brightest part of the field is itself textured
or coloured matter (a field covered by cells, a dark or empty image): then the field is left as
it is ("default white point") and the reason is returned so that the row can say so.

Pure numpy + OpenCV: the clinic build (no torch) and training run the very same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Estimated on at most this many pixels (the statistics are shares and medians, scale-free).
WORK_MAX_PIXELS = 256 * 256
# The brightest share of the field taken as its background.
BRIGHT_SHARE = 0.15
# A usable background is bright enough to carry colour information ...
MIN_BACKGROUND_LEVEL = 60.0
# ... and flat: the spread (interquartile range, 8-bit levels) of its luminance stays small.
MAX_BACKGROUND_SPREAD = 24.0
# Gains beyond this factor either way are not a lamp or an exposure difference any more.
MAX_GAIN = 3.0


@dataclass(frozen=True)
class WhiteBalance:
    """What was done to one field: the per-channel gains applied, the background colour found,
    and ``fallback`` (a sentence) when no usable background was found and nothing was changed."""

    gains: tuple[float, float, float]
    background: tuple[float, float, float] | None
    fallback: str | None = None

    def to_json(self) -> dict:
        return {"gains": [round(g, 4) for g in self.gains],
                "background": None if self.background is None
                else [round(v, 1) for v in self.background],
                "fallback": self.fallback}


IDENTITY = (1.0, 1.0, 1.0)


def _working_copy(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    if height * width <= WORK_MAX_PIXELS:
        return rgb
    scale = math.sqrt(WORK_MAX_PIXELS / (height * width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def estimate_background(rgb: np.ndarray) -> tuple[tuple[float, float, float] | None, str | None]:
    """The background colour of an RGB uint8 field, or (None, why not)."""
    pixels = _working_copy(rgb).reshape(-1, 3).astype(np.float32)
    luminance = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
    cut = np.quantile(luminance, 1.0 - BRIGHT_SHARE)
    bright = pixels[luminance >= cut]
    level = float(np.median(bright @ np.array([0.299, 0.587, 0.114], np.float32)))
    if level < MIN_BACKGROUND_LEVEL:
        return None, "no bright background to take the lamp colour from (the field is too dark)"
    q25, q75 = np.quantile(luminance[luminance >= cut], [0.25, 0.75])
    if q75 - q25 > MAX_BACKGROUND_SPREAD:
        return None, "no even background to take the lamp colour from (covered by cells?)"
    colour = np.median(bright, axis=0)
    if float(colour.min()) < MIN_BACKGROUND_LEVEL / 2:
        return None, "the background has almost none of one colour; the lamp colour is unclear"
    return (float(colour[0]), float(colour[1]), float(colour[2])), None


def measure(rgb: np.ndarray, reference: tuple[float, float, float]) -> WhiteBalance:
    """The gains that bring this field's background to ``reference`` (8-bit RGB)."""
    background, why_not = estimate_background(rgb)
    if background is None:
        return WhiteBalance(IDENTITY, None, why_not)
    gains = tuple(float(r) / max(b, 1.0) for r, b in zip(reference, background))
    if max(gains) > MAX_GAIN or min(gains) < 1.0 / MAX_GAIN:
        return WhiteBalance(IDENTITY, background,
                            "the background colour is too far from a microscope lamp's to correct")
    return WhiteBalance(gains, background, None)  # type: ignore[arg-type]


def apply(rgb: np.ndarray, balance: WhiteBalance) -> np.ndarray:
    """The field with the gains applied (uint8, clipped), through a per-channel lookup table."""
    if balance.gains == IDENTITY:
        return rgb
    levels = np.arange(256, dtype=np.float32)
    table = np.stack([np.clip(np.rint(levels * g), 0, 255) for g in balance.gains], axis=1)
    return cv2.LUT(np.ascontiguousarray(rgb), table.astype(np.uint8).reshape(256, 1, 3))


def balance(rgb: np.ndarray, reference: tuple[float, float, float]) -> tuple[np.ndarray, WhiteBalance]:
    """Measure and apply in one step: (balanced field, what was done)."""
    wb = measure(rgb, reference)
    return apply(rgb, wb), wb
