"""Metrics, calibration and the block split on hand-made cases (no data, no torch)."""

from pathlib import Path

import numpy as np
import pytest

from model.calibration import choose_low_confidence_threshold, fit_temperature, nll
from model.classes import class_id_for
from model.data import Sample, block_split
from model.metrics import classification_report, confusion_matrix, expected_calibration_error


def test_report_numbers_for_a_hand_made_case():
    # 3 classes; true: A A A B B C; predicted: A A B B B A
    probs = np.array([[.9, .05, .05], [.8, .1, .1], [.3, .6, .1],
                      [.1, .8, .1], [.2, .7, .1], [.5, .2, .3]])
    y = np.array([0, 0, 0, 1, 1, 2])
    rep = classification_report(y, probs, ["A", "B", "C"])
    assert set(rep) >= {"accuracy", "macro_f1", "ece", "n", "per_class", "confusion_matrix", "classes"}
    assert rep["n"] == 6
    assert rep["accuracy"] == pytest.approx(4 / 6)
    assert rep["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    a, b, c = (rep["per_class"][k] for k in "ABC")
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert (b["precision"], b["recall"]) == (pytest.approx(2 / 3), pytest.approx(1.0))
    assert b["f1"] == pytest.approx(0.8)
    assert c["f1"] == 0.0
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)


def test_ece_by_hand():
    # Two bins used: conf 0.9 (both right) and conf 0.6 (one of two right).
    probs = np.array([[.9, .1], [.9, .1], [.6, .4], [.6, .4]])
    y = np.array([0, 0, 0, 1])
    expected = 0.5 * abs(1 - .9) + 0.5 * abs(.5 - .6)
    assert expected_calibration_error(probs, y, 15) == pytest.approx(expected)


def test_confusion_matrix_rows_are_true_classes():
    assert confusion_matrix([0, 1, 1], [1, 1, 0], 2).tolist() == [[0, 1], [1, 1]]


def test_temperature_fixes_overconfident_logits():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 2000)
    logits = rng.normal(0, 1, (2000, 4))
    logits[np.arange(2000), y] += 1.5
    logits *= 4  # overconfident
    t = fit_temperature(logits, y)
    assert t > 2
    assert nll(logits, y, t) < nll(logits, y, 1.0)


def _nll_optimum(logits, y, lo=0.05, hi=20.0, n=4001) -> float:
    grid = np.exp(np.linspace(np.log(lo), np.log(hi), n))
    return float(grid[np.argmin([nll(logits, y, t) for t in grid])])


@pytest.mark.parametrize("scale", [4.0, 0.5], ids=["overconfident", "underconfident"])
def test_temperature_is_the_validation_nll_optimum(scale):
    """The fitted T is the minimum of the NLL (checked by brute force), on either side of 1:
    a wrong T moves every confidence, and so the low-confidence flags."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 400)
    logits = rng.normal(0, 1, (400, 4))
    logits[np.arange(400), y] += 1.5
    logits *= scale
    t = fit_temperature(logits, y)
    assert t == pytest.approx(_nll_optimum(logits, y), rel=2e-3)
    assert (t > 1) == (scale > 1)


def test_nll_of_a_certain_wrong_call_is_large_but_finite():
    # p(label) underflows to 0; the loss is clipped at -log(1e-12) so the fit can still compare.
    assert nll(np.array([[1000.0, 0.0]]), np.array([1]), 1.0) == pytest.approx(-np.log(1e-12))


def test_temperature_stays_within_its_bounds():
    # The label always has the highest logit: sharper is always better, down to the bound
    # (small margins, so the NLL at T = 0.05 is still above rounding).
    logits = np.array([[0.3, 0.0, -0.1], [0.0, 0.2, 0.1], [0.1, 0.0, 0.25]])
    y = np.array([0, 1, 2])
    assert fit_temperature(logits, y) == pytest.approx(0.05, rel=1e-6)
    assert fit_temperature(logits[:1], y[:1]) == pytest.approx(0.05, rel=1e-6)   # one sample
    # The label always has the lowest logit: flatter is always better, up to the bound.
    assert fit_temperature(-logits, y) == pytest.approx(20.0, rel=1e-6)
    assert fit_temperature(-logits, y, hi=5.0) == pytest.approx(5.0, rel=1e-6)
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, int)) == 1.0


def test_low_confidence_threshold_is_the_lowest_that_reaches_the_target():
    # Every call at or above 0.6 is right (the one wrong call sits at 0.55): the floor.
    probs = np.array([[.99, .01], [.97, .03], [.55, .45], [.6, .4]])
    y = np.array([0, 0, 1, 0])
    assert choose_low_confidence_threshold(probs, y) == 0.6
    # A wrong call at 0.80 (the top class's confidence, whichever class that is): just above it.
    probs = np.array([[.99, .01], [.02, .98], [.2, .8], [.1, .9], [.7, .3], [.35, .65]])
    y = np.array([0, 1, 0, 1, 0, 1])
    assert choose_low_confidence_threshold(probs, y) == 0.81
    # 0.995 would need more right calls than 1 in 2 above any threshold: the ceiling.
    probs = np.array([[.97, .03], [.03, .97], [.6, .4]])
    y = np.array([0, 0, 0])
    assert choose_low_confidence_threshold(probs, y) == 0.95
    # A looser target keeps more calls: 2 of 3 right above 0.6 is enough for 0.6.
    assert choose_low_confidence_threshold(probs, y, target_accuracy=0.6) == 0.6
    assert choose_low_confidence_threshold(probs, y, floor=0.7, ceiling=0.9) == 0.9
    # Reaching the target exactly is enough (1 of the 2 calls above 0.7 is right).
    assert choose_low_confidence_threshold(probs, y, target_accuracy=0.5, floor=0.7) == 0.7
    assert choose_low_confidence_threshold(np.zeros((0, 2)), np.zeros(0)) == 0.6
    # One wrong call at 0.97: no threshold up to the ceiling leaves only right calls.
    assert choose_low_confidence_threshold(np.array([[.03, .97]]), np.array([0])) == 0.95


def test_class_names_any_case_and_display_names():
    assert class_id_for("benign") == "Benign"
    assert class_id_for("Early Pre-B ALL") == "Early"
    assert class_id_for("pre-b all") == "Pre"
    assert class_id_for("PRO") == "Pro"
    assert class_id_for("platelets") is None


def _samples():
    out = []
    for cls, n in (("A", 57), ("B", 31)):
        for i in range(1, n + 1):
            sha = f"{cls}{i}"
            if cls == "A" and i % 10 == 5:
                sha = f"{cls}{i - 1}"  # i is a byte-identical copy of i-1
            out.append(Sample(Path(f"/x/{cls}/img-{i:03d}.jpg"), cls, i, sha))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_block_split_keeps_blocks_and_duplicates_on_one_side(seed):
    samples = _samples()
    train, val, desc = block_split(samples, 0.2, 10, seed=seed, gap=2)
    tr, va = {s.path for s in train}, {s.path for s in val}
    assert not tr & va
    # duplicates never straddle
    assert not {s.sha256 for s in train} & {s.sha256 for s in val}
    for cls in ("A", "B"):
        numbers = sorted(s.number for s in val if s.class_id == cls)
        # validation is the described contiguous runs, plus copies of files inside them
        runs = desc["classes"][cls]["val_numbers"]
        covered = {n for a, b in runs for n in range(a, b + 1)}
        in_runs_sha = {s.sha256 for s in val if s.number in covered}
        assert all(s.number in covered or s.sha256 in in_runs_sha for s in val if s.class_id == cls)
        # guard band: no training image within 2 numbers of a validation image (same class)
        train_numbers = {s.number for s in train if s.class_id == cls}
        for n in numbers:
            assert not any(abs(n - t) <= 2 for t in train_numbers)
    assert 0.12 < len(val) / len(samples) < 0.3


def test_block_split_is_reproducible():
    a = block_split(_samples(), seed=3)[2]
    b = block_split(_samples(), seed=3)[2]
    assert a == b


@pytest.mark.parametrize("k", [2, 5])
def test_the_folds_of_one_seed_validate_every_image_exactly_once(k):
    samples = _samples()
    seen: dict = {}
    for i in range(1, k + 1):
        train, val, desc = block_split(samples, n_blocks=10, seed=7, gap=2, fold=(i, k))
        assert desc["fold"] == [i, k] and desc["val_fraction"] == pytest.approx(1 / k)
        assert not {s.path for s in train} & {s.path for s in val}
        assert not {s.sha256 for s in train} & {s.sha256 for s in val}
        for s in val:
            seen[s.path] = seen.get(s.path, 0) + 1
        for cls in ("A", "B"):  # whole blocks: 10 blocks dealt into k folds
            assert len(desc["classes"][cls]["val_blocks"]) == 10 // k
    assert seen == {s.path: 1 for s in samples}


def test_confusion_report_matches_the_classification_report():
    from model.metrics import confusion_report
    probs = np.array([[.9, .05, .05], [.8, .1, .1], [.3, .6, .1], [.1, .8, .1], [.2, .7, .1], [.5, .2, .3]])
    full = classification_report(np.array([0, 0, 0, 1, 1, 2]), probs, ["A", "B", "C"])
    from_cm = confusion_report(full["confusion_matrix"], ["A", "B", "C"])
    assert {k: from_cm[k] for k in ("accuracy", "macro_f1", "n", "per_class")} == \
        {k: full[k] for k in ("accuracy", "macro_f1", "n", "per_class")}
