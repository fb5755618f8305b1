"""The analysis generator: order, events, cancel, resume, flags (real images, CPU)."""

from __future__ import annotations

from pathlib import Path

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
    assert res.cam is not None and res.cam.ndim == 2 and 0 <= res.cam.min() and res.cam.max() <= 1


def test_out_of_scope_image_gets_no_subtype(engine, tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(grey)
    res = next(e.result for e in analyse([grey], engine) if isinstance(e, ImageAnalysed))
    assert res.status == "ok"
    assert "out_of_scope" in res.flags and "no_cells" in res.flags
    assert res.prediction is None and res.confidence is None


def test_low_confidence_threshold_flags(engine, images):
    opts = AnalysisOptions(low_confidence_threshold=1.01)  # nothing is that confident
    results = [e.result for e in analyse(images[:3], engine, opts) if isinstance(e, ImageAnalysed)]
    assert all("low_confidence" in r.flags for r in results)
    opts = AnalysisOptions(low_confidence_threshold=0.0)
    results = [e.result for e in analyse(images[:3], engine, opts) if isinstance(e, ImageAnalysed)]
    assert not any("low_confidence" in r.flags for r in results)


def test_cut_short_file_is_flagged_as_damaged(engine, images, tmp_path):
    data = images[0].read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    res = next(e.result for e in analyse([cut], engine) if isinstance(e, ImageAnalysed))
    if res.status == "ok":
        assert "damaged_file" in res.flags
    else:
        assert res.error
