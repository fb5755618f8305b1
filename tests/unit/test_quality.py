"""The poor_capture flag: over-exposure, heavy JPEG compression and sensor noise, on real fields."""

from __future__ import annotations

import numpy as np
import pytest

from lab_app.core.imaging import load_rgb
from lab_app.core.pipeline import analyse_fields
from lab_app.core.quality import MAX_BLOCKINESS, MAX_BLOWN_OUT, MAX_NOISE, measure
from lab_app.core.results import flag_reason
from model import shifts
from model.inference import InferenceEngine


@pytest.fixture(scope="module")
def fields(shipped_fields):
    return [load_rgb(p).rgb for paths in shipped_fields.values() for p in paths]


def test_real_fields_are_good_captures(fields):
    for q in map(measure, fields):
        assert q.ok, q
        assert q.blown_out < MAX_BLOWN_OUT and q.blockiness < MAX_BLOCKINESS and q.noise < MAX_NOISE


@pytest.mark.parametrize("shift,measure_name,sentence", [
    ("exposure_up", "blown_out", "Over-exposed"),
    ("jpeg_q30", "blockiness", "Heavily compressed"),
    ("jpeg_q15", "blockiness", "Heavily compressed"),
    ("sensor_noise", "noise", "Noisy"),
])
def test_each_problem_is_measured_and_named(fields, shift, measure_name, sentence):
    rng = np.random.default_rng(0)
    for rgb in fields[::4]:
        q = measure(shifts.SHIFTS[shift](rgb, rng))
        assert not q.ok
        assert any(p.startswith(sentence) for p in q.problems())


def test_colour_and_focus_shifts_are_not_poor_captures(fields):
    """Lamp, stain and focus have their own checks; they rarely read as a poor capture (a pale
    stain leaves the data set's own mild JPEG grid relatively stronger: 1 field in 32)."""
    rng = np.random.default_rng(0)
    for shift in ("exposure_down", "stain_pale", "defocus", "camera_half_resolution"):
        assert sum(not measure(shifts.SHIFTS[shift](rgb, rng)).ok for rgb in fields) <= 1, shift


def test_big_captures_are_read_at_their_own_resolution(fields):
    import cv2
    big = cv2.resize(fields[0], (896, 896), interpolation=cv2.INTER_CUBIC)   # a 4x camera
    assert measure(big).ok
    assert not measure(shifts.jpeg(big, 15)).ok


def test_pipeline_flags_it_with_the_reason(fields, model_dir):
    engine = InferenceEngine(model_dir, device="cpu")
    rng = np.random.default_rng(0)
    noisy = [shifts.noise(fields[0], 8.0, rng)]
    (res,) = analyse_fields(noisy, engine)
    assert "poor_capture" in res.flags
    assert res.acquisition["quality"]["noise"] > MAX_NOISE
    assert flag_reason("poor_capture", res).startswith("Noisy: noise")
    (clean,) = analyse_fields(fields[:1], engine)
    assert "poor_capture" not in clean.flags and clean.acquisition["quality"]["blockiness"] < 1.5


def test_the_same_field_measures_the_same_in_any_thread(fields):
    """Results files must not depend on which worker thread measured a field (cv2.magnitude
    gave the noise figure a different last digit in another thread)."""
    from concurrent.futures import ThreadPoolExecutor
    alone = [measure(f).to_json() for f in fields]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(lambda f: measure(f).to_json(), fields)) == alone
