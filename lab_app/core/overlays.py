"""Pictures drawn from an analysed field: segmentation outlines, the mask tint and the
activation-map heat map, shared by the window's viewer and the report so both show the same.

``heat_map_rgba`` is the one heat-map renderer: the viewer lays its RGBA over the field, the
report blends it in (``blend_cam``). ``field_pictures`` makes the small, JPEG-encoded pictures
the report needs while the analysis still holds the decoded field (labapp-batch --report).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageLoadError
from .imaging import load_rgb
from .segmentation import SegmentationResult, overlay, stored_params
from .vocabulary import MASK_RGBA


# Weak evidence stays transparent; from here on the heat map fades in up to max_alpha.
HEAT_FROM = 0.25
HEAT_MAX_ALPHA = 0.6


def heat_map_rgba(cam: np.ndarray, width: int, height: int,
                  max_alpha: float = HEAT_MAX_ALPHA) -> np.ndarray:
    """A JET heat map (RGBA uint8, height x width) of a [0, 1] activation map of any size."""
    cam = cv2.resize(np.asarray(cam, np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    cam = np.clip(cam, 0.0, 1.0)
    heat = cv2.applyColorMap(np.uint8(cam * 255), cv2.COLORMAP_JET)
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3] = heat[..., ::-1]
    rgba[..., 3] = np.uint8(np.clip((cam - HEAT_FROM) / (1 - HEAT_FROM), 0, 1) * max_alpha * 255)
    return rgba


def blend_cam(rgb: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The field with the heat map of a [0, 1] activation map laid over it, as the viewer shows it."""
    h, w = rgb.shape[:2]
    rgba = heat_map_rgba(cam, w, h)
    weight = rgba[..., 3:4].astype(np.float32) / 255
    return np.uint8(rgb * (1 - weight) + rgba[..., :3] * weight + 0.5)


def mask_tint(rgb: np.ndarray, mask: np.ndarray, rgba: tuple[int, int, int, int] = MASK_RGBA) -> np.ndarray:
    """The field with the segmentation mask tinted in the viewer's mask colour."""
    out = rgb.copy()
    sel = mask > 0
    alpha = rgba[3] / 255
    out[sel] = (out[sel] * (1 - alpha) + np.array(rgba[:3]) * alpha).astype(np.uint8)
    return out


def segmentation_overlay_for(path: str | Path, params: dict | None = None,
                             numbers: bool = True) -> np.ndarray | None:
    """Outlines (with numbers) redrawn from the file with the parameters it was analysed with."""
    try:
        img = load_rgb(path)
    except ImageLoadError:
        return None
    # Segmented as the analysis segmented it (colour-balanced), so the numbers match its count.
    from .cells import segment_like_analysis
    return overlay(img.rgb, segment_like_analysis(img.rgb, stored_params(params)), numbers=numbers)


# ----------------------------------------------------------- pictures kept from the analysis
# Longest side of a kept picture: the report's appendix box (about 87 x 60 mm) at 200 dpi.
PICTURE_PX = 720
JPEG_QUALITY = 90


@dataclass
class FieldPictures:
    """What the report shows of one field, made while the analysis held it: the field and its
    numbered outlines, each at most PICTURE_PX on its longest side, JPEG-encoded (tens of KB)."""
    original: bytes
    outlines: bytes


def _small(rgb: np.ndarray, longest: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = longest / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                      interpolation=cv2.INTER_AREA)


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the picture could not be encoded")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("the picture could not be decoded")
    return np.ascontiguousarray(bgr[..., ::-1])


def field_pictures(rgb: np.ndarray, seg: SegmentationResult, longest: int = PICTURE_PX) -> FieldPictures:
    """The report's pictures of a decoded field and its segmentation (outlines drawn at full
    resolution, as a redraw from the file would, then reduced)."""
    return FieldPictures(original=encode_jpeg(_small(rgb, longest)),
                         outlines=encode_jpeg(_small(overlay(rgb, seg, numbers=True), longest)))

