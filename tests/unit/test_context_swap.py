"""The context swap (training augmentation) and the context check (labapp-eval), on real fields."""

import json

import numpy as np
import pytest

from model.context_swap import background_plate, build_context_bank, cell_mask, paste, soft_alpha
from model.data import read_rgb

pytestmark = pytest.mark.data


def _stain_fraction(rgb: np.ndarray) -> float:
    from lab_app.core.segmentation import segment
    return float((segment(rgb).mask > 0).mean())


@pytest.fixture(scope="module")
def fields(real_images):
    return [read_rgb(p) for files in real_images(3).values() for p in files]


def test_cell_mask_covers_the_cells_the_application_segments(fields):
    from lab_app.core.segmentation import segment
    for rgb in fields:
        cells = segment(rgb).mask > 0
        if cells.sum() == 0:
            continue
        covered = (cell_mask(rgb) > 0)[cells].mean()
        assert covered >= 0.95, f"the cell mask misses {1 - covered:.0%} of the segmented cells"


def test_background_plate_has_the_cells_removed(fields):
    checked = 0
    for rgb in fields:
        mask = cell_mask(rgb)
        before = _stain_fraction(rgb)
        if before == 0 or mask.mean() / 255 > 0.25:
            continue
        plate = background_plate(rgb, mask)
        assert plate.shape == rgb.shape and plate.dtype == np.uint8
        assert _stain_fraction(plate) <= 0.2 * before   # a rim at most, no cell left
        checked += 1
    assert checked >= 3


def test_paste_keeps_the_cells_and_takes_the_rest_from_the_plate(fields):
    rgb, other = fields[0], fields[-1]
    plate = background_plate(other, cell_mask(other))
    mask = cell_mask(rgb)
    alpha = soft_alpha(mask)
    out = paste(rgb, alpha, plate)
    inside, outside = alpha == 255, alpha == 0
    assert np.abs(out[inside].astype(int) - rgb[inside]).max() <= 1
    assert np.abs(out[outside].astype(int) - plate[outside]).max() <= 1


def test_context_bank_makes_plates_only_from_sparse_fields(fields):
    from model.preprocessing import resize_field
    store = np.stack([resize_field(f, 96) for f in fields])
    bank = build_context_bank(store)
    assert bank.alphas.shape == store.shape[:3]
    assert len(bank.plates) == len(bank.plate_source) >= 1
    for i in bank.plate_source:
        assert cell_mask(store[i]).mean() / 255 <= 0.25


def test_swap_in_augmentation_replaces_the_background_and_draws_nothing_when_off():
    import torch

    from model.augment import _swap_context
    x = torch.zeros(4, 3, 8, 8)
    alphas = torch.zeros(4, 8, 8, dtype=torch.uint8)
    alphas[:, :4] = 255                                  # top half: the field's own cells
    plates = torch.full((2, 8, 8, 3), 255, dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    _swap_context(x, alphas, plates, 1.0, g)
    assert torch.all(x[:, :, :4] == 0) and torch.all(x[:, :, 4:] == 1)

    from model.augment import AugmentConfig, augment_batch
    batch = torch.randint(0, 255, (2, 16, 16, 3), dtype=torch.uint8)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    mean, std = torch.tensor([0.5] * 3), torch.tensor([0.25] * 3)
    a = augment_batch(batch, 8, mean, std, AugmentConfig(), g1)
    b = augment_batch(batch, 8, mean, std, AugmentConfig(context_swap=0.0), g2,
                      alphas=alphas[:2, :, :].repeat(1, 2, 2), plates=plates)
    assert torch.equal(a, b)                            # off: same output, same random draws


def test_training_with_context_swap_is_recorded_in_the_card(tiny_dataset, tmp_path):
    pytest.importorskip("torch")
    from model.train import main as train_main
    out = tmp_path / "run"
    assert train_main([str(tiny_dataset), "--out", str(out), "--epochs", "1", "--img-size", "32",
                       "--batch-size", "8", "--threads", "1", "--context-swap", "0.5"]) == 0
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["training"]["context_swap"] == 0.5
    card = (out / "model" / "MODEL_CARD.md").read_text()
    assert "context swap with probability 0.5" in card
    # Every export measures the swap on its validation fields and quotes it in the card.
    cc = meta["metrics"]["context_check"]
    assert cc["n"] >= 1 and 0.0 <= cc["calls_changed"] <= 1.0
    assert "Context check (labapp-eval --context-check)" in card


def test_eval_context_check_reports_swapped_accuracy(model_dir, tiny_dataset, tmp_path):
    from model.evaluate import main as eval_main
    out = tmp_path / "eval.json"
    assert eval_main([str(tiny_dataset), "--model", str(model_dir), "--context-check",
                      "--json", str(out)]) == 0
    cc = json.loads(out.read_text())["context_check"]
    assert cc["n"] == 32                                # every field found a donor of another class
    for key in ("accuracy_original", "accuracy_swapped", "calls_changed"):
        assert 0.0 <= cc[key] <= 1.0
    rep = json.loads(out.read_text())
    assert cc["accuracy_original"] == pytest.approx(rep["accuracy"])
