"""The analysis pipeline: one generator that both front ends drive.

``analyse()`` yields ``Started``, then for every input an ``ImageAnalysed`` (in input order) and
a ``Progress``, then ``Finished``. The CLI prints and saves what it yields; the GUI worker turns
the events into Qt signals. Cancellation is cooperative through a ``CancelToken``: it is checked
before each chunk (``chunk_size`` images, well under a second of work), and the images already
analysed stay valid.

Speed: decoding, the scope check, segmentation and preprocessing of the next chunk run in a thread
pool while the current chunk is in the model (OpenCV, Pillow and ONNX Runtime release the GIL), so
the CPU stays busy. At most two chunks are in flight, so memory stays flat for any folder size.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.inference import InferenceEngine, top_class_cam
from model import white_balance
from model.preprocessing import balance_field, normalize, resize_field

from . import focus, quality
from .cells import balanced_for_segmentation
from .errors import ImageLoadError
from .imaging import load_rgb
from .overlays import field_pictures
from .results import ImageResult
from .scope import assess_scope, working_hsv
from .segmentation import SegmentationParams, preset, segment
from .vocabulary import (FLAG_DAMAGED_FILE, FLAG_LOAD_ERROR, FLAG_LOW_CONFIDENCE, FLAG_NO_CELLS,
                         FLAG_OUT_OF_FOCUS, FLAG_OUT_OF_SCOPE, FLAG_POOR_CAPTURE,
                         FLAG_UNLIKE_TRAINING)


class CancelToken:
    """Set from any thread; the pipeline stops at the next image boundary."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class AnalysisOptions:
    segmentation: SegmentationParams = field(default_factory=lambda: preset("default"))
    low_confidence_threshold: float | None = None   # None: the model card's threshold
    with_cam: bool = False                           # compute activation maps
    keep_arrays: bool = False                        # attach mask/cam arrays to results (GUI)
    # Attach the report's small pictures (overlays.FieldPictures) and the activation map (with
    # with_cam) to each result, made while the field is decoded (labapp-batch --report).
    keep_pictures: bool = False
    chunk_size: int = 64
    workers: int | None = None                       # preparation threads (default: CPU count)


@dataclass
class Started:
    total: int
    device: str
    model: dict


@dataclass
class ImageAnalysed:
    index: int
    result: ImageResult
    resumed: bool = False


@dataclass
class Progress:
    done: int
    total: int
    path: str


@dataclass
class Finished:
    done: int
    total: int
    failed: int
    cancelled: bool
    timing: dict


Event = Started | ImageAnalysed | Progress | Finished


@dataclass
class _Prepared:
    index: int
    result: ImageResult
    tensor: np.ndarray | None = None   # (3, S, S) float32, None when not to be classified
    stage_s: dict = field(default_factory=dict)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def new_result(path: str | Path, engine: InferenceEngine, opts: AnalysisOptions) -> ImageResult:
    """An empty row for one input, with the provenance every row carries."""
    return ImageResult(path=str(path), segmentation=opts.segmentation.to_json(),
                       model={k: engine.info[k] for k in ("name", "version", "sha256")},
                       device=engine.device_label)


def prepare_image(index: int, path: Path, engine: InferenceEngine, opts: AnalysisOptions) -> _Prepared:
    """Load one image file and prepare it (``prepare_field``). Never raises for a bad file."""
    t0 = time.perf_counter()
    res = new_result(path, engine, opts)
    try:
        img = load_rgb(path)
    except ImageLoadError as exc:
        res.status, res.error, res.flags = "error", str(exc), [FLAG_LOAD_ERROR]
        res.analysed_at = _now()
        return _Prepared(index, res, None, {"load": time.perf_counter() - t0})
    res.sha256 = img.sha256
    if img.truncated:
        res.flags.append(FLAG_DAMAGED_FILE)
    # A huge JPEG arrives reduced (imaging.WORKING_PIXELS); the quality measures still read
    # the field at its own resolution, and the row keeps the file's size.
    prep = prepare_field(index, res, img.rgb, engine, opts,
                         quality_field=img.quality_crop() if img.scale > 1 else None)
    if img.scale > 1:
        res.width, res.height = img.width, img.height
        res.acquisition["decoded_scale"] = img.scale
    if img.capture:
        res.acquisition["capture"] = img.capture   # time, camera, resolution of a live capture
    prep.stage_s["load"] = time.perf_counter() - t0 - sum(prep.stage_s.values())
    return prep


def prepare_field(index: int, res: ImageResult, rgb: np.ndarray, engine: InferenceEngine,
                  opts: AnalysisOptions, quality_field: np.ndarray | None = None) -> _Prepared:
    """Colour constancy, segmentation, scope and focus checks, and the model's input for one
    RGB uint8 field (a decoded file or a camera frame); ``res`` receives what they find.
    ``quality_field``: what the capture-quality measures read when ``rgb`` is a reduced decode
    (its central crop at full resolution); None: ``rgb``."""
    t1 = time.perf_counter()
    res.height, res.width = rgb.shape[:2]
    pre = engine.preprocess_config
    # Segmentation and the scope check always read the field balanced to the data set's
    # background (their rules were written for it), so another lamp moves the mask and the
    # scope verdict as little as possible, and the viewer and gallery redraw the same cells
    # (cells.segment_like_analysis). A model trained on colours as captured (up to 2.3.0)
    # still gets them so, lifted only when darker than all its training fields; one trained
    # balanced gets its own reference. The data set authors' rule reads the colours as
    # captured, pixel for pixel.
    exposure = None
    if pre.white_balance is not None and tuple(pre.white_balance) == white_balance.DATA_SET_BACKGROUND:
        balanced, balance = model_input, _ = balance_field(rgb, pre)
    else:
        balanced, balance = balanced_for_segmentation(rgb)
        model_input, model_balance = balance_field(rgb, pre, balance.background)
        if pre.white_balance is not None:
            balance = model_balance
        else:
            exposure = model_balance
    seg_input = rgb if opts.segmentation.preset == "dataset" else balanced
    hsv = working_hsv(balanced)   # one conversion for the segmentation and the scope check
    seg = segment(seg_input, opts.segmentation, hsv if seg_input is balanced else None)
    res.cells = seg.count
    if seg.count == 0:
        res.flags.append(FLAG_NO_CELLS)
    scope = assess_scope(balanced, seg, hsv)
    if not scope.in_scope:
        res.flags.append(FLAG_OUT_OF_SCOPE)
        res.scope_reason = scope.reason  # shown beside the flag
    if opts.keep_arrays:
        res.mask = seg.mask
    if opts.keep_pictures:
        res.pictures = field_pictures(rgb, seg)
    t2 = time.perf_counter()
    field_in = resize_field(model_input, pre.input_size)
    grey = focus.grey_field(field_in)   # the capture check reads it too when it is the field
    sharpness = focus.sharpness(field_in, grey)
    if not focus.in_focus(sharpness):
        res.flags.append(FLAG_OUT_OF_FOCUS)
    res.acquisition = {"white_balance": dict(balance.to_json(),
                                             model_reads_balanced=pre.white_balance is not None),
                       "sharpness": round(sharpness, 4), "min_sharpness": focus.MIN_SHARPNESS}
    if exposure is not None and exposure.background is not None and (
            exposure.gains != white_balance.IDENTITY or exposure.fallback):
        res.acquisition["exposure"] = {"gain": round(exposure.gains[0], 4),
                                       "floor": pre.exposure_floor, "fallback": exposure.fallback}
    if pre.white_balance is None and _lamp_unlike_training(
            balance.background, exposure.gains[0] if exposure else 1.0, engine.background_range):
        res.acquisition["background_range"] = engine.background_range
        res.flags.append(FLAG_UNLIKE_TRAINING)
    captured = quality.measure(rgb if quality_field is None else quality_field,   # as captured
                               grey if quality_field is None and field_in is rgb else None)
    res.acquisition["quality"] = captured.to_json()
    if not captured.ok:
        res.flags.append(FLAG_POOR_CAPTURE)
    tensor = normalize(field_in[None], pre)[0]
    t3 = time.perf_counter()
    return _Prepared(index, res, tensor, {"segment": t2 - t1, "preprocess": t3 - t2})


# Levels of slack beyond the training fields' background range (JPEG and rounding).
BACKGROUND_SLACK = 3.0


def _lamp_unlike_training(background, exposure_gain: float, background_range: dict | None) -> bool:
    """A model that reads colours as captured, on a field whose background (the lamp's colour
    and the exposure, after the exposure floor's gain) lies outside every training field's: its
    call cannot be trusted."""
    if not background_range or background is None:
        return False
    low, high = background_range["low"], background_range["high"]
    seen = tuple(v * exposure_gain for v in background)
    return any(v < lo - BACKGROUND_SLACK or v > hi + BACKGROUND_SLACK
               for v, lo, hi in zip(white_balance.background_stats(seen), low, high))


def _finish(prep: _Prepared, probs: np.ndarray, cam: np.ndarray | None, distance: float | None,
            engine: InferenceEngine, threshold: float, keep_arrays: bool) -> ImageResult:
    res = prep.result
    res.probabilities = {c: float(p) for c, p in zip(engine.classes, probs)}
    top = int(np.argmax(probs))
    if distance is not None:
        res.acquisition["feature_distance"] = round(float(distance), 4)
        res.acquisition["max_feature_distance"] = engine.unlike_training_threshold
        if distance > engine.unlike_training_threshold and FLAG_UNLIKE_TRAINING not in res.flags:
            res.flags.append(FLAG_UNLIKE_TRAINING)
    if FLAG_OUT_OF_SCOPE in res.flags:
        # No confident subtype for something that is not a smear field.
        res.prediction, res.confidence = None, None
    else:
        res.prediction, res.confidence = engine.classes[top], float(probs[top])
        if res.confidence < threshold:
            res.flags.append(FLAG_LOW_CONFIDENCE)
    if keep_arrays and cam is not None:
        res.cam = top_class_cam(probs, cam)[0]
    res.analysed_at = _now()
    return res


def analyse_fields(fields: list[np.ndarray], engine: InferenceEngine,
                   options: AnalysisOptions | None = None,
                   names: list[str] | None = None) -> list[ImageResult]:
    """The whole analysis of RGB uint8 fields held in memory (camera frames, benchmarks): the
    same steps and flags as ``analyse`` gives files, in one batch."""
    opts = options or AnalysisOptions()
    opts.segmentation.validate()
    threshold = (engine.low_confidence_threshold if opts.low_confidence_threshold is None
                 else opts.low_confidence_threshold)
    names = names or [f"field-{i + 1}" for i in range(len(fields))]
    prepared = [prepare_field(i, new_result(name, engine, opts), rgb, engine, opts)
                for i, (name, rgb) in enumerate(zip(names, fields))]
    if not prepared:
        return []
    preds = engine.run_preprocessed(np.stack([p.tensor for p in prepared]), with_cam=opts.with_cam)
    return [_finish(p, preds.probabilities[j], preds.cams[j] if preds.cams is not None else None,
                    preds.distances[j] if preds.distances is not None else None,
                    engine, threshold, opts.keep_arrays or opts.keep_pictures)
            for j, p in enumerate(prepared)]


def _mark_duplicate(result: ImageResult, first_of: dict[str, str]) -> None:
    """A byte-identical input keeps its own row and names the first one (results.json/csv,
    the case, the window and the report count and show it; nothing is merged away)."""
    if not result.sha256:
        return
    first = first_of.setdefault(result.sha256, result.path)
    result.duplicate_of = first if first != result.path else None


def analyse(paths: Iterable[str | Path], engine: InferenceEngine, options: AnalysisOptions | None = None,
            cancel: CancelToken | None = None,
            done: Mapping[str, ImageResult] | None = None) -> Iterator[Event]:
    """Analyse ``paths`` in order. ``done`` maps paths to results of an earlier, interrupted run:
    they are yielded again (``resumed=True``) instead of being recomputed."""
    opts = options or AnalysisOptions()
    opts.segmentation.validate()
    cancel = cancel or CancelToken()
    done = done or {}
    paths = [Path(p) for p in paths]
    total = len(paths)
    threshold = (engine.low_confidence_threshold if opts.low_confidence_threshold is None
                 else opts.low_confidence_threshold)
    t_start = time.perf_counter()
    stage = {"load": 0.0, "segment": 0.0, "preprocess": 0.0, "inference": 0.0}
    yield Started(total, engine.device_label, engine.info)

    n_done = n_failed = 0
    todo: list[tuple[int, Path]] = []
    first_of: dict[str, str] = {}    # sha256 -> the first input with those bytes
    for i, p in enumerate(paths):
        if str(p) in done:
            n_done += 1
            n_failed += done[str(p)].status != "ok"
            _mark_duplicate(done[str(p)], first_of)
            yield ImageAnalysed(i, done[str(p)], resumed=True)
            yield Progress(n_done, total, str(p))
        else:
            todo.append((i, p))

    chunks = [todo[i:i + opts.chunk_size] for i in range(0, len(todo), opts.chunk_size)]
    workers = opts.workers or min(4, os.cpu_count() or 1)
    cancelled = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labapp-prepare") as pool:
        def submit(chunk) -> list[Future]:
            return [pool.submit(prepare_image, i, p, engine, opts) for i, p in chunk]

        pending = submit(chunks[0]) if chunks else []
        for k in range(len(chunks)):
            if cancel.cancelled:
                cancelled = True
                break
            prepared = [f.result() for f in pending]
            # Start preparing the next chunk before this one enters the model.
            pending = submit(chunks[k + 1]) if k + 1 < len(chunks) and not cancel.cancelled else []
            for prep in prepared:
                for key, v in prep.stage_s.items():
                    stage[key] += v
            ready = [p for p in prepared if p.tensor is not None]
            t0 = time.perf_counter()
            preds = (engine.run_preprocessed(np.stack([p.tensor for p in ready]), with_cam=opts.with_cam)
                     if ready else None)
            stage["inference"] += time.perf_counter() - t0
            row = {id(p): j for j, p in enumerate(ready)}
            for prep in prepared:
                if prep.tensor is not None:
                    j = row[id(prep)]
                    _finish(prep, preds.probabilities[j],
                            preds.cams[j] if preds.cams is not None else None,
                            preds.distances[j] if preds.distances is not None else None,
                            engine, threshold, opts.keep_arrays or opts.keep_pictures)
                    prep.tensor = None
                n_done += 1
                n_failed += prep.result.status != "ok"
                _mark_duplicate(prep.result, first_of)
                yield ImageAnalysed(prep.index, prep.result)
                yield Progress(n_done, total, prep.result.path)
        for f in pending:
            f.cancel()
    wall = time.perf_counter() - t_start
    timing = {"wall_s": round(wall, 3), "images_per_s": round(n_done / wall, 2) if wall > 0 else None,
              **{f"{k}_s": round(v, 3) for k, v in stage.items()}}
    yield Finished(n_done, total, n_failed, cancelled, timing)
