"""Block cross-validation: labapp-train --fold I/K and labapp-crossval, on real images."""

import json

import pytest

pytestmark = pytest.mark.data

SMALL = ["--epochs", "1", "--img-size", "32", "--batch-size", "8", "--threads", "1",
         "--device", "cpu", "--keep", "last", "--gap", "0"]


@pytest.fixture(scope="module")
def two_folds(tiny_dataset, tmp_path_factory):
    from model.train import main as train_main
    dirs = []
    for i in (1, 2):
        out = tmp_path_factory.mktemp(f"fold{i}")
        assert train_main([str(tiny_dataset), "--out", str(out), "--fold", f"{i}/2", *SMALL]) == 0
        dirs.append(out / "model")
    return dirs


def test_two_folds_validate_every_image_once_and_pool(two_folds, tiny_dataset, tmp_path, capsys):
    from model.crossval import main as crossval_main
    vals = [set(json.loads((d.parent / "split.json").read_text())["val"]) for d in two_folds]
    assert not vals[0] & vals[1] and len(vals[0] | vals[1]) == 32
    meta = json.loads((two_folds[0] / "model.json").read_text())
    assert meta["training"]["split"]["fold"] == [1, 2]
    assert "fold 1 of a 2-fold block cross-validation" in (two_folds[0] / "MODEL_CARD.md").read_text()

    out = tmp_path / "cv.json"
    assert crossval_main([*map(str, two_folds), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    folds = [json.loads((d / "model.json").read_text())["metrics"] for d in two_folds]
    assert result["pooled"]["n"] == 32 and result["missing_folds"] == []
    right = sum(sum(m["confusion_matrix"][i][i] for i in range(4)) for m in folds)
    assert result["pooled"]["accuracy"] == pytest.approx(right / 32)
    assert "pooled out-of-fold: n=32" in capsys.readouterr().out


def test_a_fold_given_twice_or_a_missing_fold_is_said(two_folds, capsys):
    from model.crossval import main as crossval_main, pool_folds
    assert crossval_main([str(two_folds[0]), str(two_folds[0])]) == 1
    assert "Fold 1 is given twice" in capsys.readouterr().err
    assert pool_folds([two_folds[1]])["missing_folds"] == [1]


def test_folds_of_different_recipes_are_not_pooled(two_folds, tiny_dataset, tmp_path, capsys):
    from model.crossval import main as crossval_main
    from model.train import main as train_main
    out = tmp_path / "other"
    assert train_main([str(tiny_dataset), "--out", str(out), "--fold", "2/2", *SMALL,
                       "--lr", "0.01"]) == 0
    assert crossval_main([str(two_folds[0]), str(out / "model")]) == 1
    assert "folds of different recipes cannot be pooled" in capsys.readouterr().err


def test_a_run_that_is_not_a_fold_is_refused(tiny_trained_model, capsys):
    from model.crossval import main as crossval_main
    assert crossval_main([str(tiny_trained_model)]) == 1
    assert "not trained as a cross-validation fold" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["0/5", "6/5", "1/1", "two/5"])
def test_a_malformed_fold_is_a_usage_error(bad, capsys):
    from model.train import build_parser
    with pytest.raises(SystemExit):
        build_parser().parse_args(["data", "--out", "x", "--fold", bad])
    assert "--fold" in capsys.readouterr().err


def test_a_fold_cannot_be_combined_with_a_written_split(two_folds, tiny_dataset, tmp_path, capsys):
    from model.train import main as train_main
    split = two_folds[0].parent / "split.json"
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "x"), "--fold", "1/2",
                       "--split", str(split), *SMALL]) == 1
    assert "cannot be combined with --split" in capsys.readouterr().err
