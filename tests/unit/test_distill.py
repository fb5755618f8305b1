"""Distillation (the former labapp-train --distill, tried and rejected in
docs/model-development.md): the option is gone, but model dirs trained with it still say so in
their cards, and a refit of such a recipe is refused with a sentence. Real images, tiny runs."""

import json
import shutil

import pytest

from model.errors import RemovedOptionError

pytestmark = pytest.mark.data

SMALL = ["--epochs", "1", "--img-size", "32", "--batch-size", "8", "--threads", "1",
         "--device", "cpu", "--keep", "last"]


@pytest.fixture(scope="module")
def plain(tiny_dataset, tmp_path_factory):
    """A finished fixed-schedule model dir, trained without distillation."""
    from model.train import main as train_main
    out = tmp_path_factory.mktemp("plain")
    assert train_main([str(tiny_dataset), "--out", str(out), *SMALL]) == 0
    return out / "model"


def _distilled_copy(plain, tmp_path):
    """The plain model dir as a distilled run of before the option left recorded it."""
    copy = tmp_path / "distilled"
    shutil.copytree(plain, copy)
    meta = json.loads((copy / "model.json").read_text())
    teacher = {"name": meta["name"], "version": meta["version"], "sha256": meta["sha256"],
               "dir": "cv96-f1/model"}
    meta["training"].update(distill_weight=0.7, distill_temperature=2.0, distill_teachers=[teacher])
    (copy / "model.json").write_text(json.dumps(meta))
    return copy, meta


def test_a_plain_run_states_no_distillation(plain):
    t = json.loads((plain / "model.json").read_text())["training"]
    assert (t["distill_weight"], t["distill_temperature"], t["distill_teachers"]) == (0.0, 0.0, [])
    assert "distilled" not in (plain / "MODEL_CARD.md").read_text()


def test_the_card_of_a_distilled_run_still_names_its_teachers(plain, tmp_path):
    from model.model_card import render_model_card
    _, meta = _distilled_copy(plain, tmp_path)
    card = render_model_card(meta)
    assert "distilled from 1 teacher model (mobilenetv2-all 1.0.0 in cv96-f1/model)" in card
    assert "70% of the loss" in card and "temperature 2." in card


def test_a_refit_of_a_distilled_recipe_is_refused(plain, tiny_dataset, tmp_path, capsys):
    from model.train import TrainConfig, train
    from model.train import main as train_main
    recipe, _ = _distilled_copy(plain, tmp_path)
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "s"), *SMALL,
                       "--refit", str(recipe)]) == 1
    err = capsys.readouterr().err
    assert "--distill-weight 0.7" in err and "no longer has" in err
    cfg = TrainConfig(data_dirs=[str(tiny_dataset)], out=str(tmp_path / "t"), epochs=1, img_size=32,
                      batch_size=8, threads=1, device="cpu", keep="last", refit=str(recipe))
    with pytest.raises(RemovedOptionError, match="cannot repeat it"):
        train(cfg)
    assert not (tmp_path / "t" / "checkpoint_last.pt").exists()   # refused before any training


@pytest.mark.parametrize("option", [["--distill", "x"], ["--distill-weight", "0.5"],
                                    ["--distill-temperature", "2"]])
def test_the_distillation_options_are_gone(option, tmp_path, capsys):
    from model.train import main as train_main
    with pytest.raises(SystemExit) as exit_info:
        train_main([str(tmp_path), "--out", str(tmp_path / "run"), *option])
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
