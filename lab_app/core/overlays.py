"""Pictures drawn from an analysed image: segmentation outlines and activation-map heat overlays.

Shared by the report (as image providers) and the GUI viewer, so both show the same thing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageLoadError
from .imaging import load_rgb
from .segmentation import SegmentationParams, overlay, preset, segment

log = logging.getLogger(__name__)


def blend_cam(rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] activation map (any size) over the field as a JET heat map."""
    h, w = rgb.shape[:2]
    cam = cv2.resize(np.asarray(cam, np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    heat = cv2.applyColorMap(np.uint8(np.clip(cam, 0, 1) * 255), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    weight = (alpha * np.clip(cam, 0, 1))[..., None]  # cool regions stay close to the original
    return np.uint8(rgb * (1 - weight) + heat * weight)


def mask_tint(rgb: np.ndarray, mask: np.ndarray, colour=(0, 200, 255), alpha: float = 0.45) -> np.ndarray:
    """The field with the segmentation mask tinted."""
    out = rgb.copy()
    sel = mask > 0
    out[sel] = (out[sel] * (1 - alpha) + np.array(colour) * alpha).astype(np.uint8)
    return out


def _params(stored: dict | None) -> SegmentationParams:
    try:
        return SegmentationParams.from_json(stored) if stored else preset("default")
    except (KeyError, TypeError, ValueError) as exc:
        log.info("stored segmentation parameters unusable (%s); using the default preset", exc)
        return preset("default")


def segmentation_overlay_for(path: str | Path, stored_params: dict | None = None,
                             numbers: bool = True) -> np.ndarray | None:
    """Outlines (with numbers) drawn with the parameters the image was analysed with."""
    try:
        img = load_rgb(path)
    except ImageLoadError:
        return None
    return overlay(img.rgb, segment(img.rgb, _params(stored_params)), numbers=numbers)


class ReportPictures:
    """Image providers for ``report.build_report``: overlays computed when the report is drawn.

    The activation map needs the model; pass an engine to get it, else the appendix shows the
    outlines only.
    """

    def __init__(self, engine=None):
        self.engine = engine

    def segmentation(self, image) -> np.ndarray | None:
        return segmentation_overlay_for(image.path, image.result.segmentation)

    def activation(self, image) -> np.ndarray | None:
        if self.engine is None:
            return None
        try:
            img = load_rgb(image.path)
        except ImageLoadError:
            return None
        preds = self.engine.predict([img.rgb], with_cam=True)
        from model.inference import normalise_cam
        top = int(np.argmax(preds.probabilities[0]))
        return blend_cam(img.rgb, normalise_cam(preds.cams[0, top]))
