"""Pictures for the report: loading originals, taking overlays from callables, making flowables.

Images are re-encoded as JPEG at a size fitting the printed box (at about 200 dpi), which keeps
reports small and their bytes reproducible (same pixels in, same bytes out).

Memory: a report of thousands of images holds none of their pixels. Each picture is encoded
once and its JPEG goes, as is, into the PDF (a DCTDecode image: reportlab decodes nothing),
named by the digest of its bytes (identical pictures are stored once). With a ``JpegSpool`` the
JPEG waits in a temporary file until the PDF is written (report_pdf streams it from there), so
what a picture costs in memory until then is its file name.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable

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


def flowable(pil: PILImage.Image, max_w: float, max_h: float,
             spool: JpegSpool | None = None) -> JpegPicture:
    """A picture fitting (max_w, max_h) points, aspect ratio kept, as a pass-through JPEG (in
    ``spool``'s folder when given, else in memory)."""
    w, h = pil.size
    scale = min(max_w / w, max_h / h)
    draw_w, draw_h = w * scale, h * scale
    px = (max(1, round(draw_w / 72 * _DPI)), max(1, round(draw_h / 72 * _DPI)))
    small = pil.copy()
    if small.width > px[0] or small.height > px[1]:
        small = small.resize(px, PILImage.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=88, optimize=False, progressive=False)
    data = buf.getvalue()
    jpeg = spool.add(data, small.size) if spool is not None else Jpeg.of(data, small.size)
    return JpegPicture(jpeg, draw_w, draw_h)


# ------------------------------------------------------------- pass-through JPEG pictures
@dataclass(frozen=True)
class Jpeg:
    """One encoded picture: its bytes in memory, or the file that holds them."""
    digest: str                    # sha256 of the bytes (the PDF names the image by it)
    width: int                     # pixels
    height: int
    data: bytes | None = None
    path: Path | None = None

    @classmethod
    def of(cls, data: bytes, size: tuple[int, int]) -> Jpeg:
        return cls(hashlib.sha256(data).hexdigest(), size[0], size[1], data=data)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


class JpegSpool:
    """The JPEG files of one report's pictures, in a temporary folder named by content (an
    identical picture is written once). ``close()`` (or leaving the ``with`` block) removes it."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="labapp-pdf-"))

    def add(self, data: bytes, size: tuple[int, int]) -> Jpeg:
        digest = hashlib.sha256(data).hexdigest()
        path = self._dir / f"{digest}.jpg"
        if not path.exists():
            path.write_bytes(data)
        return Jpeg(digest, size[0], size[1], path=path)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> JpegSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JpegXObject(pdfdoc.PDFImageXObject):
    """A PDF image whose stream is the JPEG file itself (DCTDecode), read only while the PDF
    object is written and let go right after."""

    def __init__(self, name: str, jpeg: Jpeg) -> None:
        super().__init__(name)   # no source: reportlab's placeholder, replaced below
        self.width, self.height = jpeg.width, jpeg.height
        self.bitsPerComponent = 8
        self.colorSpace = "DeviceRGB"     # every picture is saved as 3-channel RGB JPEG
        self._filters = ("DCTDecode",)
        self.mask = None
        self.streamContent = b""
        self.jpeg = jpeg

    def format(self, document: Any) -> bytes:
        self.streamContent = self.jpeg.read()
        try:
            return super().format(document)
        finally:
            self.streamContent = b""


def draw_jpeg(canv: Canvas, jpeg: Jpeg, x: float, y: float, width: float, height: float) -> None:
    """Draw a pass-through JPEG, as ``Canvas.drawImage`` draws an image: one XObject per
    distinct picture, placed with a ``Do`` in the page."""
    name = f"jpeg{jpeg.digest[:40]}"
    doc = canv._doc
    reg_name = doc.getXObjectName(name)
    if reg_name not in doc.idToObject:
        obj = JpegXObject(name, jpeg)
        doc.Reference(obj, reg_name)
        doc.addForm(name, obj)
    canv._currentPageHasImages = 1
    canv.saveState()
    canv.translate(x, y)
    canv.scale(width, height)
    canv._code.append(f"/{reg_name} Do")
    canv.restoreState()
    canv._formsinuse.append(name)


class JpegPicture(Flowable):
    """A platypus flowable drawing one pass-through JPEG at a fixed size (points)."""
    _fixedWidth = 1
    _fixedHeight = 1

    def __init__(self, jpeg: Jpeg, width: float, height: float) -> None:
        super().__init__()
        self.jpeg = jpeg
        self.drawWidth, self.drawHeight = width, height
        self.hAlign = "CENTER"

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        return self.drawWidth, self.drawHeight

    def draw(self) -> None:
        draw_jpeg(self.canv, self.jpeg, getattr(self, "_offs_x", 0), getattr(self, "_offs_y", 0),
                  self.drawWidth, self.drawHeight)


THUMB_W, THUMB_H = 26 * mm, 20 * mm
