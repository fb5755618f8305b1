"""Pictures for the report: loading originals, taking overlays from callables, making flowables.

Images are re-encoded as JPEG at a size fitting the printed box (at about 200 dpi), which keeps
reports small and their bytes reproducible (same pixels in, same bytes out).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from reportlab.lib.units import mm
from reportlab.platypus import Image as RLImage

from .case_models import CaseImage

log = logging.getLogger(__name__)

# A callable giving a picture for one image: a PIL image, an RGB/gray uint8 array, or None.
ImageProvider = Callable[[CaseImage], Any]

_DPI = 200


def load_original(image: CaseImage) -> PILImage.Image | None:
    """Default loader: the original file with Pillow, EXIF orientation applied; None if unreadable."""
    try:
        with PILImage.open(image.path) as im:
            im.draft("RGB", (1024, 1024))          # JPEG: decode at reduced size, much faster
            return ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, UnidentifiedImageError, PILImage.DecompressionBombError, ValueError) as exc:
        log.info("Report: original image %s not loaded (%s)", image.path, exc)
        return None


def picture(provider: ImageProvider | None, image: CaseImage, what: str) -> PILImage.Image | None:
    """Call a provider for one image; a failure is logged and shown as 'not available'.

    Providers come from other parts of the application (pipeline overlays, activation maps): one
    failing image must not stop the whole report, so any exception is caught here and logged.
    """
    if provider is None:
        return None
    try:
        return to_pil(provider(image))
    except Exception:  # noqa: BLE001 - see docstring: isolate a failing provider per image
        log.warning("Report: %s for %s failed", what, image.path, exc_info=True)
        return None


def to_pil(obj: Any) -> PILImage.Image | None:
    """PIL image or numpy array (HxW, HxWx3, HxWx4; uint8 or float in 0..1) -> RGB PIL image."""
    if obj is None:
        return None
    if isinstance(obj, PILImage.Image):
        return obj.convert("RGB")
    arr = np.asarray(obj)
    if arr.dtype != np.uint8:
        scale = 255.0 if arr.size and float(np.nanmax(arr)) <= 1.0 else 1.0
        arr = np.clip(np.nan_to_num(arr.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return PILImage.fromarray(arr, "L").convert("RGB")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return PILImage.fromarray(np.ascontiguousarray(arr[:, :, :3]), "RGB")
    raise ValueError(f"cannot draw an array of shape {arr.shape}")


def flowable(pil: PILImage.Image, max_w: float, max_h: float) -> RLImage:
    """A platypus Image fitting (max_w, max_h) points, aspect ratio kept."""
    w, h = pil.size
    scale = min(max_w / w, max_h / h)
    draw_w, draw_h = w * scale, h * scale
    px = (max(1, round(draw_w / 72 * _DPI)), max(1, round(draw_h / 72 * _DPI)))
    small = pil.copy()
    if small.width > px[0] or small.height > px[1]:
        small = small.resize(px, PILImage.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=88, optimize=False, progressive=False)
    buf.seek(0)
    return RLImage(buf, width=draw_w, height=draw_h)


THUMB_W, THUMB_H = 26 * mm, 20 * mm
