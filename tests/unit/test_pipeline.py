"""The analysis generator: order, events, cancel, resume, flags (real images, CPU)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lab_app.core import pipeline
from lab_app.core.pipeline import (AnalysisOptions, CancelToken, Finished, ImageAnalysed, Progress,
                                   Started, analyse)
from model.inference import InferenceEngine


@pytest.fixture(scope="module")
def engine(model_dir):
    return InferenceEngine(model_dir, device="cpu")


@pytest.fixture(scope="module")
def images(tiny_dataset) -> list[Path]:
    return sorted(tiny_dataset.rglob("*.jpg"))


def test_events_in_order_and_one_result_per_input(engine, images, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    paths = images[:10] + [bad] + images[10:13]
    events = list(analyse(paths, engine, AnalysisOptions(chunk_size=4)))
    assert isinstance(events[0], Started) and events[0].total == 14
    assert isinstance(events[-1], Finished)
    results = [e for e in events if isinstance(e, ImageAnalysed)]
    assert [e.index for e in results] == list(range(14))
    assert [e.result.path for e in results] == [str(p) for p in paths]
    progress = [e.done for e in events if isinstance(e, Progress)]
    assert progress == list(range(1, 15))
    broken = results[10].result
    assert broken.status == "error" and broken.error and broken.prediction is None
    fin = events[-1]
    assert (fin.done, fin.total, fin.failed, fin.cancelled) == (14, 14, 1, False)
    assert fin.timing["images_per_s"] > 0


def test_cancel_stops_early_and_keeps_finished_results(engine, images):
    token = CancelToken()
    seen = []
    for ev in analyse(images, engine, AnalysisOptions(chunk_size=4), token):
        if isinstance(ev, ImageAnalysed):
            seen.append(ev.result)
            token.cancel()
    fin = ev
    assert isinstance(fin, Finished) and fin.cancelled
    assert 1 <= len(seen) <= 8 < len(images)
    assert all(r.status == "ok" and r.prediction for r in seen)


def test_resume_does_not_recompute_done_images(engine, images, monkeypatch):
    first = [e.result for e in analyse(images[:6], engine, AnalysisOptions(chunk_size=4))
             if isinstance(e, ImageAnalysed)]
    calls = []
    real = pipeline.prepare_image
    monkeypatch.setattr(pipeline, "prepare_image", lambda i, p, *a: calls.append(p) or real(i, p, *a))
    done = {r.path: r for r in first[:4]}
    events = [e for e in analyse(images[:6], engine, AnalysisOptions(chunk_size=4), done=done)
              if isinstance(e, ImageAnalysed)]
    assert [e.resumed for e in events] == [True] * 4 + [False] * 2
    assert calls == images[4:6]
    assert [e.result.prediction for e in events] == [r.prediction for r in first]


def test_arrays_kept_for_the_gui(engine, images):
    opts = AnalysisOptions(with_cam=True, keep_arrays=True)
    res = next(e.result for e in analyse(images[:1], engine, opts) if isinstance(e, ImageAnalysed))
    assert res.mask is not None and res.mask.shape == (res.height, res.width)
    n, _ = cv2.connectedComponents((res.mask > 0).astype(np.uint8), connectivity=8)
    assert res.cells == n - 1 >= 1            # the count is the cells the mask outlines
    assert res.cam is not None and res.cam.ndim == 2 and 0 <= res.cam.min() and res.cam.max() <= 1


def test_out_of_scope_image_gets_no_subtype(engine, tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(grey)
    res = next(e.result for e in analyse([grey], engine) if isinstance(e, ImageAnalysed))
    assert res.status == "ok"
    assert "out_of_scope" in res.flags and "no_cells" in res.flags
    assert res.prediction is None and res.confidence is None
    assert res.cells == 0 and res.error is None
    assert res.scope_reason and res.scope_reason.endswith(".")    # the sentence shown beside it


# --- the low-confidence flag, with hand-made model outputs near and across the threshold -----

def scripted(engine, monkeypatch, rows: list[list[float]], distances: list[float] | None = None) -> None:
    """The engine returns ``rows`` (one per field, in order) as its calibrated probabilities,
    and ``distances`` as its feature distances (None: none)."""
    from model.inference import Predictions
    script = iter(np.asarray(rows, np.float64))
    far = iter(distances) if distances is not None else None

    def run(x, with_cam=False):
        n = len(x)
        return Predictions(np.stack([next(script) for _ in range(n)]), None,
                           None if far is None else np.array([next(far) for _ in range(n)]))
    monkeypatch.setattr(engine, "run_preprocessed", run)


# (probabilities over Benign, Early, Pre, Pro; flagged at threshold 0.8). The top class is rarely
# the first, and the first class's probability sits on the other side of the threshold.
NEAR_THE_THRESHOLD = [
    ([0.05, 0.81, 0.07, 0.07], False),   # Early just above; Benign (class 0) far below
    ([0.79, 0.07, 0.07, 0.07], True),    # Benign just below
    ([0.10, 0.10, 0.79, 0.01], True),    # Pre just below
    ([0.80, 0.10, 0.05, 0.05], False),   # exactly at the threshold: not below it
    ([0.85, 0.05, 0.05, 0.05], False),
    ([0.01, 0.01, 0.01, 0.97], False),   # Pro, class 0 near zero
    ([0.30, 0.29, 0.21, 0.20], True),    # a near tie
]


def test_low_confidence_is_the_top_class_below_the_threshold(engine, images, monkeypatch):
    probs = [p for p, _ in NEAR_THE_THRESHOLD]
    scripted(engine, monkeypatch, probs)
    opts = AnalysisOptions(low_confidence_threshold=0.8)
    results = [e.result for e in analyse(images[:len(probs)], engine, opts)
               if isinstance(e, ImageAnalysed)]
    for r, (p, flagged) in zip(results, NEAR_THE_THRESHOLD, strict=True):
        assert r.prediction == engine.classes[int(np.argmax(p))]
        assert r.confidence == max(p)
        assert r.probabilities == dict(zip(engine.classes, p))
        assert r.flags == (["low_confidence"] if flagged else []), (p, r.flags)


def test_without_a_threshold_option_the_model_cards_decides(engine, images, monkeypatch):
    rows = [[0.02, 0.89, 0.05, 0.04], [0.02, 0.05, 0.91, 0.02]]
    monkeypatch.setattr(engine, "low_confidence_threshold", 0.9)
    scripted(engine, monkeypatch, rows)
    got = [e.result.flags for e in analyse(images[:2], engine) if isinstance(e, ImageAnalysed)]
    assert got == [["low_confidence"], []]
    # The option overrides the card, either way.
    scripted(engine, monkeypatch, rows)
    got = [e.result.flags for e in analyse(images[:2], engine, AnalysisOptions(low_confidence_threshold=0.95))
           if isinstance(e, ImageAnalysed)]
    assert got == [["low_confidence"], ["low_confidence"]]
    scripted(engine, monkeypatch, rows)
    got = [e.result.flags for e in analyse(images[:2], engine, AnalysisOptions(low_confidence_threshold=0.5))
           if isinstance(e, ImageAnalysed)]
    assert got == [[], []]


def test_fields_in_memory_get_the_same_flag(engine, images, monkeypatch):
    """analyse_fields (camera frames, the robustness benchmark) applies the same rule."""
    from lab_app.core.imaging import load_rgb
    rows = [p for p, _ in NEAR_THE_THRESHOLD]
    monkeypatch.setattr(engine, "low_confidence_threshold", 0.8)
    scripted(engine, monkeypatch, rows)
    fields = [load_rgb(p).rgb for p in images[:len(rows)]]
    results = pipeline.analyse_fields(fields, engine)
    assert [r.flags for r in results] == [["low_confidence"] if f else [] for _, f in NEAR_THE_THRESHOLD]
    assert [r.prediction for r in results] == [engine.classes[int(np.argmax(p))] for p in rows]


def test_out_of_scope_field_gets_no_call_and_no_low_confidence(engine, tmp_path, monkeypatch):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(grey)
    scripted(engine, monkeypatch, [[0.4, 0.3, 0.2, 0.1]])
    res = next(e.result for e in analyse([grey], engine) if isinstance(e, ImageAnalysed))
    assert res.prediction is None and res.confidence is None
    assert "out_of_scope" in res.flags and "low_confidence" not in res.flags


def test_cut_short_file_is_flagged_as_damaged_not_refused(engine, images, tmp_path):
    """A JPEG cut short loads with its missing part grey: it is analysed, and flagged."""
    intact = next(e.result for e in analyse(images[:1], engine) if isinstance(e, ImageAnalysed))
    assert "damaged_file" not in intact.flags
    data = images[0].read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    res = next(e.result for e in analyse([cut], engine) if isinstance(e, ImageAnalysed))
    assert res.status == "ok" and res.error is None
    assert res.flags[0] == "damaged_file" and res.flags.count("damaged_file") == 1
    assert res.prediction in engine.classes and res.confidence is not None
    assert (res.width, res.height) == (intact.width, intact.height)


# --- what every row records, and the acquisition flags -----------------------------------------

def test_a_row_records_its_file_and_measurements(engine, images, tmp_path):
    import hashlib

    from lab_app.core import focus
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    ok, err = [e.result for e in analyse([images[0], bad], engine) if isinstance(e, ImageAnalysed)]
    assert ok.sha256 == hashlib.sha256(images[0].read_bytes()).hexdigest()
    assert ok.analysed_at and err.analysed_at and ok.analysed_at.endswith("+00:00")
    assert err.status == "error" and "notes.jpg" in err.error and err.flags == ["load_error"]
    acq = ok.acquisition
    assert {"white_balance", "sharpness", "min_sharpness"} <= set(acq)
    # The bundled model reads colours as captured (no white_balance in its model.json).
    assert acq["white_balance"]["model_reads_balanced"] is (engine.preprocess_config.white_balance is not None)
    assert isinstance(acq["sharpness"], float) and acq["sharpness"] == round(acq["sharpness"], 4)
    assert acq["sharpness"] >= focus.MIN_SHARPNESS == acq["min_sharpness"]


def test_cells_are_counted_on_the_field_each_preset_reads(engine, images):
    """The default preset reads the colour-balanced field, the authors' rule the field as
    captured."""
    from lab_app.core.imaging import load_rgb
    from lab_app.core.segmentation import preset, segment
    from model import white_balance
    fields = images[::4][:6]
    for name in ("default", "dataset"):
        opts = AnalysisOptions(segmentation=preset(name))
        got = [e.result.cells for e in analyse(fields, engine, opts) if isinstance(e, ImageAnalysed)]
        want = []
        for p in fields:
            rgb = load_rgb(p).rgb
            if name == "default":
                rgb = white_balance.balance(rgb, white_balance.DATA_SET_BACKGROUND)[0]
            want.append(segment(rgb, preset(name)).count)
        assert got == want, name


def test_unlike_training_by_feature_distance(engine, images, monkeypatch):
    limit = engine.unlike_training_threshold
    rows = [[0.01, 0.97, 0.01, 0.01]] * 3
    scripted(engine, monkeypatch, rows, distances=[limit - 0.01, limit + 0.01, limit])
    results = [e.result for e in analyse(images[:3], engine) if isinstance(e, ImageAnalysed)]
    assert [r.flags for r in results] == [[], ["unlike_training"], []]
    for r, d in zip(results, [limit - 0.01, limit + 0.01, limit]):
        assert r.acquisition["feature_distance"] == round(d, 4)
        assert r.acquisition["max_feature_distance"] == limit
    assert [r.prediction for r in results] == ["Early"] * 3     # flagged, still called


def _background_stats(engine, path):
    from model.white_balance import background_stats
    res = next(e.result for e in analyse([path], engine) if isinstance(e, ImageAnalysed))
    return background_stats(res.acquisition["white_balance"]["background"])


def test_unlike_training_by_the_lamp_for_a_model_reading_colours_as_captured(engine, images,
                                                                            monkeypatch):
    from dataclasses import replace
    monkeypatch.setattr(engine, "preprocess_config", replace(engine.preprocess_config, white_balance=None))
    level, warm, green = _background_stats(engine, images[0])
    slack = pipeline.BACKGROUND_SLACK

    def flags_with(background_range):
        monkeypatch.setattr(engine, "background_range", background_range)
        scripted(engine, monkeypatch, [[0.01, 0.97, 0.01, 0.01]])
        return next(e.result for e in analyse(images[:1], engine) if isinstance(e, ImageAnalysed))

    inside = {"low": [level - 1, warm - 1, green - 1], "high": [level + 1, warm + 1, green + 1]}
    assert flags_with(inside).flags == []
    within_slack = {"low": [level + slack - 0.5, warm, green], "high": [level + 10, warm, green]}
    assert flags_with(within_slack).flags == []
    for i in range(3):                          # below or above, in any of the three statistics
        for side, shift in (("low", slack + 0.5), ("high", -(slack + 0.5))):
            rng = {k: list(v) for k, v in inside.items()}
            rng[side][i] = [level, warm, green][i] + shift
            if side == "low":
                rng["high"][i] = rng["low"][i] + 5
            else:
                rng["low"][i] = rng["high"][i] - 5
            res = flags_with(rng)
            assert res.flags == ["unlike_training"], (i, side)
            assert res.acquisition["background_range"] == rng
    assert flags_with(None).flags == []        # a model without the range: no lamp check
    # A model that reads balanced fields needs no lamp check: the balance removes the lamp.
    monkeypatch.setattr(engine, "preprocess_config",
                        replace(engine.preprocess_config, white_balance=(249.0, 254.0, 251.0)))
    far = {"low": [0, 0, 0], "high": [1, 1, 1]}
    assert "unlike_training" not in flags_with(far).flags


def test_a_blurred_field_is_flagged_out_of_focus(engine, images, tmp_path):
    from PIL import ImageFilter
    blurred = tmp_path / "blurred.png"
    Image.open(images[0]).convert("RGB").filter(ImageFilter.GaussianBlur(6)).save(blurred)
    sharp, soft = [e.result for e in analyse([images[0], blurred], engine) if isinstance(e, ImageAnalysed)]
    assert "out_of_focus" not in sharp.flags
    assert soft.flags.count("out_of_focus") == 1 and None not in soft.flags
    assert soft.acquisition["sharpness"] < soft.acquisition["min_sharpness"]


def test_in_memory_fields_take_the_option_and_the_distances(engine, images, monkeypatch):
    from lab_app.core.imaging import load_rgb
    limit = engine.unlike_training_threshold
    monkeypatch.setattr(engine, "low_confidence_threshold", 0.8)
    scripted(engine, monkeypatch, [[0.02, 0.9, 0.04, 0.04]] * 2, distances=[limit + 1, 0.0])
    fields = [load_rgb(p).rgb for p in images[:2]]
    results = pipeline.analyse_fields(fields, engine, AnalysisOptions(low_confidence_threshold=0.95))
    assert [r.flags for r in results] == [["unlike_training", "low_confidence"], ["low_confidence"]]
    assert [r.path for r in results] == ["field-1", "field-2"]
