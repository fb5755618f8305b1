"""Distillation (labapp-train --distill): what the teachers contribute, that it is recorded, and
that a teacher which could inflate the validation figures is refused. Real images, tiny runs."""

import json
import shutil

import numpy as np
import pytest

from model.errors import DataError
from model.inference import InferenceEngine

pytestmark = pytest.mark.data

SMALL = ["--epochs", "1", "--img-size", "32", "--batch-size", "8", "--threads", "1",
         "--device", "cpu", "--keep", "last"]


@pytest.fixture(scope="module")
def teacher(tiny_dataset, tmp_path_factory):
    """A finished model dir trained on the default split's training images (so it never saw
    that split's validation images)."""
    from model.train import main as train_main
    out = tmp_path_factory.mktemp("teacher")
    assert train_main([str(tiny_dataset), "--out", str(out), *SMALL]) == 0
    return out / "model"


def test_a_distilled_run_records_its_teachers_and_loads(teacher, tiny_dataset, tmp_path):
    from model.train import main as train_main
    out = tmp_path / "student"
    assert train_main([str(tiny_dataset), "--out", str(out), *SMALL, "--seed", "1",
                       "--distill", str(teacher)]) == 0
    meta = json.loads((out / "model" / "model.json").read_text())
    source = json.loads((teacher / "model.json").read_text())
    t = meta["training"]
    assert (t["distill_weight"], t["distill_temperature"]) == (0.7, 2.0)
    assert [c["sha256"] for c in t["distill_teachers"]] == [source["sha256"]]
    card = (out / "model" / "MODEL_CARD.md").read_text()
    assert "distilled from 1 teacher model" in card and "70% of the loss" in card
    InferenceEngine(out / "model", device="cpu")


def test_a_plain_run_states_no_distillation(teacher):
    t = json.loads((teacher / "model.json").read_text())["training"]
    assert (t["distill_weight"], t["distill_temperature"], t["distill_teachers"]) == (0.0, 0.0, [])
    assert "distilled" not in (teacher / "MODEL_CARD.md").read_text()


def test_teachers_see_the_student_input_in_their_own_normalisation(teacher, real_images):
    """The student normalises with its own training set's mean and std; a teacher trained on
    other images has others. Its probabilities must be those of the field it would see itself."""
    import torch

    from model.architecture import build_model
    from model.data import read_rgb
    from model.distill import load_teachers
    from model.preprocessing import PreprocessConfig, preprocess, resize_field

    meta = json.loads((teacher / "model.json").read_text())
    fields = [resize_field(read_rgb(p[0]), 32) for p in real_images(1).values()]
    student_pre = PreprocessConfig(32, (0.5, 0.6, 0.7), (0.2, 0.25, 0.3))
    own_pre = PreprocessConfig(32, tuple(meta["mean"]), tuple(meta["std"]))
    teachers = load_teachers([str(teacher)], tuple(meta["classes"]), 32, student_pre.mean,
                             student_pre.std, [], torch.device("cpu"), temperature=2.0)
    got = teachers.probabilities(torch.from_numpy(preprocess(fields, student_pre))).numpy()
    net = build_model(len(meta["classes"]))
    net.load_state_dict(torch.load(teacher / "weights.pt", weights_only=True))
    with torch.no_grad():
        want = torch.softmax(net.eval()(torch.from_numpy(preprocess(fields, own_pre))) / 2.0, 1)
    assert np.allclose(got, want.numpy(), atol=1e-5)
    assert np.allclose(got.sum(1), 1.0, atol=1e-5)


def test_soft_cross_entropy_is_smallest_where_the_student_matches_the_teacher():
    import torch

    from model.distill import soft_cross_entropy
    teacher_logits = torch.tensor([[2.0, 0.5, -1.0, 0.0]])
    target = torch.softmax(teacher_logits / 2.0, 1)
    at_match = soft_cross_entropy(teacher_logits, target, 2.0)
    assert soft_cross_entropy(teacher_logits + torch.tensor([[0.0, 1.0, 0.0, 0.0]]), target, 2.0) > at_match
    assert soft_cross_entropy(teacher_logits * 2, target, 2.0) > at_match
    entropy = -(target * target.log()).sum() * 4.0  # tau^2 * H(target): the minimum of CE
    assert torch.isclose(at_match, entropy)


def _teacher_copy(teacher, tmp_path, edit_split):
    copy = tmp_path / "teacher_copy"
    shutil.copytree(teacher, copy)
    split_file = copy / "split.json"
    split = json.loads(split_file.read_text())
    edit_split(split_file, split)
    return copy


def test_a_teacher_that_trained_on_the_validation_images_is_refused(
        teacher, tiny_dataset, tmp_path, capsys):
    from model.train import main as train_main

    def saw_everything(path, split):
        path.write_text(json.dumps(dict(split, train=split["train"] + split["val"])))
    leaky = _teacher_copy(teacher, tmp_path, saw_everything)
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "s"), *SMALL,
                       "--distill", str(leaky)]) == 1
    err = capsys.readouterr().err
    assert "trained on 8 of this run's validation images" in err and "inflated" in err


def test_a_teacher_without_its_split_is_refused(teacher, tiny_dataset, tmp_path, capsys):
    from model.train import main as train_main
    unknown = _teacher_copy(teacher, tmp_path, lambda path, split: path.unlink())
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "s"), *SMALL,
                       "--distill", str(unknown)]) == 1
    assert "cannot be told which images it trained on" in capsys.readouterr().err


def test_a_teacher_of_another_input_size_is_refused(teacher, tiny_dataset, tmp_path):
    from model.train import TrainConfig, train
    cfg = TrainConfig(data_dirs=[str(tiny_dataset)], out=str(tmp_path / "s"), epochs=1, img_size=48,
                      batch_size=8, threads=1, device="cpu", distill=[str(teacher)])
    with pytest.raises(DataError, match="takes 32 px inputs; this run trains at 48 px"):
        train(cfg)


def test_distillation_settings_without_teachers_are_refused(tiny_dataset, tmp_path, capsys):
    from model.train import main as train_main
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "s"), *SMALL,
                       "--distill-weight", "0.5"]) == 1
    assert "need --distill" in capsys.readouterr().err


def test_a_refit_of_a_plain_recipe_cannot_add_distillation(teacher, tiny_dataset, tmp_path, capsys):
    from model.train import main as train_main
    assert train_main([str(tiny_dataset), "--out", str(tmp_path / "s"), *SMALL,
                       "--distill", str(teacher), "--refit", str(teacher)]) == 1
    err = capsys.readouterr().err
    assert "must repeat the recipe" in err and "distill-weight 0.0" in err
