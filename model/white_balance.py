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

from dataclasses import dataclass

import cv2
import numpy as np

from .resample import working_copy

# Estimated on at most this many pixels (the statistics are shares and medians, scale-free).
WORK_MAX_PIXELS = 128 * 128
# The brightest share of the field taken as its background.
BRIGHT_SHARE = 0.15
# A usable background is bright enough to carry colour information ...
MIN_BACKGROUND_LEVEL = 60.0
# ... and flat: the spread (interquartile range, 8-bit levels) of its luminance stays small.
MAX_BACKGROUND_SPREAD = 24.0
# Gains beyond this factor either way are not a lamp or an exposure difference any more.
MAX_GAIN = 3.0
# An under-exposed field is lifted by at most this gain (exposure x0.55 of a typical background
# to the data set's darkest); darker ones are too coarsely quantised to read and stay flagged.
MAX_EXPOSURE_GAIN = 1.8


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
# The median background of the data set's 2604 Original fields (the estimate below): what the
# segmentation and the scope check balance to when the model itself reads colours as captured.
DATA_SET_BACKGROUND = (249.0, 254.0, 251.0)


# How a background colour is compared with the training fields' (model.json "background_range").
BACKGROUND_STATS = ("level", "red_minus_blue", "green_minus_red_blue")


def background_stats(background: tuple[float, float, float]) -> tuple[float, float, float]:
    """Level (mean of R, G, B), red minus blue (warm or cool lamp) and green minus the mean of red
    and blue (green or magenta cast) of a background colour."""
    r, g, b = background
    return (r + g + b) / 3.0, r - b, g - (r + b) / 2.0


def _working_copy(rgb: np.ndarray) -> np.ndarray:
    return working_copy(rgb, WORK_MAX_PIXELS)


def _median_level(hist: np.ndarray) -> float:
    """The median of 8-bit values given as a 256-bin histogram."""
    cum = np.cumsum(hist)
    return float(np.searchsorted(cum, cum[-1] / 2.0))


def estimate_background(rgb: np.ndarray) -> tuple[tuple[float, float, float] | None, str | None]:
    """The background colour of an RGB uint8 field, or (None, why not).

    Histograms rather than sorting: this runs on every field of a batch."""
    work = np.ascontiguousarray(_working_copy(rgb))
    luminance = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    hist = np.bincount(luminance.ravel(), minlength=256)
    cum = np.cumsum(hist)
    # The lowest level at which at most BRIGHT_SHARE of the pixels lie above it.
    cut = int(np.searchsorted(cum, (1.0 - BRIGHT_SHARE) * cum[-1], side="left"))
    bright_hist = hist.copy()
    bright_hist[:cut] = 0
    bright_cum = np.cumsum(bright_hist)
    total = bright_cum[-1]
    q25, q50, q75 = (float(np.searchsorted(bright_cum, f * total)) for f in (0.25, 0.5, 0.75))
    if q50 < MIN_BACKGROUND_LEVEL:
        return None, "no bright background to take the lamp colour from (the field is too dark)"
    if q75 - q25 > MAX_BACKGROUND_SPREAD:
        return None, "no even background to take the lamp colour from (covered by cells?)"
    bright = luminance >= cut
    colour = [_median_level(np.bincount(work[:, :, c][bright], minlength=256)) for c in range(3)]
    if min(colour) < MIN_BACKGROUND_LEVEL / 2:
        return None, "the background has almost none of one colour; the lamp colour is unclear"
    return (colour[0], colour[1], colour[2]), None


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


def lift_exposure(rgb: np.ndarray, floor: float,
                  background: tuple[float, float, float] | None = None,
                  ) -> tuple[np.ndarray, WhiteBalance]:
    """For a model that reads colours as captured: a field whose background is darker than the
    darkest training background (``floor``, its level) is brought up to it by one gain on all
    three channels, and left as it is otherwise.

    An exposure change is one gain on every channel, so this undoes it up to rounding without
    touching the lamp's tint, which such a model reads as it was captured. Lifting only to the
    floor leaves every field exposed like the training data exactly as it was. ``background``:
    the field's background when already estimated (``estimate_background``)."""
    if background is None:
        background, why_not = estimate_background(rgb)
        if background is None:
            return rgb, WhiteBalance(IDENTITY, None, why_not)
    level = background_stats(background)[0]
    gain = floor / max(level, 1.0)
    if gain <= 1.0:
        return rgb, WhiteBalance(IDENTITY, background)
    if gain > MAX_EXPOSURE_GAIN:
        return rgb, WhiteBalance(IDENTITY, background,
                                 "the field is too dark to correct; capture it with more light")
    lifted = WhiteBalance((gain, gain, gain), background)
    return apply(rgb, lifted), lifted


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
