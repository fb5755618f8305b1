"""Colour segmentation of stained cells in a blood smear field.

Pipeline: colour rule -> morphological opening (removes specks and the thin rims of red cells)
-> closing (bridges small gaps inside a nucleus) -> hole filling -> connected components -> cells,
each with a bounding box, area, centroid and outline.

Two colour rules (``SegmentationParams.method``):

- ``"stain"`` (the ``default`` preset): each pixel's optical density (OD = -log10 of the light it
  passes) is split into its strength and its direction in the plane perpendicular to grey (the
  "stain direction", an angle: violet nuclei about 240-265 degrees, deep-blue lymphocyte nuclei
  265-280, the field's red cells 275-310, pale pink Pro-B nuclei 215-245). A stronger or paler
  stain scales the OD and leaves the direction as it is; another stain hue rotates every direction
  alike. So the red cells' direction is measured in each field (``red_cell_reference``) and a
  pixel is nucleus stain when its direction lies at least ``red_cell_margin`` degrees on the
  violet side of it. Pixels far more strongly coloured than the field's red cells
  (``VIVID_RATIO``) need less margin, up to the fixed ``VIVID_LIMIT``: a red cell is never that
  vivid, and a direction read on a strong colour is not bent by a slight lamp tint, which turns
  the pale red cells' direction far more than the nuclei's. Pixels weaker than
  ``min_stain_density``, or whose colour lies within ``STAIN_NOISE`` of the red cells' direction
  line, are background; a patch without a clearly nucleus-coloured core pixel
  (``CORE_DISTANCE``, ``CORE_RATIO``) is a tinted red cell and dropped. The HSV box
  (hue_min..val_max) then limits the result (the default box is wide and removes nothing the rule
  keeps), and ``extra_ranges`` are added.
- ``"hsv"`` (the ``dataset`` preset): a pixel is stain when it falls in the HSV box or in any of
  ``extra_ranges``; nothing else is measured.

Scale. The data set's fields are 224 x 224 pixels at 100x. Every size rule below (kernel sizes,
areas) is written for such a 224 x 224 field and scaled with the image: lengths by
sqrt(image_area / 224^2), areas by image_area / 224^2. A camera capture of the same field at
4000 x 3000 is therefore segmented the same way as the 224 x 224 version of it. Images larger
than ``WORK_MAX_PIXELS`` are segmented at a reduced working resolution (the colour rule does not
need camera resolution) and the mask, boxes, areas, centroids and outlines are scaled back to the
input size. The stain rule's field statistics are shares and percentiles, so scale-free.

Rules for what counts as a cell (all at the 224 x 224 reference scale):
- a component smaller than ``min_cell_area`` is a speck (stain precipitate, platelet, noise);
- a component touching the field edge is a cut-off fragment, dropped when its area is below
  ``border_fragment_fraction`` x ``TYPICAL_CELL_AREA`` (a cell mostly outside the field).

Presets: ``default`` and ``dataset``; see ``preset()`` and docs/segmentation.md for how they were
chosen and the figures measured on the ALL (Taleqani) data set.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import cv2
import numpy as np

from lab_app.core.errors import SegmentationError
from model import stain_hsv

# The data set's field size; size rules in SegmentationParams are written for it.
REFERENCE_SIDE = 224
REFERENCE_AREA = REFERENCE_SIDE * REFERENCE_SIDE
# Area of a typical nucleus in a 224 x 224 field at 100x (the median cell area found by the
# default preset over the data set's Original images is about 430 px).
TYPICAL_CELL_AREA = 450
# Above this many pixels an image is segmented at reduced resolution (about 1000 x 1000).
WORK_MAX_PIXELS = 1_000_000

HUE_LIMIT = 179      # OpenCV 8-bit hue runs 0..179 (degrees / 2)
CHANNEL_LIMIT = 255

# Colour rules: "stain" (stain direction relative to the field's red cells) and "hsv" (HSV box).
METHODS = ("stain", "hsv")

# --- the stain rule's fixed constants (docs/segmentation.md, "`default`: the stain rule") ---
# Pixels that vote for the red cells' direction: OD summed over R, G, B at least this much, a
# stain direction at least this strong (OD), within this span of directions (degrees).
STAINED_OD = 0.1
STAINED_CHROMA = 0.03
STAINED_SPAN = (230.0, 330.0)
# The red cells' direction, in two steps: a first estimate, this percentile of the voters'
# directions (red cells outnumber nuclei in most fields and lie on the high side); then the
# median direction of the voters left after removing those more than RED_CELL_EXCLUDE degrees
# below the first estimate (the nuclei of a crowded field would otherwise pull it down). Kept
# within RED_CELL_RANGE; a field with fewer than MIN_VOTERS voters (per 224 x 224) takes
# RED_CELL_DEFAULT.
RED_CELL_PERCENTILE = 60.0
RED_CELL_EXCLUDE = 22.0
RED_CELL_RANGE = (240.0, 320.0)
RED_CELL_DEFAULT = 292.0
MIN_VOTERS = 1500
# The red cells' colour strength: this percentile of the voters' strengths (red cells are the
# many weakly coloured ones; nuclei, fewer, are stronger), never below MIN_RED_CELL_CHROMA.
RED_CELL_STRENGTH_PERCENTILE = 40.0
MIN_RED_CELL_CHROMA = 0.03
# Vivid pixels: strength / red-cell strength from VIVID_RATIO[0] (the red-cell margin applies) to
# VIVID_RATIO[1] (the fixed VIVID_LIMIT applies), blended in between.
VIVID_RATIO = (1.3, 3.2)
VIVID_LIMIT = 282.0
# Pink side: directions more than PINK_SPAN degrees below the red cells' (or the default, if
# lower) are red-pink, not nucleus stain.
PINK_SPAN = 92.0
# A faint pixel's direction is only trusted when its colour lies at least STAIN_NOISE (OD) away
# from the red cells' direction line: on a weak colour the direction is mostly camera noise.
STAIN_NOISE = 0.025
# A patch of stain-coloured pixels is kept only when it holds a core pixel: at least CORE_DISTANCE
# (OD) from the red cells' direction line, or CORE_RATIO times as strongly coloured as the red
# cells. Rims and tinted parts of red cells have no core.
CORE_DISTANCE = 0.05
CORE_RATIO = 2.0

_HALF_SQRT3 = np.float32(math.sqrt(3.0) / 2.0)
# OD of each 8-bit level, relative to full white: log10(256 / (level + 1)).
_OD_TABLE = (np.log10(256.0) - np.log10(np.arange(256, dtype=np.float64) + 1.0)).astype(
    np.float32)


@dataclass(frozen=True)
class HsvRange:
    """One colour box on OpenCV's HSV scale (hue 0..179, saturation and value 0..255).
    hue_min > hue_max wraps around red (e.g. 170..10)."""

    hue_min: int
    hue_max: int
    sat_min: int = 0
    sat_max: int = 255
    val_min: int = 0
    val_max: int = 255

    @classmethod
    def from_box(cls, box: tuple[tuple[int, int, int], tuple[int, int, int]]) -> "HsvRange":
        """From ((hue, saturation, value) low, (hue, saturation, value) high), as model/stain_hsv.py
        writes its boxes."""
        (h0, s0, v0), (h1, s1, v1) = box
        return cls(h0, h1, s0, s1, v0, v1)

    @property
    def hue_wraps(self) -> bool:
        return self.hue_min > self.hue_max

    def validate(self, prefix: str = "") -> "HsvRange":
        """Raise SegmentationError naming the bad limit; prefix says which range it is."""
        def label(text: str) -> str:
            full = prefix + text
            return full[0].upper() + full[1:]

        _check_range(label("hue minimum"), self.hue_min, 0, HUE_LIMIT)
        _check_range(label("hue maximum"), self.hue_max, 0, HUE_LIMIT)
        for channel, low, high in (("saturation", self.sat_min, self.sat_max),
                                   ("brightness", self.val_min, self.val_max)):
            _check_range(label(f"{channel} minimum"), low, 0, CHANNEL_LIMIT)
            _check_range(label(f"{channel} maximum"), high, 0, CHANNEL_LIMIT)
            if low > high:
                raise SegmentationError(f"{label(channel + ' minimum')} ({low}) must not be "
                                        f"above the maximum ({high}).")
        return self

    def mask(self, hsv: np.ndarray) -> np.ndarray:
        low_sv, high_sv = (self.sat_min, self.val_min), (self.sat_max, self.val_max)
        if not self.hue_wraps:
            return cv2.inRange(hsv, (self.hue_min, *low_sv), (self.hue_max, *high_sv))
        upper = cv2.inRange(hsv, (self.hue_min, *low_sv), (HUE_LIMIT, *high_sv))
        lower = cv2.inRange(hsv, (0, *low_sv), (self.hue_max, *high_sv))
        return cv2.bitwise_or(upper, lower)


# The pale pink nuclei of some Pro-B fields for the HSV rule: saturation only 30..50, but paler
# (V >= 245) than the pinkish red cells of some Benign fields, which stay below 240. (The stain
# rule finds them by their direction; the default preset no longer needs this range.) One
# definition with the context check's cell mask: model/stain_hsv.py.
PALE_PINK_NUCLEI = HsvRange.from_box(stain_hsv.PALE_PINK_NUCLEI)


@dataclass(frozen=True)
class SegmentationParams:
    """Colour rule and clean-up rules; the defaults are the ``default`` preset.

    ``method`` "stain": a pixel is stain when the stain rule keeps it and it lies in the HSV box
    (hue_min..val_max), or when it falls in any of ``extra_ranges``. ``method`` "hsv": when it falls
    in the HSV box or in any of ``extra_ranges``. Sizes are for a 224 x 224 field (see the module
    docstring)."""

    preset: str = "default"
    method: str = "stain"
    hue_min: int = 100
    hue_max: int = 175
    sat_min: int = 12
    sat_max: int = 255
    val_min: int = 0
    val_max: int = 255
    extra_ranges: tuple[HsvRange, ...] = ()
    red_cell_margin: float = 18.0     # degrees of stain direction (stain rule only)
    min_stain_density: float = 0.04   # OD of the stain direction (stain rule only)
    open_kernel: int = 4          # px; 0 or 1 = no opening
    close_kernel: int = 3         # px; 0 or 1 = no closing
    fill_holes: bool = True
    min_cell_area: int = 60       # px; smaller components are specks
    border_fragment_fraction: float = 0.2

    @property
    def main_range(self) -> HsvRange:
        return HsvRange(self.hue_min, self.hue_max, self.sat_min, self.sat_max,
                        self.val_min, self.val_max)

    @property
    def ranges(self) -> tuple[HsvRange, ...]:
        return (self.main_range, *self.extra_ranges)

    @property
    def hue_wraps(self) -> bool:
        return self.hue_min > self.hue_max

    def validate(self) -> "SegmentationParams":
        """Raise SegmentationError with a sentence naming the bad setting; return self."""
        if not isinstance(self.preset, str) or not self.preset.strip():
            raise SegmentationError("Segmentation preset name must not be empty.")
        if self.method not in METHODS:
            raise SegmentationError(
                f"Colour rule must be one of: {', '.join(METHODS)} (got {self.method!r}).")
        self.main_range.validate()
        if not isinstance(self.extra_ranges, tuple) or \
                not all(isinstance(r, HsvRange) for r in self.extra_ranges):
            raise SegmentationError("Extra colour ranges must be a list of HSV ranges.")
        for number, extra in enumerate(self.extra_ranges, start=1):
            extra.validate(f"Extra colour range {number}: ")
        _check_range("Opening kernel size", self.open_kernel, 0, 51)
        _check_range("Closing kernel size", self.close_kernel, 0, 51)
        _check_number("Red cell margin", self.red_cell_margin, 0.0, 90.0, " degrees")
        _check_number("Minimum stain density", self.min_stain_density, 0.0, 1.0)
        _check_range("Minimum cell area", self.min_cell_area, 0, REFERENCE_AREA)
        if not isinstance(self.fill_holes, bool):
            raise SegmentationError("Fill holes must be true or false.")
        fraction = self.border_fragment_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not 0.0 <= fraction <= 1.0:
            raise SegmentationError("Edge fragment fraction must be between 0 and 1.")
        return self

    def to_json(self) -> dict[str, Any]:
        # Field by field: asdict's deep copy cost more than segmenting a row's worth of
        # settings (every result row carries them); the values are immutable.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["extra_ranges"] = [asdict(r) for r in self.extra_ranges]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SegmentationParams":
        """Build from a dict (settings file, results.json). Missing keys take the values of the
        named preset; unknown keys or wrong types raise SegmentationError. Settings written before
        the stain rule existed list an HSV box but no ``method``: they keep the HSV rule they were
        made with."""
        if not isinstance(data, dict):
            raise SegmentationError("Segmentation settings must be a set of named values.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SegmentationError(f"Unknown segmentation setting: {', '.join(unknown)}.")
        name = data.get("preset", "default")
        base = preset(name) if name in PRESET_NAMES else cls(preset=str(name))
        values: dict[str, Any] = {}
        if "method" not in data and "hue_min" in data:
            values["method"] = "hsv"
        for key, raw in data.items():
            if key == "extra_ranges":
                values[key] = _ranges_from_json(raw)
            else:
                values[key] = _coerce(key, raw, type(getattr(base, key)))
        return replace(base, **values).validate()


def _ranges_from_json(raw: Any) -> tuple[HsvRange, ...]:
    if not isinstance(raw, (list, tuple)):
        raise SegmentationError("Extra colour ranges must be a list of HSV ranges.")
    names = {f.name for f in fields(HsvRange)}
    ranges = []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not {"hue_min", "hue_max"} <= set(item) \
                or not set(item) <= names:
            raise SegmentationError(
                f"Extra colour range {number} needs hue_min and hue_max and only HSV limits.")
        ranges.append(HsvRange(**{k: _coerce(k, v, int) for k, v in item.items()}))
    return tuple(ranges)


def _check_range(label: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SegmentationError(f"{label} must be a whole number.")
    if not low <= value <= high:
        raise SegmentationError(f"{label} must be between {low} and {high}.")


def _check_number(label: str, value: Any, low: float, high: float, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise SegmentationError(f"{label} must be a number.")
    if not low <= value <= high:
        raise SegmentationError(f"{label} must be between {low:g} and {high:g}{unit}.")


def _coerce(key: str, raw: Any, kind: type) -> Any:
    """JSON gives ints for floats and vice versa; accept exact equivalents, refuse the rest."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
    elif kind is int:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and float(raw).is_integer():
            return int(raw)
    elif kind is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
    elif kind is str:
        if isinstance(raw, str):
            return raw
    raise SegmentationError(f"Segmentation setting '{key}' has a value of the wrong kind: {raw!r}.")


# Presets. How the numbers were chosen, and what they achieve, is in docs/segmentation.md.
_PRESETS: dict[str, SegmentationParams] = {
    # Stained nuclei on every stain of the data set, and on the same fields under another lamp,
    # exposure, stain strength or stain hue: the stain rule (violet, deep-blue and pale pink
    # nuclei, measured against the field's own red cells) inside a wide HSV box (hue 100..175,
    # S >= 12) that removes nothing the rule keeps.
    "default": SegmentationParams(),
    # The data set authors' threshold. Their code converted a BGR-loaded image with the RGB->HSV
    # code and kept hue 168..182, S >= 50, V >= 50; in correct HSV terms that is hue 121..132
    # (OpenCV hue stops at 179, so 180..182 selects nothing). Reproduces their pixels to 99.98%.
    # Clean-up kept minimal: only specks are dropped when counting cells.
    "dataset": SegmentationParams(
        preset="dataset", method="hsv", hue_min=121, hue_max=132, sat_min=50, sat_max=255,
        val_min=50, val_max=255, extra_ranges=(), open_kernel=0, close_kernel=0, fill_holes=False,
        min_cell_area=30, border_fragment_fraction=0.0),
}
PRESET_NAMES = tuple(_PRESETS)


def preset(name: str) -> SegmentationParams:
    """The named preset ('default' or 'dataset')."""
    try:
        return _PRESETS[name]
    except KeyError:
        raise SegmentationError(
            f"Unknown segmentation preset '{name}'; choose one of: {', '.join(PRESET_NAMES)}."
        ) from None


def stored_params(stored: dict | None) -> SegmentationParams:
    """The parameters an image was analysed with (its row's ``segmentation``, or saved window
    settings); the ``default`` preset when there are none or they cannot be read (a row from
    another version), so a redraw or a preview never fails on them."""
    if not stored:
        return preset("default")
    try:
        return SegmentationParams.from_json(stored)
    except (SegmentationError, KeyError, TypeError, ValueError):
        return preset("default")


@dataclass
class Cell:
    """One segmented cell, in input-image pixel coordinates."""

    label: int                              # 1..n in reading order
    bbox: tuple[int, int, int, int]         # x, y, width, height
    area: int                               # pixels
    centroid: tuple[float, float]           # x, y
    contour: np.ndarray                     # N x 2 int32 outline points (x, y)


@dataclass
class SegmentationResult:
    mask: np.ndarray                        # uint8 0/255, input size: the kept cells
    cells: list[Cell]
    params: SegmentationParams
    work_scale: float = 1.0                 # working resolution / input resolution

    @property
    def count(self) -> int:
        return len(self.cells)


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 \
            or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError("segmentation needs an RGB uint8 array of shape H x W x 3")


def _stain_planes(rgb: np.ndarray) -> tuple[np.ndarray, ...]:
    """OD summed over R, G, B; the OD's coordinates x, y in the plane perpendicular to grey; its
    length there (strength) and angle (direction, degrees). All float32, H x W. (In-place
    arithmetic: at 224 x 224 every new float array costs about as much as the sum itself.)"""
    # One float plane per channel: cv2.split of a 3-channel float image costs more than all
    # the arithmetic below.
    red, green, blue = (cv2.LUT(plane, _OD_TABLE) for plane in cv2.split(np.ascontiguousarray(rgb)))
    x = red - green
    x *= _HALF_SQRT3
    red += green                      # red + green from here on
    density = red + blue
    red *= np.float32(0.5)
    blue -= red                       # y = blue - (red + green) / 2
    strength, direction = cv2.cartToPolar(x, blue, angleInDegrees=True)
    return density, x, blue, strength, direction


def stain_polar(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: OD summed over R, G, B; stain strength (OD length perpendicular to grey); stain
    direction (degrees, 0..360). All float32, H x W."""
    density, _, _, strength, direction = _stain_planes(rgb)
    return density, strength, direction


@dataclass(frozen=True)
class RedCells:
    """What the stain rule measured in a field: the red cells' stain direction (degrees) and
    colour strength (OD), and whether they were measured or defaulted (too few stained pixels)."""

    direction: float
    strength: float
    measured: bool


def _percentile(values: np.ndarray, low: float, percent: float) -> float:
    """np.percentile of angles >= low (degrees), from a 0.5-degree histogram: no sort."""
    bins = np.bincount(((values - low) * 2.0).astype(np.int32))
    rank = int(np.searchsorted(np.cumsum(bins), percent / 100.0 * values.size))
    return low + (rank + 0.5) / 2.0


def red_cell_reference(density: np.ndarray, strength: np.ndarray,
                       direction: np.ndarray) -> RedCells:
    """The field's red-cell direction and strength (see the module docstring)."""
    voters = (density >= STAINED_OD) & (strength >= STAINED_CHROMA) \
        & (direction >= STAINED_SPAN[0]) & (direction <= STAINED_SPAN[1])
    directions = direction[voters]
    minimum = max(MIN_VOTERS * density.size / REFERENCE_AREA, 20)
    if directions.size < minimum:
        return RedCells(RED_CELL_DEFAULT, 0.06, False)
    first = _percentile(directions, STAINED_SPAN[0], RED_CELL_PERCENTILE)
    low = max(first - RED_CELL_EXCLUDE, STAINED_SPAN[0])
    kept = directions >= low
    if np.count_nonzero(kept) >= minimum / 2:
        red = _percentile(directions[kept], low, 50.0)
    else:
        red = first
    red = float(np.clip(red, *RED_CELL_RANGE))
    strengths = strength[voters]
    rank = int(round(RED_CELL_STRENGTH_PERCENTILE / 100.0 * (strengths.size - 1)))
    level = float(np.partition(strengths, rank)[rank])
    return RedCells(red, max(level, MIN_RED_CELL_CHROMA), True)


def stain_rule_mask(rgb: np.ndarray, params: SegmentationParams) -> np.ndarray:
    """The stain rule alone (bool, input size): nucleus-coloured pixels by stain direction."""
    density, x, y, strength, direction = _stain_planes(rgb)
    # Field statistics (percentiles, medians) from every other row and column: the same numbers
    # within a fraction of a degree, four times faster.
    red = red_cell_reference(density[::2, ::2], strength[::2, ::2], direction[::2, ::2])
    ratio = strength * np.float32(1.0 / red.strength)
    vivid = ratio - np.float32(VIVID_RATIO[0])
    vivid *= np.float32(1.0 / (VIVID_RATIO[1] - VIVID_RATIO[0]))
    np.clip(vivid, 0.0, 1.0, out=vivid)
    faint_limit = np.float32(red.direction - params.red_cell_margin)
    vivid *= np.float32(VIVID_LIMIT) - faint_limit
    vivid += faint_limit                                    # the direction limit per pixel
    pink_limit = np.float32(min(red.direction, RED_CELL_DEFAULT) - PINK_SPAN)
    # Distance of the colour from the red cells' direction line, positive on the violet side (OD).
    angle = math.radians(red.direction)
    x *= np.float32(math.sin(angle))
    y *= np.float32(math.cos(angle))
    x -= y
    distance = x
    keep = (strength >= np.float32(params.min_stain_density)) & (direction <= vivid) \
        & (direction >= pink_limit) \
        & ((distance >= np.float32(STAIN_NOISE)) | (ratio > np.float32(VIVID_RATIO[0])))
    core = keep & ((distance >= np.float32(CORE_DISTANCE)) | (ratio >= np.float32(CORE_RATIO)))
    # Which patches hold a core does not depend on how they are numbered.
    count, labels = cv2.connectedComponents(keep.view(np.uint8), connectivity=8,
                                            ltype=_label_type(keep))
    with_core = np.zeros(count, bool)
    with_core[labels[core]] = True
    with_core[0] = False
    return with_core[labels]


def _label_type(mask: np.ndarray) -> int:
    """16-bit labels where they cannot overflow (8-connected components are at most one per
    2 x 2 block): OpenCV labels them by the same rules as 32-bit ones, three times faster."""
    return cv2.CV_16U if mask.size <= 4 * 65000 else cv2.CV_32S


def threshold_mask(rgb: np.ndarray, params: SegmentationParams,
                   hsv: np.ndarray | None = None) -> np.ndarray:
    """The raw colour mask (uint8 0/255, input size), before any clean-up. ``hsv``: the
    field's HSV (cv2 RGB2HSV) when the caller already has it."""
    _check_rgb(rgb)
    if hsv is None or hsv.shape != rgb.shape:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    mask = params.main_range.mask(hsv)
    if params.method == "stain":
        np.multiply(mask, stain_rule_mask(rgb, params), out=mask, casting="unsafe")
    for box in params.extra_ranges:
        mask = cv2.bitwise_or(mask, box.mask(hsv))
    return mask


def _kernel(size_at_reference: int, length_scale: float) -> np.ndarray | None:
    size = int(round(size_at_reference * length_scale))
    if size <= 1:
        return None
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image edge (pale nucleus centres)."""
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    outside = padded.copy()
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 255)
    holes = cv2.bitwise_not(outside)[1:-1, 1:-1]
    return cv2.bitwise_or(mask, holes)


def clean_mask(raw: np.ndarray, params: SegmentationParams) -> np.ndarray:
    """Opening, closing and hole filling, with kernels scaled to the mask's size."""
    length_scale = math.sqrt(raw.shape[0] * raw.shape[1] / REFERENCE_AREA)
    mask = raw
    open_k = _kernel(params.open_kernel, length_scale)
    if open_k is not None:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, open_k)
    close_k = _kernel(params.close_kernel, length_scale)
    if close_k is not None:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close_k)
    if params.fill_holes:
        mask = _fill_holes(mask)
    return mask


def _working_copy(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    height, width = rgb.shape[:2]
    if height * width <= WORK_MAX_PIXELS:
        return rgb, 1.0
    scale = math.sqrt(WORK_MAX_PIXELS / (height * width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return small, small.shape[1] / width


def segment(rgb: np.ndarray, params: SegmentationParams | None = None,
            hsv: np.ndarray | None = None) -> SegmentationResult:
    """Segment the stained cells of an RGB uint8 field. See the module docstring for the rules.
    ``hsv``: the field's HSV when the caller already has it (used at the field's own size)."""
    _check_rgb(rgb)
    params = (params or preset("default")).validate()
    work, scale = _working_copy(rgb)
    mask = clean_mask(threshold_mask(work, params, hsv if scale == 1.0 else None), params)

    area_scale = work.shape[0] * work.shape[1] / REFERENCE_AREA
    min_area = params.min_cell_area * area_scale
    min_border_area = params.border_fragment_fraction * TYPICAL_CELL_AREA * area_scale
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(
        mask, connectivity=8, ltype=_label_type(mask))
    height, width = mask.shape
    x, y, w, h, area = (stats[:, i] for i in range(5))
    touches_edge = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    keep = (area >= min_area) & ~(touches_edge & (area < min_border_area))
    keep[0] = False
    if keep[1:].all():    # the mask is 0/255: keeping every component keeps it as it is
        kept_mask = mask
    else:
        kept_mask = np.where(keep, 255, 0).astype(np.uint8)[labels]

    cells = _cells_from(kept_mask, labels, stats, centroids, keep, scale)
    if scale != 1.0:
        kept_mask = cv2.resize(kept_mask, (rgb.shape[1], rgb.shape[0]),
                               interpolation=cv2.INTER_LINEAR)
        kept_mask = np.where(kept_mask >= 128, 255, 0).astype(np.uint8)
    return SegmentationResult(mask=kept_mask, cells=cells, params=params, work_scale=scale)


def _cells_from(mask: np.ndarray, labels: np.ndarray, stats: np.ndarray, centroids: np.ndarray,
                keep: np.ndarray, scale: float) -> list[Cell]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline_of: dict[int, np.ndarray] = {}
    for contour in contours:
        x, y = contour[0, 0]
        outline_of[int(labels[y, x])] = contour.reshape(-1, 2)

    inverse = 1.0 / scale
    cells = []
    for i in np.flatnonzero(keep):
        x, y, w, h, area = (int(v) for v in stats[i])
        outline = outline_of.get(int(i), np.empty((0, 2), np.int32))
        cells.append(Cell(
            label=0,
            bbox=(int(x * inverse), int(y * inverse),
                  max(1, round(w * inverse)), max(1, round(h * inverse))),
            area=int(round(area * inverse * inverse)),
            centroid=(float(centroids[i][0] * inverse), float(centroids[i][1] * inverse)),
            contour=np.round(outline * inverse).astype(np.int32) if scale != 1.0
            else outline.astype(np.int32),
        ))
    return _in_reading_order(cells, mask.shape[0] * inverse)


def _in_reading_order(cells: list[Cell], image_height: float) -> list[Cell]:
    """Top-to-bottom, left-to-right. A row starts at its topmost cell and takes every cell whose
    centroid is less than one typical cell diameter lower; rows are read left to right."""
    row_height = math.sqrt(TYPICAL_CELL_AREA) * image_height / REFERENCE_SIDE
    rows: list[list[Cell]] = []
    for cell in sorted(cells, key=lambda c: (c.centroid[1], c.centroid[0])):
        if rows and cell.centroid[1] - rows[-1][0].centroid[1] < row_height:
            rows[-1].append(cell)
        else:
            rows.append([cell])
    ordered = [cell for row in rows for cell in sorted(row, key=lambda c: c.centroid[0])]
    for number, cell in enumerate(ordered, start=1):
        cell.label = number
    return ordered


def overlay(rgb: np.ndarray, seg: SegmentationResult, colour: tuple[int, int, int] = (0, 255, 0),
            numbers: bool = False, thickness: int | None = None) -> np.ndarray:
    """A copy of the field with the cell outlines (and optionally their numbers) drawn on it."""
    _check_rgb(rgb)
    out = np.ascontiguousarray(rgb.copy())
    length_scale = math.sqrt(rgb.shape[0] * rgb.shape[1] / REFERENCE_AREA)
    line = thickness or max(1, round(length_scale))
    outlines = [c.contour.reshape(-1, 1, 2) for c in seg.cells if len(c.contour)]
    cv2.drawContours(out, outlines, -1, colour, line, lineType=cv2.LINE_AA)
    if numbers:
        font_scale = 0.35 * length_scale
        for cell in seg.cells:
            x, y = (int(v) for v in cell.centroid)
            text = str(cell.label)
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, line)
            origin = (x - tw // 2, y + th // 2)
            # Dark halo first so the number reads on light and dark stain alike.
            cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                        line + 2, cv2.LINE_AA)
            cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour, line,
                        cv2.LINE_AA)
    return out
