"""Does an image look like a stained peripheral blood smear field at 100x, like the training data?

The classifier only knows bright-field fields of Wright/Giemsa-type stained smears: a bright,
nearly neutral background, pale red cells, and violet-to-pink stained nuclei. Anything else
(an ordinary photo, a blank slide, a very different stain, a greyscale image, a solid colour,
noise) gets a confident-looking but meaningless answer, so it is flagged ``out_of_scope``.

The check uses colour statistics only, each with a limit set from the data set's 2604 Original
fields (all four classes; each limit sits outside the range seen there, min..max):

- background_brightness, the 75th percentile of V: real 198..255; in scope from 170.
- saturation_p95, the 95th percentile of S: real 22..194; in scope from 16.
- smear_hue_fraction, the share of strongly coloured pixels (S >= 50) whose hue is violet,
  blue or pink (90..179 or 0..3): real 0.964..1; in scope from 0.85.
- stain_fraction, the share of pixels with stain hue 115..175 and S >= 40: real 0.012..0.397;
  in scope from 0.004.
- pale_fraction, the share of pale pixels (S < 60, V >= 150; background and red cells): real
  0.357..0.999; in scope from 0.20.

All 2604 real fields pass: 0 of 2604 wrongly flagged out of scope (measured with
``python bench/segmentation_figures.py``). The synthetic negatives in tests/unit/test_scope.py
(grey, white, black, solid colours, noise, a landscape-like gradient, a greyscale smear,
hue-rotated smears, a dark field) all fail. Large images are
measured at reduced resolution (the statistics are shares and percentiles, so scale-free).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from lab_app.core.segmentation import SegmentationResult
from model.resample import working_copy

# Limits (see the table above). Hue on OpenCV's 0..179 scale.
MIN_BACKGROUND_BRIGHTNESS = 170
MIN_SATURATION_P95 = 16
MIN_SMEAR_HUE_FRACTION = 0.85
MIN_STAIN_FRACTION = 0.004
MIN_PALE_FRACTION = 0.20

STRONG_COLOUR_SAT = 50
SMEAR_HUE_LOW, SMEAR_HUE_HIGH, SMEAR_HUE_WRAP = 90, 179, 3   # violet, blue, pink (and red-pink)
STAIN_HUE_LOW, STAIN_HUE_HIGH, STAIN_SAT = 115, 175, 40
PALE_SAT_MAX, PALE_VAL_MIN = 60, 150

# Larger images are reduced to about this many pixels first (4 x a 224 x 224 field).
WORK_MAX_PIXELS = 4 * 224 * 224


@dataclass
class ScopeAssessment:
    in_scope: bool
    reason: str | None                 # one sentence when out of scope
    background_brightness: float       # 75th percentile of V, 0..255
    saturation_p95: float              # 95th percentile of S, 0..255
    smear_hue_fraction: float          # 0..1 of strongly coloured pixels
    stain_fraction: float              # 0..1 of all pixels
    pale_fraction: float               # 0..1 of all pixels
    cell_fraction: float | None = None  # 0..1 of pixels inside segmented cells, when given

    def to_json(self) -> dict:
        return asdict(self)


def _working_copy(rgb: np.ndarray) -> np.ndarray:
    return working_copy(rgb, WORK_MAX_PIXELS)


def _percentile_hist(hist: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (linear method) of uint8 values counted in a 256-bin
    histogram: the same number, without sorting (this runs for every image of a batch)."""
    cum = np.cumsum(hist.astype(np.int64))
    pos = q / 100.0 * (int(cum[-1]) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    v_lo, v_hi = np.searchsorted(cum, [lo, hi], side="right")
    return float(v_lo + (v_hi - v_lo) * (pos - lo))


def working_hsv(rgb: np.ndarray) -> np.ndarray:
    """The HSV of the working copy the check reads; segmentation.segment takes it too, so a
    field is converted once."""
    return cv2.cvtColor(_working_copy(rgb), cv2.COLOR_RGB2HSV)


def _count(hsv: np.ndarray, low: tuple[int, int, int], high: tuple[int, int, int]) -> int:
    return cv2.countNonZero(cv2.inRange(hsv, low, high))


def measure(rgb: np.ndarray, hsv: np.ndarray | None = None) -> dict[str, float]:
    """The colour statistics the decision uses (see the module docstring). ``hsv``:
    ``working_hsv(rgb)`` when the caller already has it. Counts and histograms (OpenCV's, exact
    integers) instead of numpy masks over every pixel: the same figures, a quarter of the time."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 \
            or rgb.shape[2] != 3 or rgb.size == 0:
        raise ValueError("the scope check needs an RGB uint8 array of shape H x W x 3")
    if hsv is None:
        hsv = working_hsv(rgb)
    pixels = hsv.shape[0] * hsv.shape[1]
    sat_hist = cv2.calcHist([hsv], [1], None, [256], [0, 256]).ravel()
    strong_count = int(sat_hist[STRONG_COLOUR_SAT:].sum(dtype=np.int64))
    smear = _count(hsv, (SMEAR_HUE_LOW, STRONG_COLOUR_SAT, 0), (SMEAR_HUE_HIGH, 255, 255)) \
        + _count(hsv, (0, STRONG_COLOUR_SAT, 0), (SMEAR_HUE_WRAP, 255, 255))
    return {
        "background_brightness": _percentile_hist(
            cv2.calcHist([hsv], [2], None, [256], [0, 256]).ravel(), 75),
        "saturation_p95": _percentile_hist(sat_hist, 95),
        # No strong colour at all: nothing off-hue either; the stain check decides.
        "smear_hue_fraction": smear / strong_count if strong_count else 1.0,
        "stain_fraction": _count(hsv, (STAIN_HUE_LOW, STAIN_SAT, 0),
                                 (STAIN_HUE_HIGH, 255, 255)) / pixels,
        "pale_fraction": _count(hsv, (0, 0, PALE_VAL_MIN), (255, PALE_SAT_MAX - 1, 255)) / pixels,
    }


def _first_failure(stats: dict[str, float]) -> str | None:
    """The most telling reason first: brightness, colour, hue, stain, then composition."""
    if stats["background_brightness"] < MIN_BACKGROUND_BRIGHTNESS:
        return ("Too dark for a bright-field smear image: the background between cells should "
                "be nearly white.")
    if stats["saturation_p95"] < MIN_SATURATION_P95:
        return "The image has almost no colour (greyscale or blank); a stained smear is expected."
    if stats["smear_hue_fraction"] < MIN_SMEAR_HUE_FRACTION:
        return ("The colours are not those of the stained smears this program knows "
                "(violet nuclei, pale red cells); another stain or not a smear.")
    if stats["stain_fraction"] < MIN_STAIN_FRACTION:
        return "Almost no stained (violet or pink) material: a blank slide or an empty field?"
    if stats["pale_fraction"] < MIN_PALE_FRACTION:
        return ("Too little pale background: this does not look like a thin blood smear field "
                "(a solid colour, a close-up or another kind of image).")
    return None


def assess_scope(rgb: np.ndarray, seg: SegmentationResult | None = None,
                 hsv: np.ndarray | None = None) -> ScopeAssessment:
    """Judge whether the RGB uint8 image looks like the smear fields the model was trained on.
    ``hsv``: ``working_hsv(rgb)`` when the caller already has it."""
    stats = measure(rgb, hsv)
    reason = _first_failure(stats)
    cell_fraction = None
    if seg is not None and seg.mask.size:
        cell_fraction = float(np.count_nonzero(seg.mask) / seg.mask.size)
    return ScopeAssessment(in_scope=reason is None, reason=reason, cell_fraction=cell_fraction,
                           **stats)
