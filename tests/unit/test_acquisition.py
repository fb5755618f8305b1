"""Acquisition robustness: colour constancy, the focus and unlike-training flags, tinted blanks,
and the robustness benchmark's fast mode (real sample fields, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lab_app.core import focus
from lab_app.core.pipeline import AnalysisOptions, analyse_fields
from lab_app.core.results_io import colour_balance_text
from lab_app.core.results import (FLAG_LOW_CONFIDENCE, FLAG_OUT_OF_FOCUS, FLAG_UNLIKE_TRAINING,
                                  ImageResult, flag_reason, white_balance_note)
from model import ood, white_balance
from model.data import read_rgb
from model.inference import InferenceEngine
from model.shifts import BLANK_TINTS, SHIFTS, blur, channel_gain, tinted_blank

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "samples").glob("*.jpg"))
REFERENCE = (249.0, 255.0, 252.0)


@pytest.fixture(scope="module")
def engine(model_dir):
    return InferenceEngine(model_dir, device="cpu")


@pytest.fixture(scope="module")
def fields():
    return [read_rgb(p) for p in SAMPLES]


# Darker in one channel or all: a gain above 1 clips the near-white backgrounds of the data set
# at 255, and what clipping took no balance can give back.
@pytest.mark.parametrize("gains", [(0.9, 1.0, 0.96), (0.96, 1.0, 0.9), (0.8, 0.8, 0.8),
                                   (0.92, 0.85, 0.95)])
def test_white_balance_undoes_a_lamp_colour_and_exposure(fields, gains):
    for rgb in fields:
        shifted = channel_gain(rgb, gains)
        a, wb_a = white_balance.balance(rgb, REFERENCE)
        b, wb_b = white_balance.balance(shifted, REFERENCE)
        assert wb_a.fallback is None and wb_b.fallback is None
        # The lamp's gains are found ...
        found = np.array(wb_b.gains) / np.array(wb_a.gains)
        assert found == pytest.approx([1 / g for g in gains], rel=0.02)
        # ... and the balanced fields agree to a few levels.
        diff = np.abs(a.astype(int) - b.astype(int))
        assert np.median(diff) <= 3 and np.percentile(diff, 95) <= 12


def test_a_field_without_background_is_left_as_captured_and_says_so(engine, fields):
    dark = (fields[0] // 5).astype(np.uint8)                  # nothing bright to read the lamp from
    no_blue = fields[1].copy()
    no_blue[:, :, 2] = 20                                      # no lamp gives a background like this
    for rgb in (dark, no_blue):
        out, wb = white_balance.balance(rgb, REFERENCE)
        assert out is rgb and wb.gains == white_balance.IDENTITY and wb.fallback
    rows = analyse_fields([dark, no_blue], engine)
    for row in rows:
        note = white_balance_note(row)
        assert note and note.startswith("Colour left as captured")
        assert row.acquisition["white_balance"]["fallback"]
        assert row.needs_review


def test_a_model_reading_balanced_colours_keeps_its_call_under_another_lamp(tiny_trained_model,
                                                                           fields):
    engine = InferenceEngine(tiny_trained_model, device="cpu")
    assert engine.preprocess_config.white_balance is not None
    base = analyse_fields(fields, engine)
    for gains in ((0.9, 1.0, 0.96), (0.96, 1.0, 0.9), (0.8, 0.8, 0.8)):
        shifted = analyse_fields([channel_gain(f, gains) for f in fields], engine)
        for a, b in zip(base, shifted):
            assert b.prediction == a.prediction, gains
            assert b.confidence == pytest.approx(a.confidence, abs=0.02), gains


def test_viewer_and_gallery_redraw_the_cells_the_analysis_counted_for_any_model(
        tiny_trained_model, engine, fields):
    """Segmentation reads the field balanced to the data set's background whichever colours the
    model reads, so the viewer's outlines and the gallery (segment_like_analysis) match the
    analysis's count also for a model trained on balanced colours of its own reference."""
    from lab_app.core.cells import segment_like_analysis
    from lab_app.core.segmentation import preset
    balanced_model = InferenceEngine(tiny_trained_model, device="cpu")
    assert tuple(balanced_model.preprocess_config.white_balance) != \
        white_balance.DATA_SET_BACKGROUND
    for eng in (engine, balanced_model):
        rows = analyse_fields(fields, eng, AnalysisOptions(keep_arrays=True))
        for rgb, row in zip(fields, rows):
            redrawn = segment_like_analysis(rgb, preset("default"))
            assert row.cells == redrawn.count
            assert np.array_equal(row.mask.astype(bool), redrawn.mask.astype(bool))


def test_a_lamp_shift_is_flagged_when_the_model_reads_colours_as_captured(engine, fields):
    assert engine.preprocess_config.white_balance is None and engine.background_range
    base = analyse_fields(fields, engine)
    for name in ("lamp_warm", "lamp_cool"):
        shifted = analyse_fields([SHIFTS[name](f, None) for f in fields], engine)
        for a, b in zip(base, shifted):
            assert FLAG_UNLIKE_TRAINING in b.flags, (name, b.path)
            assert "lamp" in flag_reason(FLAG_UNLIKE_TRAINING, b)


def test_an_under_exposed_field_is_lifted_to_the_training_range_and_keeps_its_call(engine, fields):
    """An exposure change is one gain on every channel: lifting a field darker than every
    training background to the darkest of them gives the call back (the tint stays)."""
    floor = engine.preprocess_config.exposure_floor
    assert floor == engine.background_range["low"][0]
    base = analyse_fields(fields, engine)
    for gain in (0.85, 0.75, 0.6):
        shifted = analyse_fields([channel_gain(f, (gain, gain, gain)) for f in fields], engine)
        for a, b in zip(base, shifted):
            assert FLAG_UNLIKE_TRAINING not in b.flags, (gain, b.path)
            assert b.prediction == a.prediction, (gain, b.path)
            assert b.confidence == pytest.approx(a.confidence, abs=0.02), (gain, b.path)
            lifted = b.acquisition["exposure"]["gain"]
            assert lifted > 1.0 and b.acquisition["exposure"]["fallback"] is None
            assert "exposure x" in colour_balance_text(b.acquisition)
            assert white_balance_note(b).startswith("Under-exposed: brightened x")
    for a in base:   # fields exposed like the training data are left exactly as they were
        assert "exposure" not in a.acquisition


def test_a_field_too_dark_to_lift_is_flagged_and_says_why(engine, fields):
    rows = analyse_fields([channel_gain(f, (0.4, 0.4, 0.4)) for f in fields], engine)
    for row in rows:
        assert FLAG_UNLIKE_TRAINING in row.flags, row.path
        assert "too dark" in row.acquisition["exposure"]["fallback"]
        assert "too dark" in colour_balance_text(row.acquisition)
        assert "more light" in white_balance_note(row)


def test_bundled_samples_raise_no_new_flag(engine, fields):
    for row in analyse_fields(fields, engine):
        assert set(row.flags) <= {FLAG_LOW_CONFIDENCE}, (row.path, row.flags)
        assert row.acquisition["sharpness"] >= focus.MIN_SHARPNESS
        assert row.acquisition["white_balance"]["fallback"] is None


def test_badly_blurred_fields_are_flagged_out_of_focus(engine, fields):
    rows = analyse_fields([blur(f, 3.0) for f in fields], engine)
    for row in rows:
        assert FLAG_OUT_OF_FOCUS in row.flags
        assert "refocus" in flag_reason(FLAG_OUT_OF_FOCUS, row)


def test_sharpness_is_independent_of_contrast(fields):
    rgb = fields[0]
    faded = (255 - (255 - rgb.astype(np.float32)) * 0.5).astype(np.uint8)
    assert focus.sharpness(faded) == pytest.approx(focus.sharpness(rgb), abs=0.05)
    assert focus.sharpness(np.full((224, 224, 3), 240, np.uint8)) == 1.0   # nothing to judge


@pytest.mark.parametrize("noise", [0.0, 6.0])
def test_tinted_blank_slides_are_never_called_without_a_flag(engine, noise):
    rng = np.random.default_rng(2)
    rows = analyse_fields([tinted_blank(224, t, noise, rng) for t in BLANK_TINTS], engine)
    for tint, row in zip(BLANK_TINTS, rows):
        assert row.flags, (tint, noise, row.prediction, row.confidence)


def test_feature_density_ranks_far_points_as_unlike():
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 5, (3, 40))
    labels = np.repeat(np.arange(3), 200)
    feats = centres[labels] + rng.normal(0, 1, (600, 40))
    density = ood.fit(feats, labels, components=10)
    typical = density.distances(centres[[0, 1, 2]] + rng.normal(0, 1, (3, 40)))
    far = density.distances(centres[[0]] + 8.0)
    assert typical.max() < 3 and far[0] > 10 * typical.max()


def test_feature_density_round_trips_and_its_file_is_checked(engine, model_dir, tmp_path):
    assert engine.feature_density is not None and engine.unlike_training_threshold > 0
    path = tmp_path / ood.FILENAME
    engine.feature_density.save(path)
    again = ood.FeatureDensity.load(path)
    x = np.random.default_rng(4).random((5, again.means.shape[1]))
    assert np.allclose(again.distances(x), engine.feature_density.distances(x), rtol=1e-5)


def test_unlike_training_flag_carries_its_reason():
    row = ImageResult(path="x.png", flags=[FLAG_UNLIKE_TRAINING],
                      acquisition={"feature_distance": 3.2, "max_feature_distance": 1.9})
    text = flag_reason(FLAG_UNLIKE_TRAINING, row)
    assert "3.20" in text and "1.90" in text and "unlike the images" in text


def test_changed_feature_density_is_refused(model_dir, tmp_path):
    import shutil

    from model.errors import ModelLoadError
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    with open(copy / ood.FILENAME, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelLoadError):
        InferenceEngine(copy, device="cpu")


def test_robustness_benchmark_fast_mode_runs(tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "robustness", Path(__file__).resolve().parents[2] / "bench" / "robustness.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "robustness.json"
    assert bench.main(["--fast", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["fields"] == len(SAMPLES) and report["in_domain"]["n"] == len(SAMPLES)
    assert set(report["shifts"]) >= set(SHIFTS) | {"blur_severe"}
    assert report["shifts"]["blur_severe"]["flagged"] == 1.0
    assert report["blanks"]["called_unflagged"] == 0
    for name in ("lamp_warm", "lamp_cool"):
        assert report["shifts"][name]["mask_iou"] >= 0.9
    assert "| lamp_warm |" in capsys.readouterr().out


def test_upgrade_gives_an_older_model_dir_the_checks(tiny_trained_model, tiny_dataset, tmp_path):
    import shutil

    from model.errors import DataError
    from model.upgrade import main as upgrade_main
    from model.upgrade import upgrade
    old = tmp_path / "old"
    shutil.copytree(tiny_trained_model, old)
    meta = json.loads((old / "model.json").read_text())
    for key in ("white_balance", "feature_density", "background_range"):   # as before 2.3.0
        meta.pop(key, None)
    (old / ood.FILENAME).unlink()
    (old / "model.json").write_text(json.dumps(meta))
    new = tmp_path / "new"
    assert upgrade_main([str(old), "--data-dir", str(tiny_dataset), "--out", str(new),
                         "--version", "9.9.9", "--no-white-balance"]) == 0
    got = json.loads((new / "model.json").read_text())
    assert got["version"] == "9.9.9" and "white_balance" not in got
    assert got["feature_density"]["threshold"] > 0 and got["background_range"]["n"] > 0
    assert "Upgraded from" in (new / "MODEL_CARD.md").read_text()
    engine = InferenceEngine(new, device="cpu")           # the density's checksum holds
    assert engine.feature_density is not None and engine.background_range
    # A refit has no held-out fields: the threshold must come from a model of the same recipe.
    split = json.loads((old / "split.json").read_text())
    (old / "split.json").write_text(json.dumps(dict(split, train=split["train"] + split["val"],
                                                    val=[])))
    with pytest.raises(DataError, match="threshold-from"):
        upgrade(old, [str(tiny_dataset)], tmp_path / "refit", "9.9.10", white_balance=False)
    upgrade(old, [str(tiny_dataset)], tmp_path / "refit", "9.9.10", threshold_from=new,
            white_balance=False)
    refit = json.loads((tmp_path / "refit" / "model.json").read_text())
    assert "held-out ratio" in refit["feature_density"]["threshold_from"]
