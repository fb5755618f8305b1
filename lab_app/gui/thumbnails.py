"""Thumbnails made lazily, off the GUI thread, only for the rows a view actually paints.

``ThumbnailCache.get(path)`` returns the thumbnail if it is ready, else ``None`` and queues a job
(once per path). A job decodes the file with ``QImageReader`` at reduced size (JPEG decodes at
1/2, 1/4 or 1/8 scale directly, so a camera frame costs a few milliseconds) and hands the image
to the GUI thread through the inbox; the cache then emits ``ready(path)`` and the results model
repaints that row.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter

from .inbox import gui_inbox
from .worker import background_priority

log = logging.getLogger(__name__)

THUMB_PX = 112          # longer side in physical pixels (sharp at 2x for a 56 px cell)
MAX_CACHED = 1200        # about 60 MB at most


class _ThumbJob(QRunnable):
    def __init__(self, path: str, done: Callable[[str, QImage], None]) -> None:
        super().__init__()
        self.path = path
        self.done = done

    def run(self) -> None:
        background_priority()
        image = read_thumbnail(self.path, THUMB_PX)
        gui_inbox().post(self.done, self.path, image)   # runs on the GUI thread


def read_thumbnail(path: str, side: int) -> QImage:
    """The image scaled to fit ``side`` pixels, or a null QImage when it cannot be read."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)     # EXIF orientation, as load_rgb applies it
    size = reader.size()
    if size.isValid() and (size.width() > side or size.height() > side):
        reader.setScaledSize(size.scaled(QSize(side, side), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        log.debug("no thumbnail for %s: %s", path, reader.errorString())
        return QImage()
    if image.width() > side or image.height() > side:
        image = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image.convertToFormat(QImage.Format.Format_RGB32)


def broken_image(side: int = THUMB_PX) -> QImage:
    """A grey square with a cross: the thumbnail of a file that cannot be read."""
    img = QImage(side, side, QImage.Format.Format_RGB32)
    img.fill(QColor("#d9dde1"))
    p = QPainter(img)
    p.setPen(QColor("#a61b1b"))
    m = side // 4
    p.drawLine(m, m, side - m, side - m)
    p.drawLine(side - m, m, m, side - m)
    p.end()
    return img


class ThumbnailCache(QObject):
    ready = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._images: OrderedDict[str, QImage] = OrderedDict()
        self._pending: set[str] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)   # thumbnails must not compete with the analysis
        gui_inbox()   # created here, in the GUI thread
        self._broken = broken_image()
        self._closed = False

    def get(self, path: str) -> QImage | None:
        img = self._images.get(path)
        if img is not None:
            self._images.move_to_end(path)
            return img
        if path not in self._pending and not self._closed:
            self._pending.add(path)
            self._pool.start(_ThumbJob(path, self._on_done))
        return None

    def forget(self, path: str) -> None:
        self._images.pop(path, None)

    def _on_done(self, path: str, image: QImage) -> None:
        self._pending.discard(path)
        if self._closed:
            return
        self._images[path] = image if not image.isNull() else self._broken
        while len(self._images) > MAX_CACHED:
            self._images.popitem(last=False)
        self.ready.emit(path)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self._closed = True
        self._pool.clear()
        self._pool.waitForDone(timeout_ms)
