"""Live camera sources, the focus score and lossless captures with their capture records."""

from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from lab_app.core.camera import (CameraError, SequenceSource, capture_name, focus_ok, focus_score,
                                 open_source, save_capture)
from lab_app.core.imaging import load_rgb
from lab_app.core.pipeline import AnalysisOptions, ImageAnalysed, analyse
from model.inference import InferenceEngine


def test_a_folder_plays_as_a_camera_and_loops(shipped_fields):
    folder = shipped_fields["Pre"][0].parent
    source = open_source(str(folder))
    assert isinstance(source, SequenceSource) and source.name == "Image sequence Pre"
    frames = [source.read() for _ in range(len(list(folder.glob("*.jpg"))) + 1)]
    assert all(f is not None and f.ndim == 3 and f.dtype == np.uint8 for f in frames)
    assert np.array_equal(frames[0], frames[-1])          # looped back to the first field
    source.close()


def test_no_camera_and_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(CameraError, match="No camera found at number 9"):
        open_source("9")
    with pytest.raises(CameraError, match="holds no images"):
        open_source(str(tmp_path))
    with pytest.raises(CameraError, match="neither a camera number"):
        open_source(str(tmp_path / "nothing"))


def test_focus_score_tells_a_sharp_field_from_a_defocused_one(shipped_fields):
    field = load_rgb(shipped_fields["Early"][0]).rgb
    blurred = cv2.GaussianBlur(field, (0, 0), 3)
    assert focus_ok(focus_score(field))
    assert not focus_ok(focus_score(blurred))
    big = cv2.resize(field, (1280, 960), interpolation=cv2.INTER_CUBIC)
    assert abs(focus_score(big) - focus_score(field)) < 0.15   # read at the model's size


def test_capture_is_lossless_named_by_time_and_case_and_carries_its_record(tmp_path, shipped_fields):
    frame = load_rgb(shipped_fields["Pro"][0]).rgb
    when = datetime(2026, 11, 30, 9, 15, 2, 345000, tzinfo=timezone.utc)
    record = save_capture(frame, tmp_path / "case-7", case_id=7, camera="Camera 0 (V4L2)", when=when)
    assert record.path.endswith("20261130-091502-345_case-7.png")
    assert capture_name(None, when) == "20261130-091502-345.png"
    loaded = load_rgb(record.path)
    assert np.array_equal(loaded.rgb, frame)                               # lossless
    assert loaded.capture == {"captured_at": "2026-11-30T09:15:02.345+00:00",
                              "camera": "Camera 0 (V4L2)", "width": frame.shape[1],
                              "height": frame.shape[0]}
    assert load_rgb(shipped_fields["Pro"][0]).capture is None              # ordinary files


def test_analysis_keeps_the_capture_record(tmp_path, shipped_fields, model_dir):
    frame = load_rgb(shipped_fields["Benign"][0]).rgb
    record = save_capture(frame, tmp_path, case_id=1, camera="Image sequence Benign")
    engine = InferenceEngine(model_dir, device="cpu")
    events = [e for e in analyse([record.path], engine, AnalysisOptions()) if isinstance(e, ImageAnalysed)]
    result = events[0].result
    assert result.status == "ok" and result.prediction
    assert result.acquisition["capture"]["camera"] == "Image sequence Benign"
    assert result.to_row()["acquisition"]["capture"]["width"] == frame.shape[1]
