"""Optional training augmentations (labapp-train --cutmix, --stain-jitter): what they do to a
batch, that they are recorded in the card, and that a run without them draws the same random
numbers as before the options existed."""

import json

import pytest
import torch

from model.augment import AugmentConfig, augment_batch, cutmix, stain_jitter


def _batch(n=6, size=32):
    # Field i is filled with the value i, so every pixel says where it came from.
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size).clone()
    return x, torch.arange(n) % 4


def test_cutmix_pastes_one_rectangle_of_the_partner_and_weights_labels_by_area():
    x, y = _batch()
    g = torch.Generator().manual_seed(3)
    mixed, y_other, lam = cutmix(x.clone(), y, 1.0, g)
    assert 0.0 <= lam < 1.0
    mixed_fields = 0
    for i in range(len(x)):
        foreign = mixed[i][mixed[i] != i]
        if not foreign.numel():  # the permutation paired the field with itself
            assert y_other[i] == y[i]
            continue
        mixed_fields += 1
        partner = int(foreign[0].item())
        assert torch.all(foreign == partner) and y_other[i] == y[partner]
        assert abs((mixed[i] == i).float().mean().item() - lam) < 1e-6
        rows, cols = torch.nonzero(mixed[i, 0] != i, as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert box == rows.numel()  # one solid rectangle
    assert mixed_fields > 0  # the checks above ran on at least one pasted field


def test_cutmix_off_leaves_the_batch_and_the_random_stream_untouched():
    x, y = _batch()
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    out, y_other, lam = cutmix(x.clone(), y, 0.0, g1)
    assert lam == 1.0 and torch.equal(out, x) and torch.equal(y_other, y)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


def _real_fields(real_images):
    """One field of each class, uint8 NHWC."""
    from model.data import read_rgb
    return torch.stack([torch.from_numpy(read_rgb(paths[0]).copy())
                        for paths in real_images(1).values()])


def test_stain_jitter_changes_each_field_mildly_and_keeps_the_range(real_images):
    x = _real_fields(real_images).permute(0, 3, 1, 2).float().div(255)
    out = stain_jitter(x.clone(), 0.05, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    diff = (out - x).abs().mean(dim=(1, 2, 3))
    assert torch.all(diff > 0.002) and torch.all(diff < 0.08)  # visible, not a different stain


def test_stain_jitter_off_draws_nothing_and_augmentation_repeats(real_images):
    batch = _real_fields(real_images)
    mean, std = torch.tensor([0.5] * 3), torch.tensor([0.25] * 3)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = augment_batch(batch, 32, mean, std, AugmentConfig(), g1)
    b = augment_batch(batch, 32, mean, std, AugmentConfig(stain=0.0), g2)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))
    c = augment_batch(batch, 32, mean, std, AugmentConfig(stain=0.1), torch.Generator().manual_seed(5))
    assert not torch.equal(a, c)


@pytest.mark.parametrize("option, key, card_words", [
    (["--cutmix", "0.5"], "cutmix", "CutMix on 50% of batches"),
    (["--stain-jitter", "0.05"], "stain_jitter", "stain jitter of ±0.05")])
def test_a_run_records_its_augmentation_option_in_the_card(tiny_dataset, tmp_path, option, key,
                                                           card_words):
    from model.train import main as train_main
    out = tmp_path / key
    assert train_main([str(tiny_dataset), "--out", str(out), "--epochs", "1", "--img-size", "32",
                       "--batch-size", "8", "--device", "cpu", "--threads", "1", *option]) == 0
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["training"][key] == float(option[1])
    assert card_words in (out / "model" / "MODEL_CARD.md").read_text()


def test_acquisition_shift_off_draws_nothing_and_on_stays_a_smear(real_images):
    from model.augment import acquisition_shift
    x = augment_batch(_real_fields(real_images), 64, torch.zeros(3), torch.ones(3), AugmentConfig(),
                      torch.Generator().manual_seed(1)).contiguous()
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert acquisition_shift(x, 0.0, g1) is x
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))
    shifted = acquisition_shift(x.clone(), 1.0, torch.Generator().manual_seed(7))
    again = acquisition_shift(x.clone(), 1.0, torch.Generator().manual_seed(7))
    assert torch.equal(shifted, again)                      # seeded: the run repeats
    assert shifted.shape == x.shape and 0.0 <= shifted.min() and shifted.max() <= 1.0
    change = (shifted - x).abs().mean(dim=(1, 2, 3))
    assert torch.all(change > 0.002)                       # every field got another acquisition
    # ... and is still a bright-field smear: the background stays the brightest part.
    assert torch.all(shifted.mean(dim=1).flatten(1).quantile(0.9, dim=1) > 0.6)
