"""Is the capture itself good enough? Over-exposure, heavy JPEG compression and sensor noise.

These three destroy what the call rests on (chromatin texture, nuclear outlines) without moving
the colours the scope and lamp checks read, and the model then errs with confidence: on the
robustness benchmark (docs/robustness.md) exposure x1.2, JPEG quality 15-30 and sensor noise
sigma 8 left 9-44 confident errors per 511 fields with no flag. Each measure is contrast-free
and is read on the field at its own resolution (a central crop of at most ``CROP`` px, aligned
to JPEG's 8-pixel grid), before any resizing:

- **blown out**: the fraction of pixels with at least two channels at 255 (pure white: the
  detail there is gone);
- **blockiness**: how much stronger the grey-level steps are on one 8-pixel grid than between
  it (JPEG's block borders), as a ratio of medians (a single seam or scale bar is not a grid);
  about 1.0 for an uncompressed field;
- **noise**: the grey-level noise sigma of the flat background (Immerkaer's Laplacian estimator
  on the brightest, flattest pixels), in 8-bit levels.

The limits sit well above the Original fields of the data set (every second field, 1302;
research/quality_limits.py): their 99.5th percentiles are 0.23, 1.24 and 0.93 against limits
0.30, 1.4 and 1.5. The 1st percentiles under exposure x1.2, JPEG quality 30 and sensor noise
sigma 8 are 0.39, 1.55 and 2.63.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .focus import GreyField, grey_field

CROP = 512
MAX_BLOWN_OUT = 0.30
MAX_BLOCKINESS = 1.4
MAX_NOISE = 1.5
_LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_OFFSETS = np.arange(8)


@dataclass(frozen=True)
class Quality:
    blown_out: float
    blockiness: float
    noise: float

    def to_json(self) -> dict:
        return {k: round(v, 4) for k, v in asdict(self).items()}

    def problems(self) -> list[str]:
        """One sentence per problem, saying what to change at the microscope."""
        out = []
        if self.blown_out > MAX_BLOWN_OUT:
            out.append(f"Over-exposed: {self.blown_out:.0%} of the field is pure white. Lower the "
                       "lamp or the exposure and capture again.")
        if self.blockiness > MAX_BLOCKINESS:
            out.append(f"Heavily compressed: JPEG block edges {self.blockiness:.1f} times the "
                       "other edges. Save captures as PNG or TIFF (or JPEG quality 90 or more).")
        if self.noise > MAX_NOISE:
            out.append(f"Noisy: noise {self.noise:.1f} grey levels in the background (limit "
                       f"{MAX_NOISE:g}). Use more light and less camera gain.")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()


def _crop(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    y0 = max(0, (h - CROP) // 2) // 8 * 8
    x0 = max(0, (w - CROP) // 2) // 8 * 8
    return rgb[y0:y0 + CROP, x0:x0 + CROP]


def _middles(ordered: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Per row of ``picks`` (bool, which of the ascending ``ordered`` values belong to it): the
    median of those values, as np.median gives it."""
    position = np.cumsum(picks, axis=1)
    sizes = position[:, -1]
    # The k-th picked value (0-based) sits where the running count first reaches k + 1.
    low = np.argmax(position > ((sizes - 1) // 2)[:, None], axis=1)
    high = np.argmax(position > (sizes // 2)[:, None], axis=1)
    return (ordered[low].astype(np.float64) + ordered[high].astype(np.float64)) / 2.0


def _blockiness(grey: np.ndarray) -> float:
    best = 1.0
    for steps in (np.abs(np.diff(grey, axis=1)).mean(axis=0), np.abs(np.diff(grey, axis=0)).mean(axis=1)):
        n = len(steps)
        if n < 24:
            continue
        # One sort, then each grid offset's steps and the rest are picked out still in order,
        # all eight offsets at once (16 np.median calls cost about 2 ms a field).
        order = np.argsort(steps, kind="stable")
        ordered = steps[order]
        on = (order % 8)[None, :] == _OFFSETS[:, None]
        # Medians, not means: one seam or scale bar is not a grid; JPEG's blocks are everywhere.
        ratios = _middles(ordered, on) / np.maximum(_middles(ordered, ~on), 1e-6)
        typical = float(np.median(ratios))
        if typical > 0:   # the strongest grid against the typical one (cropping moves the grid)
            best = max(best, float(ratios.max()) / typical)
    return float(best)


def _noise(grey: GreyField) -> float:
    if min(grey.grey.shape) < 8:
        return 0.0
    response = cv2.filter2D(grey.grey, -1, _LAPLACE)[1:-1, 1:-1]
    # Squared gradient: the flat half is the same set as by the gradient itself, and numpy's
    # arithmetic gives the same bits in every thread (cv2.magnitude did not: the noise figure
    # of one field read 1.0494 or 1.0498 depending on the thread that measured it).
    grad = grey.gradient2[1:-1, 1:-1]
    inner = grey.grey_u8[1:-1, 1:-1]
    # The brightest 30 % (glass and plasma), from the histogram: no sort.
    cum = np.cumsum(cv2.calcHist([inner], [0], None, [256], [0, 256]).ravel().astype(np.int64))
    level = int(np.searchsorted(cum, 0.70 * cum[-1]))
    bright = inner >= level
    values = grad[bright]
    if values.size == 0:
        return 0.0
    half = values.size // 2
    flat = bright & (grad <= np.partition(values, half)[half])
    return float(np.sqrt(np.pi / 2) * np.abs(response[flat]).mean() / 6) if flat.any() else 0.0


def measure(rgb: np.ndarray, grey: GreyField | None = None) -> Quality:
    """The three measures of an RGB uint8 field (see the module docstring). ``grey``:
    ``focus.grey_field(rgb)`` when the caller already has it."""
    part = np.ascontiguousarray(_crop(rgb))
    if grey is None or grey.grey.shape != part.shape[:2]:
        grey = grey_field(part)
    # At least two channels at 255: the middle of the three is 255.
    r, g, b = cv2.split(part)
    middle = cv2.max(cv2.min(r, g), cv2.min(cv2.max(r, g), b))
    blown = float(np.count_nonzero(middle == 255)) / max(1, r.size)
    return Quality(blown, _blockiness(grey.grey), _noise(grey))
