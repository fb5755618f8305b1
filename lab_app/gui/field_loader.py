"""Loading one field for the viewer, off the GUI thread.

A ``FieldJob`` reads the file (``load_rgb``, the pipeline's loader) and segments it with the given
parameters; then, when an engine is available, it computes the activation map of the top class
(MobileNetV2 CAM: no backward pass, a few milliseconds) and sends it as a second message. Results carry the request number so the
viewer can drop answers to requests it no longer needs (fast keyboard navigation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QRunnable
from PySide6.QtGui import QImage

from .inbox import gui_inbox
from .worker import background_priority

log = logging.getLogger(__name__)


@dataclass
class FieldData:
    request: int
    path: str
    rgb: np.ndarray | None = None
    image: QImage | None = None        # the field, ready to show
    seg: Any = None                    # SegmentationResult
    cam: np.ndarray | None = None      # [0, 1] map of the top class, model resolution
    cam_class: str | None = None
    error: str | None = None
    cam_only: bool = False             # a second message: the activation map of a field shown


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    h, w = rgb.shape[:2]
    rgb = np.ascontiguousarray(rgb)
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()


class FieldJob(QRunnable):
    """Load (unless ``rgb`` is given), segment and, with an engine, compute the CAM."""

    def __init__(self, request: int, path: str, params: Any, done: Callable[[FieldData], None],
                 engine: Any = None, rgb: np.ndarray | None = None, image: QImage | None = None,
                 want_cam: bool = True) -> None:
        super().__init__()
        self.request = request
        self.path = path
        self.params = params
        self.done = done
        self.engine = engine
        self.rgb = rgb
        self.image = image
        self.want_cam = want_cam

    def run(self) -> None:
        background_priority()
        data = self._load()
        inbox = gui_inbox()
        inbox.post(self.done, data)   # ``done`` runs on the GUI thread
        # The activation map comes second: during an analysis the engine is busy with a chunk
        # for a moment, and the field should not wait for it.
        if data.error is None and self.engine is not None and self.want_cam:
            cam, cls = self._cam(data.rgb)
            inbox.post(self.done, FieldData(self.request, self.path, data.rgb, data.image, data.seg,
                                            cam, cls, cam_only=True))

    def _load(self) -> FieldData:
        from lab_app.core.errors import ImageLoadError, SegmentationError
        from lab_app.core.imaging import load_rgb
        from lab_app.core.cells import segment_like_analysis

        data = FieldData(self.request, self.path, self.rgb, self.image)
        try:
            if data.rgb is None:
                data.rgb = load_rgb(self.path).rgb
            if data.image is None:
                data.image = rgb_to_qimage(data.rgb)
            data.seg = segment_like_analysis(data.rgb, self.params)   # the analysis's cells
        except (ImageLoadError, SegmentationError) as exc:
            data.error = str(exc)
        return data

    def _cam(self, rgb: np.ndarray) -> tuple[np.ndarray | None, str | None]:
        from model.errors import ModelError
        from model.inference import top_class_cam
        try:
            preds = self.engine.predict([rgb], with_cam=True)
        except (ModelError, RuntimeError, ValueError) as exc:
            log.warning("no activation map for %s: %s", self.path, exc)
            return None, None
        if preds.cams is None:
            return None, None
        cam, top = top_class_cam(preds.probabilities[0], preds.cams[0])
        return cam, self.engine.classes[top]
