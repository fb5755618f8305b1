"""HSV colour segmentation of stained cells in a blood smear field.

Pipeline: HSV colour threshold -> morphological opening (removes specks and the thin rims of red
cells) -> closing (bridges small gaps inside a nucleus) -> hole filling -> connected components
-> cells, each with a bounding box, area, centroid and outline.

Scale. The data set's fields are 224 x 224 pixels at 100x. Every size rule below (kernel sizes,
areas) is written for such a 224 x 224 field and scaled with the image: lengths by
sqrt(image_area / 224^2), areas by image_area / 224^2. A camera capture of the same field at
4000 x 3000 is therefore segmented the same way as the 224 x 224 version of it. Images larger
than ``WORK_MAX_PIXELS`` are segmented at a reduced working resolution (the colour threshold
does not need camera resolution) and the mask, boxes, areas, centroids and outlines are scaled
back to the input size.

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


# The pale pink nuclei of some Pro-B fields: saturation only 30..50, but paler (V >= 245) than
# the pinkish red cells of some Benign fields, which stay below 240.
PALE_PINK_NUCLEI = HsvRange(hue_min=133, hue_max=175, sat_min=30, val_min=245)


@dataclass(frozen=True)
class SegmentationParams:
    """Colour thresholds and clean-up rules; the defaults are the ``default`` preset.

    A pixel is stain when it falls in the main HSV box (hue_min..val_max) or in any of
    ``extra_ranges``. Sizes are for a 224 x 224 field (see the module docstring)."""

    preset: str = "default"
    hue_min: int = 120
    hue_max: int = 165
    sat_min: int = 50
    sat_max: int = 255
    val_min: int = 0
    val_max: int = 255
    extra_ranges: tuple[HsvRange, ...] = (PALE_PINK_NUCLEI,)
    open_kernel: int = 4          # px; 0 or 1 = no opening
    close_kernel: int = 3         # px; 0 or 1 = no closing
    fill_holes: bool = True
    min_cell_area: int = 60       # px; smaller components are specks
    border_fragment_fraction: float = 0.35

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
        self.main_range.validate()
        if not isinstance(self.extra_ranges, tuple) or \
                not all(isinstance(r, HsvRange) for r in self.extra_ranges):
            raise SegmentationError("Extra colour ranges must be a list of HSV ranges.")
        for number, extra in enumerate(self.extra_ranges, start=1):
            extra.validate(f"Extra colour range {number}: ")
        _check_range("Opening kernel size", self.open_kernel, 0, 51)
        _check_range("Closing kernel size", self.close_kernel, 0, 51)
        _check_range("Minimum cell area", self.min_cell_area, 0, REFERENCE_AREA)
        if not isinstance(self.fill_holes, bool):
            raise SegmentationError("Fill holes must be true or false.")
        fraction = self.border_fragment_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not 0.0 <= fraction <= 1.0:
            raise SegmentationError("Edge fragment fraction must be between 0 and 1.")
        return self

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra_ranges"] = [asdict(r) for r in self.extra_ranges]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SegmentationParams":
        """Build from a dict (settings file, results.json). Missing keys take the values of the
        named preset; unknown keys or wrong types raise SegmentationError."""
        if not isinstance(data, dict):
            raise SegmentationError("Segmentation settings must be a set of named values.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SegmentationError(f"Unknown segmentation setting: {', '.join(unknown)}.")
        name = data.get("preset", "default")
        base = preset(name) if name in PRESET_NAMES else cls(preset=str(name))
        values: dict[str, Any] = {}
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
    # Stained nuclei on every stain of the data set: the violet-to-purple box (blue red cells
    # stay below hue 120 or saturation 50; the thin rims that reach it go in the opening) plus
    # the pale pink nuclei of some Pro-B fields.
    "default": SegmentationParams(),
    # The data set authors' threshold. Their code converted a BGR-loaded image with the RGB->HSV
    # code and kept hue 168..182, S >= 50, V >= 50; in correct HSV terms that is hue 121..132
    # (OpenCV hue stops at 179, so 180..182 selects nothing). Reproduces their pixels to 99.98%.
    # Clean-up kept minimal: only specks are dropped when counting cells.
    "dataset": SegmentationParams(
        preset="dataset", hue_min=121, hue_max=132, sat_min=50, sat_max=255, val_min=50,
        val_max=255, extra_ranges=(), open_kernel=0, close_kernel=0, fill_holes=False,
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


def threshold_mask(rgb: np.ndarray, params: SegmentationParams) -> np.ndarray:
    """The raw colour-threshold mask (uint8 0/255, input size), before any clean-up."""
    _check_rgb(rgb)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    mask = np.zeros(hsv.shape[:2], np.uint8)
    for box in params.ranges:
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


def segment(rgb: np.ndarray, params: SegmentationParams | None = None) -> SegmentationResult:
    """Segment the stained cells of an RGB uint8 field. See the module docstring for the rules."""
    _check_rgb(rgb)
    params = (params or preset("default")).validate()
    work, scale = _working_copy(rgb)
    mask = clean_mask(threshold_mask(work, params), params)

    area_scale = work.shape[0] * work.shape[1] / REFERENCE_AREA
    min_area = params.min_cell_area * area_scale
    min_border_area = params.border_fragment_fraction * TYPICAL_CELL_AREA * area_scale
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    height, width = mask.shape
    keep = np.zeros(count, bool)
    for i in range(1, count):
        x, y, w, h, area = stats[i]
        touches_edge = x == 0 or y == 0 or x + w == width or y + h == height
        keep[i] = area >= min_area and not (touches_edge and area < min_border_area)
    kept_mask = np.where(keep[labels], 255, 0).astype(np.uint8)

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
