"""One report assembly for the three front ends: labapp-batch --report, the window's export and
labapp-report. Each front end gathers the stored case, the model's card, the lab settings and
the pictures at hand, and calls ``write_case_report``; nothing else differs between them.

The confidence threshold is one concept (``confidence_threshold``): the model's calibrated
low-confidence threshold from its card, unless the lab sets its own in the settings (or the
batch is run with --threshold), and the report says which it is.

Pictures (``ReportPictures``): what the analysis already made is used as is, and only what is
not at hand is made again from the files. labapp-batch --report keeps each field's small
pictures and its activation map while the analysis streams (``KeptPictures``: JPEG files in a
temporary folder, so memory stays flat however many images there are); the window after
reopening a case and labapp-report have nothing at hand and redraw from the files (the
activation maps only where a model is loaded).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .case_models import CaseImage
from .errors import ImageLoadError
from .imaging import load_rgb
from .overlays import blend_cam, decode_jpeg, segmentation_overlay_for
from .results import ImageResult

if TYPE_CHECKING:
    from .report import ConfidenceThreshold

log = logging.getLogger(__name__)

def confidence_threshold(model_threshold: float | None,
                         lab_threshold: float | None = None) -> ConfidenceThreshold | None:
    """The lab's threshold where it set one, else the model's calibrated one; None when neither
    is known (the report then marks no call)."""
    from .report import LAB_THRESHOLD, MODEL_THRESHOLD, ConfidenceThreshold
    if lab_threshold is not None:
        return ConfidenceThreshold(float(lab_threshold), LAB_THRESHOLD)
    if model_threshold is not None:
        return ConfidenceThreshold(float(model_threshold), MODEL_THRESHOLD)
    return None


# ------------------------------------------------------------------------------- pictures
class KeptPictures:
    """The report's pictures of each field, kept from the analysis as it streams.

    ``keep(result)`` takes the result's ``pictures`` (made by the pipeline with
    ``AnalysisOptions.keep_pictures``) and its activation map (``cam``, a few hundred bytes), writes
    the pictures to a temporary folder and drops them from the result. ``close()`` (or leaving the
    ``with`` block) removes the folder.
    """

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="labapp-report-"))
        self._files: dict[str, tuple[Path, Path]] = {}
        self._cams: dict[str, np.ndarray] = {}

    def keep(self, result: ImageResult) -> None:
        pictures = result.pictures
        result.pictures = None
        if result.cam is not None:
            self._cams[result.path] = result.cam
        if pictures is None:
            return
        n = len(self._files)
        original, outlines = self._dir / f"{n}-original.jpg", self._dir / f"{n}-outlines.jpg"
        try:
            original.write_bytes(pictures.original)
            outlines.write_bytes(pictures.outlines)
        except OSError as exc:  # a full temp disk costs the pictures, never the results
            log.warning("report pictures of %s not kept (%s); they are redrawn", result.path, exc)
            return
        self._files[result.path] = (original, outlines)

    def original(self, path: str) -> np.ndarray | None:
        return self._read(path, 0)

    def outlines(self, path: str) -> np.ndarray | None:
        return self._read(path, 1)

    def cam(self, path: str) -> np.ndarray | None:
        return self._cams.get(path)

    @property
    def has_cams(self) -> bool:
        return bool(self._cams)

    def _read(self, path: str, which: int) -> np.ndarray | None:
        files = self._files.get(path)
        if files is None:
            return None
        try:
            return decode_jpeg(files[which].read_bytes())
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
        self._files.clear()
        self._cams.clear()

    def __enter__(self) -> KeptPictures:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReportPictures:
    """The report's image providers: kept pictures where the analysis left them, else redrawn
    from the file (outlines with the stored segmentation parameters; the activation map only
    with an ``engine``)."""

    def __init__(self, kept: KeptPictures | None = None, engine: Any = None) -> None:
        self.kept = kept
        self.engine = engine

    @property
    def has_activation(self) -> bool:
        return self.engine is not None or (self.kept is not None and self.kept.has_cams)

    def original(self, image: CaseImage) -> Any:
        kept = self.kept.original(image.path) if self.kept else None
        return kept if kept is not None else load_original(image)

    def segmentation(self, image: CaseImage) -> np.ndarray | None:
        kept = self.kept.outlines(image.path) if self.kept else None
        if kept is not None:
            return kept
        return segmentation_overlay_for(image.path, image.result.segmentation)

    def activation(self, image: CaseImage) -> np.ndarray | None:
        cam = self.kept.cam(image.path) if self.kept else None
        if cam is not None:
            field = self.kept.original(image.path)
            if field is None:
                field = _rgb(load_original(image))
            return blend_cam(field, cam) if field is not None else None
        if self.engine is None:
            return None
        from model.inference import top_class_cam
        try:
            rgb = load_rgb(image.path).rgb
        except ImageLoadError:
            return None
        preds = self.engine.predict([rgb], with_cam=True)
        return blend_cam(rgb, top_class_cam(preds.probabilities[0], preds.cams[0])[0])


def load_original(image: CaseImage) -> Any:
    # reportlab (report_images, report) is imported when a report is made: labapp-batch
    # without --report starts about 0.3 s of CPU sooner.
    from .report_images import load_original as load
    return load(image)


def _rgb(pil: Any) -> np.ndarray | None:
    return None if pil is None else np.asarray(pil.convert("RGB"))


# ------------------------------------------------------------------------------- assembly
def write_case_report(store: Any, case_id: int, out_path: str | os.PathLike[str], *,
                      pictures: ReportPictures,
                      model_meta: Mapping[str, Any] | None = None,
                      model_metrics: Mapping[str, Any] | None = None,
                      lab_threshold: float | None = None,
                      page_size: str = "A4",
                      include_appendix: bool | None = None,
                      overwrite: bool = False) -> Path:
    """Write the PDF report of a stored case atomically; returns the path.

    ``model_meta`` is the model card (model.json) the case was analysed with, where known: it gives
    the calibrated threshold. ``model_metrics`` are the validation figures the footer quotes
    (``report.card_metrics`` of a card; None: those recorded with the results). ``lab_threshold`` is
    the lab's own threshold, None for the model's. ``include_appendix`` None: an appendix when
    there are activation maps to show. Raises ReportError (a sentence for the technician) or
    CaseStoreError for an unknown case.
    """
    from .report import build_report
    threshold = confidence_threshold((model_meta or {}).get("low_confidence_threshold"), lab_threshold)
    with_maps = pictures.has_activation
    return build_report(
        store, case_id, out_path, page_size=page_size,
        include_appendix=with_maps if include_appendix is None else include_appendix,
        overwrite=overwrite, image_loader=pictures.original,
        overlay_provider=pictures.segmentation,
        cam_provider=pictures.activation if with_maps else None,
        model_metrics=model_metrics, confidence_threshold=threshold)
