"""Working copies: statistics that are shares and percentiles need no camera resolution."""

from __future__ import annotations

import math

import cv2
import numpy as np


def working_copy(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    """The image itself when it has at most ``max_pixels``, else a copy shrunk to about that
    many pixels (INTER_AREA: each output pixel averages those it covers)."""
    height, width = rgb.shape[:2]
    if height * width <= max_pixels:
        return rgb
    scale = math.sqrt(max_pixels / (height * width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
