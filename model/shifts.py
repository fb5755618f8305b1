"""Acquisition shifts: the same field as another lab's lamp, camera, stain batch or focus shows it.

Used by ``bench/robustness.py`` and the tests to measure how the analysis behaves away from the
training data's microscope. Each shift maps an RGB uint8 field to an RGB uint8 field of the same
size and is deterministic (noise takes its seed from the caller). Settings are fixed here, one
step beyond everyday variation, so that the figures compare from run to run:

- lamp colour: each channel scaled by about 10% (a warmer lamp: more red, less blue; a cooler
  one the reverse), what another bulb, filter or camera white balance gives;
- exposure: all channels scaled by 0.75 or 1.2 (over-exposure clips the background);
- stain hue: the stain colours rotated by 8 degrees either way about the grey axis;
- pale / heavy stain: each stain's optical density scaled by 0.65 or 1.35 (colour deconvolution);
- JPEG quality 30 and 15; sensor noise (Gaussian, sigma 8 levels);
- defocus: Gaussian blur of sigma 1.2 px; badly blurred (sigma 3 px) is ``blur_severe``;
- magnification 1.25x (the centre enlarged) and 0.8x (the field shrunk, its border mirrored);
- camera resolution: captured at half the linear resolution and enlarged again.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Shift = Callable[[np.ndarray, np.random.Generator], np.ndarray]

# Colour deconvolution (Ruifrok and Johnston): optical-density colours of the nuclear stain,
# the counterstain and a residual, as in model/augment.py.
_RGB_FROM_STAINS = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
_RGB_FROM_STAINS = _RGB_FROM_STAINS / np.linalg.norm(_RGB_FROM_STAINS, axis=1, keepdims=True)
_STAINS_FROM_RGB = np.linalg.inv(_RGB_FROM_STAINS)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def channel_gain(rgb: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    return _to_u8(rgb.astype(np.float32) * np.asarray(gains, np.float32))


def hue_rotation(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate every colour about the grey axis (greys, the background, stay where they are)."""
    t = np.deg2rad(degrees)
    c, s, k, r = np.cos(t), np.sin(t), 1 / 3, np.sqrt(3) / 3
    m = np.array([[c + (1 - c) * k, k * (1 - c) - r * s, k * (1 - c) + r * s],
                  [k * (1 - c) + r * s, c + k * (1 - c), k * (1 - c) - r * s],
                  [k * (1 - c) - r * s, k * (1 - c) + r * s, c + k * (1 - c)]], np.float32)
    return _to_u8(rgb.astype(np.float32) @ m.T)


def stain_amount(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Scale every stain's optical density (the background, at zero density, stays)."""
    x = np.clip(rgb.astype(np.float32) / 255.0, 1 / 255, 1.0)
    od = -np.log(x)
    stains = od.reshape(-1, 3) @ _STAINS_FROM_RGB
    od = (stains * factor) @ _RGB_FROM_STAINS
    return _to_u8(np.exp(-od).reshape(rgb.shape) * 255.0)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def noise(rgb: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return _to_u8(rgb.astype(np.float32) + rng.normal(0.0, sigma, rgb.shape).astype(np.float32))


def blur(rgb: np.ndarray, sigma_at_224: float) -> np.ndarray:
    """Gaussian defocus; sigma is given for a 224 px field and scales with the image."""
    sigma = sigma_at_224 * np.sqrt(rgb.shape[0] * rgb.shape[1]) / 224.0
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma, sigmaY=sigma,
                            borderType=cv2.BORDER_REFLECT)


def magnification(rgb: np.ndarray, factor: float) -> np.ndarray:
    """factor > 1: the centre enlarged to the whole field; < 1: the field shrunk, its border
    filled by mirroring (what a lower objective adds is more of the same smear)."""
    h, w = rgb.shape[:2]
    if factor >= 1:
        ch, cw = int(round(h / factor)), int(round(w / factor))
        y, x = (h - ch) // 2, (w - cw) // 2
        return cv2.resize(rgb[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    sh, sw = int(round(h * factor)), int(round(w * factor))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    top, left = (h - sh) // 2, (w - sw) // 2
    return cv2.copyMakeBorder(small, top, h - sh - top, left, w - sw - left, cv2.BORDER_REFLECT)


def resolution(rgb: np.ndarray, factor: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (max(1, int(round(w * factor))), max(1, int(round(h * factor)))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


SHIFTS: dict[str, Shift] = {
    "lamp_warm": lambda im, rng: channel_gain(im, (1.08, 1.0, 0.90)),
    "lamp_cool": lambda im, rng: channel_gain(im, (0.90, 1.0, 1.08)),
    "exposure_down": lambda im, rng: channel_gain(im, (0.75, 0.75, 0.75)),
    "exposure_up": lambda im, rng: channel_gain(im, (1.2, 1.2, 1.2)),
    "stain_hue_plus": lambda im, rng: hue_rotation(im, 8.0),
    "stain_hue_minus": lambda im, rng: hue_rotation(im, -8.0),
    "stain_pale": lambda im, rng: stain_amount(im, 0.65),
    "stain_heavy": lambda im, rng: stain_amount(im, 1.35),
    "jpeg_q30": lambda im, rng: jpeg(im, 30),
    "jpeg_q15": lambda im, rng: jpeg(im, 15),
    "sensor_noise": lambda im, rng: noise(im, 8.0, rng),
    "defocus": lambda im, rng: blur(im, 1.2),
    "magnification_up": lambda im, rng: magnification(im, 1.25),
    "magnification_down": lambda im, rng: magnification(im, 0.8),
    "camera_half_resolution": lambda im, rng: resolution(im, 0.5),
}

# Shifts that a reading cannot survive; the analysis must flag them instead.
MUST_FLAG: dict[str, Shift] = {
    "blur_severe": lambda im, rng: blur(im, 3.0),
}

# The shifts that change only the colour (lamp, exposure, stain): the segmentation's mask should
# barely move under them.
COLOUR_SHIFTS = ("lamp_warm", "lamp_cool", "exposure_down", "exposure_up", "stain_hue_plus",
                 "stain_hue_minus", "stain_pale", "stain_heavy")


def tinted_blank(size: int, tint: tuple[int, int, int], noise_sigma: float,
                 rng: np.random.Generator) -> np.ndarray:
    """An empty slide under a tinted lamp or stain wash, with optional sensor noise."""
    blank = np.empty((size, size, 3), np.float32)
    blank[:] = tint
    if noise_sigma > 0:
        blank += rng.normal(0.0, noise_sigma, blank.shape).astype(np.float32)
    return _to_u8(blank)


# Stain-like washes on an empty slide: pale violet, pink, lilac, blue-grey, the lamp's own
# warm and cool whites.
BLANK_TINTS = ((226, 214, 240), (245, 215, 228), (232, 222, 250), (214, 222, 238),
               (250, 240, 222), (228, 236, 252), (236, 200, 230), (200, 196, 232))
