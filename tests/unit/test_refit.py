"""Fixed-schedule runs (--keep last), refits on every image (--refit) and reproduced splits
(--split), on real images."""

import json
import shutil

import pytest

from model.errors import DataError
from model.inference import InferenceEngine

pytestmark = pytest.mark.data

SMALL = ["--epochs", "1", "--img-size", "32", "--batch-size", "8", "--threads", "1",
         "--device", "cpu"]


@pytest.fixture(scope="module")
def recipe(tiny_dataset, tmp_path_factory):
    """A validated fixed-schedule run: the recipe a refit repeats."""
    from model.train import main as train_main
    out = tmp_path_factory.mktemp("recipe")
    assert train_main([str(tiny_dataset), "--out", str(out), "--keep", "last", *SMALL]) == 0
    return out / "model"


def test_keep_last_keeps_the_final_epoch_and_says_so(tiny_dataset, tmp_path):
    import torch

    from model.train import main as train_main
    out = tmp_path / "last"
    assert train_main([str(tiny_dataset), "--out", str(out), "--keep", "last", *SMALL,
                       "--epochs", "2"]) == 0
    kept = torch.load(out / "best.pt", weights_only=True)
    final = torch.load(out / "checkpoint_last.pt", weights_only=False)["model"]
    assert all(torch.equal(kept[k], final[k]) for k in kept)
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["training"]["keep"] == "last" and meta["training"]["epochs_run"] == 2
    assert "the last kept (fixed schedule)" in (out / "model" / "MODEL_CARD.md").read_text()
    assert meta["training"]["color_jitter"] == 0.10


def test_a_stronger_colour_jitter_is_recorded(tiny_dataset, tmp_path):
    from model.train import main as train_main
    out = tmp_path / "jitter"
    assert train_main([str(tiny_dataset), "--out", str(out), *SMALL, "--color-jitter", "0.25"]) == 0
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["training"]["color_jitter"] == 0.25
    assert "saturation jitter of ±0.25" in (out / "model" / "MODEL_CARD.md").read_text()


def test_a_refit_trains_on_every_image_and_carries_the_recipes_figures(
        recipe, tiny_dataset, tmp_path):
    from model.train import main as train_main
    out = tmp_path / "refit"
    assert train_main([str(tiny_dataset), "--out", str(out), *SMALL, "--refit", str(recipe)]) == 0
    split = json.loads((out / "split.json").read_text())
    assert split["refit"] and split["val"] == [] and len(split["train"]) == 32
    meta = json.loads((out / "model" / "model.json").read_text())
    source = json.loads((recipe / "model.json").read_text())
    assert meta["temperature"] == source["temperature"]
    assert meta["low_confidence_threshold"] == source["low_confidence_threshold"]
    assert meta["metrics"]["confusion_matrix"] == source["metrics"]["confusion_matrix"]
    assert "no held-out figures of their own" in meta["metrics"]["measured_on"]
    assert meta["training"]["refit"] == str(recipe) and meta["training"]["keep"] == "last"
    assert all(c["train"] == 8 and c["val"] == 0 for c in meta["training"]["data"]["counts"].values())
    card = (out / "model" / "MODEL_CARD.md").read_text()
    assert "**refit**" in card and source["training"]["command"] in card
    assert "Metrics (validation split of the recipe run" in card
    InferenceEngine(out / "model", device="cpu")  # loads: sha256 and parity hold


@pytest.mark.parametrize("change, message", [(["--lr", "0.5"], "lr 0.002"),
                                             (["--epochs", "2"], "epochs 1"),
                                             (["--ema", "0.5"], "ema 0.0"),
                                             (["--weight-decay", "0.1"], "weight-decay 0.05"),
                                             (["--color-jitter", "0.25"], "color-jitter 0.1"),
                                             (["--acquisition", "0.5"], "acquisition 0.0")])
def test_a_refit_that_does_not_repeat_its_recipe_is_refused(
        recipe, tiny_dataset, tmp_path, capsys, change, message):
    from model.train import main as train_main
    args = [str(tiny_dataset), "--out", str(tmp_path / "bad"), *SMALL, *change,
            "--refit", str(recipe)]
    assert train_main(args) == 1
    err = capsys.readouterr().err
    assert "must repeat the recipe" in err and message in err


@pytest.mark.parametrize("key, value, option", [("context_swap", 0.5, "--context-swap 0.5"),
                                               ("cutmix", 0.5, "--cutmix 0.5"),
                                               ("stain_jitter", 0.05, "--stain-jitter 0.05")])
def test_a_refit_of_a_recipe_with_a_removed_option_is_refused(
        recipe, tiny_dataset, tmp_path, capsys, key, value, option):
    """Model dirs trained with an option labapp-train no longer has (docs/model-development.md
    rejected them) still load; a refit cannot repeat them and must not train something else."""
    from model.errors import RemovedOptionError
    from model.train import TrainConfig, train
    from model.train import main as train_main
    old = tmp_path / "old-recipe"
    shutil.copytree(recipe, old)
    meta = json.loads((old / "model.json").read_text())
    meta["training"][key] = value
    (old / "model.json").write_text(json.dumps(meta))
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "bad"), *SMALL,
                       "--refit", str(old)]) == 1
    err = capsys.readouterr().err
    assert f"was trained with {option}" in err and "no longer has" in err
    cfg = TrainConfig(data_dirs=[str(tiny_dataset)], out=str(tmp_path / "bad2"), epochs=1,
                      img_size=32, batch_size=8, threads=1, device="cpu", refit=str(old))
    with pytest.raises(RemovedOptionError):
        train(cfg)


def test_a_refit_needs_a_fixed_schedule_recipe(tiny_trained_model, tiny_dataset, tmp_path, capsys):
    from model.train import main as train_main
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "bad"), *SMALL,
                       "--refit", str(tiny_trained_model)]) == 1
    assert "--keep last" in capsys.readouterr().err


def test_fine_tuning_a_refit_model_validates_only_on_images_it_has_not_seen(
        recipe, tiny_dataset, real_images, tmp_path):
    from model.train import TrainConfig, train
    from model.train import main as train_main
    refit = tmp_path / "refit"
    assert train_main([str(tiny_dataset), "--out", str(refit), *SMALL, "--refit", str(recipe)]) == 0
    # Only images the refit model trained on: nothing can validate.
    cfg = TrainConfig(data_dirs=[str(tiny_dataset)], out=str(tmp_path / "none"), epochs=1,
                      batch_size=8, threads=1, device="cpu", init=str(refit / "model"))
    with pytest.raises(DataError, match="trained on every image"):
        train(cfg)
    # A lab's own new images beside the original ones: those validate.
    lab = tmp_path / "lab"
    seen = {p.name for p in tiny_dataset.rglob("*.jpg")}
    for cls, files in real_images(24).items():
        (lab / cls).mkdir(parents=True)
        for f in [f for f in files if f.name not in seen][:6]:
            shutil.copy(f, lab / cls / f.name)
    cfg = TrainConfig(data_dirs=[str(tiny_dataset), str(lab)], out=str(tmp_path / "ft"), epochs=1,
                      batch_size=8, threads=1, device="cpu", init=str(refit / "model"))
    train(cfg)
    split = json.loads((tmp_path / "ft" / "split.json").read_text())
    assert split["val"] and all(r.split("/")[-1] not in seen for r in split["val"])
    assert not set(split["val"]) & set(split["train"])


def test_a_written_split_is_reproduced(tiny_trained_model, tiny_dataset, tmp_path):
    from model.train import main as train_main
    written = json.loads((tiny_trained_model.parent / "split.json").read_text())
    out = tmp_path / "again"
    assert train_main([str(tiny_dataset), "--out", str(out), *SMALL, "--split",
                       str(tiny_trained_model.parent / "split.json")]) == 0
    again = json.loads((out / "split.json").read_text())
    assert sorted(again["train"]) == sorted(written["train"])
    assert sorted(again["val"]) == sorted(written["val"])
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "x"), *SMALL,
                       "--split", str(broken)]) == 1


def test_a_refit_cut_short_by_its_time_budget_is_not_exported_until_resumed(
        tiny_dataset, tmp_path, capsys):
    from model.train import main as train_main
    two = [*SMALL, "--epochs", "2"]
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "recipe"), "--keep", "last",
                       *two]) == 0
    args = [str(tiny_dataset), "--out", str(tmp_path / "refit"), *two,
            "--refit", str(tmp_path / "recipe" / "model")]
    assert train_main(args + ["--max-minutes", "0.000001"]) == 1
    assert "--resume" in capsys.readouterr().err
    assert not (tmp_path / "refit" / "model").exists()
    import torch
    first_part = torch.load(tmp_path / "refit" / "checkpoint_last.pt",
                            weights_only=False)["state"]["seconds"]
    assert train_main(args + ["--resume"]) == 0
    meta = json.loads((tmp_path / "refit" / "model" / "model.json").read_text())
    assert meta["training"]["epochs_run"] == 2
    # The card's training time covers both processes, not only the one that finished.
    run = json.loads((tmp_path / "refit" / "run.json").read_text())
    assert run["seconds"] >= first_part + run["history"][-1]["seconds"]


def test_a_refit_accepts_a_recipe_re_exported_against_pixel_identical_files(
        recipe, tiny_dataset, tmp_path):
    """A recipe trained on the GPU's lossless copy and re-exported here records both file-list
    hashes; a refit on either copy repeats it."""
    from model.train import main as train_main
    moved = tmp_path / "recipe"
    shutil.copytree(recipe, moved)
    meta = json.loads((moved / "model.json").read_text())
    data = meta["training"]["data"]
    data["file_list_sha256_as_trained"] = data["file_list_sha256"]
    data["file_list_sha256"] = "0" * 64  # the hash of the other copy's bytes
    (moved / "model.json").write_text(json.dumps(meta))
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "refit"), *SMALL,
                       "--refit", str(moved)]) == 0


def test_a_refit_on_other_images_is_refused(recipe, tiny_dataset, tmp_path, capsys):
    from model.train import main as train_main
    other = tmp_path / "other"
    shutil.copytree(tiny_dataset, other)
    next((other / "Pre").iterdir()).unlink()
    assert train_main([str(other), "--out", str(tmp_path / "refit"), *SMALL,
                       "--refit", str(recipe)]) == 1
    assert "a refit must use the same data" in capsys.readouterr().err


def test_the_committed_gpu_recipe_can_be_refitted_on_the_data_set(data_dir, tmp_path):
    """bench/gpu/recipe-plain-224-s1 is the model.json of a finished --keep last run (H200,
    session 5): the next GPU lease refits it on every image (docs/model-development.md)."""
    from pathlib import Path

    from model.train import TrainConfig, _collect, _refit_recipe
    recipe_dir = Path(__file__).resolve().parents[2] / "bench" / "gpu" / "recipe-plain-224-s1"
    cfg = TrainConfig(data_dirs=[str(data_dir / "Original")], out=str(tmp_path), img_size=224,
                      epochs=80, refit=str(recipe_dir))
    samples, _, _ = _collect(cfg, None)
    assert _refit_recipe(cfg, samples)["training"]["keep"] == "last"
