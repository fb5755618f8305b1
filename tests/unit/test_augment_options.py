"""Training augmentation options kept in labapp-train (--acquisition), and how the cards of runs
trained with the options that left it (CutMix, stain jitter; rejected in
docs/model-development.md) still describe them."""

import copy

import pytest
import torch

from model.augment import AugmentConfig, augment_batch


def _real_fields(real_images):
    """One field of each class, uint8 NHWC."""
    from model.data import read_rgb
    return torch.stack([torch.from_numpy(read_rgb(paths[0]).copy())
                        for paths in real_images(1).values()])


@pytest.mark.parametrize("key, value, card_words", [
    ("cutmix", 0.5, "CutMix on 50% of batches"),
    ("stain_jitter", 0.05, "stain jitter of ±0.05")])
def test_the_card_of_a_run_trained_with_a_removed_option_still_says_so(model_dir, key, value,
                                                                        card_words):
    from model.model_card import render_model_card
    from model.modeldir import read_model_json
    meta = copy.deepcopy(read_model_json(model_dir))
    assert card_words not in render_model_card(meta)
    meta["training"][key] = value
    assert card_words in render_model_card(meta)


@pytest.mark.parametrize("option", ["--cutmix", "--stain-jitter"])
def test_the_removed_augmentation_options_are_usage_errors(option, tmp_path, capsys):
    from model.train import main as train_main
    with pytest.raises(SystemExit) as exit_info:
        train_main([str(tmp_path), "--out", str(tmp_path / "run"), option, "0.5"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


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
