"""Train -> export -> load -> evaluate on real images, and the integrity checks of a model dir."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from model.errors import DataError, DeviceError, ModelLoadError
from model.inference import InferenceEngine

pytestmark = pytest.mark.data


def test_one_epoch_training_gives_a_loadable_model_dir(tiny_trained_model):
    d = tiny_trained_model
    for name in ("weights.pt", "model.onnx", "model.json", "MODEL_CARD.md",
                 "confusion_matrix.png", "training_curve.png"):
        assert (d / name).is_file(), name
    meta = json.loads((d / "model.json").read_text())
    for key in ("name", "version", "arch", "classes", "display_names", "input_size", "mean", "std",
                "temperature", "sha256", "metrics", "training", "seed", "versions", "created"):
        assert key in meta
    assert meta["classes"] == ["Benign", "Early", "Pre", "Pro"]
    assert meta["metrics"]["n"] > 0 and "ece_before_calibration" in meta["metrics"]
    assert meta["training"]["data"]["file_list_sha256"]
    assert "research use only" in (d / "MODEL_CARD.md").read_text().lower()
    # the split is written out with the run
    split = json.loads((d.parent / "split.json").read_text())
    assert split["val"] and split["train"] and not set(split["val"]) & set(split["train"])
    import torch
    state = torch.load(d / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    engine = InferenceEngine(d, device="cpu")
    assert engine.device_label == "CPU: ONNX Runtime"


@pytest.mark.parametrize("which", ["model_dir", "tiny_trained_model"])
def test_torch_and_onnx_agree(which, request, tiny_dataset):
    """The bundled model (colours as captured) and a model trained with colour constancy."""
    from model.data import read_rgb
    model_dir = request.getfixturevalue(which)
    images = [read_rgb(p) for p in sorted(tiny_dataset.rglob("*.jpg"))]
    onnx = InferenceEngine(model_dir, device="cpu")
    torch_cpu = InferenceEngine(model_dir, device="cpu", backend="torch")
    a = onnx.predict(images, with_cam=True)
    b = torch_cpu.predict(images, with_cam=True)
    assert np.abs(a.probabilities - b.probabilities).max() <= 1e-4
    assert (a.probabilities.argmax(1) == b.probabilities.argmax(1)).all()
    assert np.allclose(a.cams, b.cams, atol=1e-3 * max(1.0, float(np.abs(b.cams).max())))
    assert np.allclose(a.probabilities.sum(1), 1.0)
    # The same preprocessing runs before both, and the feature distance agrees.
    assert onnx.preprocess_config == torch_cpu.preprocess_config
    if which == "tiny_trained_model":
        assert onnx.preprocess_config.white_balance is not None
    assert a.distances is not None and b.distances is not None
    assert np.allclose(a.distances, b.distances, rtol=1e-3, atol=1e-3)


def test_evaluate_writes_json_with_contract_keys(model_dir, tiny_dataset, tmp_path):
    from model.evaluate import main
    out = tmp_path / "eval.json"
    assert main([str(tiny_dataset), "--model", str(model_dir), "--device", "cpu", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    for key in ("accuracy", "macro_f1", "ece", "n", "per_class", "confusion_matrix", "classes"):
        assert key in rep
    assert rep["n"] == 32
    assert sum(map(sum, rep["confusion_matrix"])) == 32
    assert set(rep["per_class"]) == {"Benign", "Early", "Pre", "Pro"}
    assert all(v["support"] == 8 for v in rep["per_class"].values())


def test_display_name_folders_are_accepted(model_dir, tiny_dataset, tmp_path):
    from model.evaluate import evaluate_folder
    renamed = tmp_path / "lab"
    for src, name in (("Benign", "benign (hematogones)"), ("Pro", "PRO-B ALL")):
        shutil.copytree(tiny_dataset / src, renamed / name)
    rep = evaluate_folder(InferenceEngine(model_dir, device="cpu"), renamed)
    assert rep["per_class"]["Benign"]["support"] == 8 and rep["per_class"]["Pro"]["support"] == 8


def _copy_model(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_changed_onnx_file_is_refused(model_dir, tmp_path):
    d = _copy_model(model_dir, tmp_path / "m")
    data = bytearray((d / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (d / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="checksum"):
        InferenceEngine(d, device="cpu")


def test_changed_weights_file_is_refused(model_dir, tmp_path):
    d = _copy_model(model_dir, tmp_path / "m")
    data = bytearray((d / "weights.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "weights.pt").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="checksum"):
        InferenceEngine(d, device="cpu", backend="torch")


def test_missing_model_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        InferenceEngine(tmp_path / "nope", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="model.json is missing"):
        InferenceEngine(tmp_path / "empty", device="cpu")


def test_cuda_request_without_gpu_is_a_clear_error(model_dir):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceError, match="CUDA"):
        InferenceEngine(model_dir, device="cuda")


def test_auto_device_on_a_cpu_machine_uses_onnx_runtime(model_dir):
    engine = InferenceEngine(model_dir, device="auto")
    import torch
    if not torch.cuda.is_available():
        assert engine.backend == "onnx" and engine.device_label == "CPU: ONNX Runtime"


def test_importing_the_engine_and_cpu_inference_do_not_import_torch(model_dir):
    code = (
        "import sys, numpy as np\n"
        "from model.inference import InferenceEngine\n"
        "assert 'torch' not in sys.modules\n"
        f"e = InferenceEngine({str(model_dir)!r}, device='cpu')\n"
        "e.predict([np.zeros((224, 224, 3), np.uint8)])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cpu_inference_works_without_torch_installed(model_dir, tmp_path):
    """Simulate the clinic build: torch cannot be imported at all."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch is not part of this build')\n")
    code = (
        "import sys, numpy as np, importlib.util\n"
        f"sys.path.insert(0, {str(blocker)!r})\n"
        "import model.inference as mi\n"
        "mi.torch_available = lambda: False\n"
        f"e = mi.InferenceEngine({str(model_dir)!r}, device='auto')\n"
        "p = e.predict([np.full((224, 224, 3), 200, np.uint8)]).probabilities\n"
        "assert e.backend == 'onnx' and abs(p.sum() - 1) < 1e-5\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_retraining_with_a_new_class_needs_new_head(tiny_trained_model, tiny_dataset, tmp_path):
    from model.train import TrainConfig, train
    lab = tmp_path / "lab"
    shutil.copytree(tiny_dataset / "Benign", lab / "Benign")
    shutil.copytree(tiny_dataset / "Pro", lab / "Plasma cells")
    cfg = TrainConfig(data_dirs=[str(lab)], out=str(tmp_path / "run"), epochs=1, img_size=64,
                      batch_size=8, init=str(tiny_trained_model))
    with pytest.raises(DataError, match="new-head"):
        train(cfg)


def test_retraining_from_a_model_dir_keeps_its_preprocessing(tiny_trained_model, tiny_dataset, tmp_path):
    from model.train import main as train_main
    out = tmp_path / "retrained"
    assert train_main([str(tiny_dataset), "--out", str(out), "--epochs", "1", "--batch-size", "8",
                       "--init", str(tiny_trained_model)]) == 0
    old = json.loads((tiny_trained_model / "model.json").read_text())
    new = json.loads((out / "model" / "model.json").read_text())
    assert new["input_size"] == old["input_size"]
    assert new["mean"] == old["mean"] and new["std"] == old["std"]
    assert new["white_balance"] == old["white_balance"] and new["training"]["white_balance"]
    assert new["classes"] == old["classes"]
    assert new["training"]["init"] == str(tiny_trained_model)


def test_new_head_allows_a_new_class_set(tiny_trained_model, tiny_dataset, tmp_path):
    from model.train import main as train_main
    lab = tmp_path / "lab"
    shutil.copytree(tiny_dataset / "Benign", lab / "Benign")
    shutil.copytree(tiny_dataset / "Pro", lab / "Plasma cells")
    out = tmp_path / "run"
    assert train_main([str(lab), "--out", str(out), "--epochs", "1", "--batch-size", "8",
                       "--init", str(tiny_trained_model), "--new-head"]) == 0
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["classes"] == ["Benign", "Plasma cells"]
    engine = InferenceEngine(out / "model", device="cpu")
    assert engine.predict([np.zeros((64, 64, 3), np.uint8)]).probabilities.shape == (1, 2)


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs a CUDA GPU")
def test_cuda_and_cpu_paths_make_the_same_calls(model_dir, tiny_dataset):
    from model.data import read_rgb
    images = [read_rgb(p) for p in sorted(tiny_dataset.rglob("*.jpg"))]
    cpu = InferenceEngine(model_dir, device="cpu").predict(images).probabilities
    gpu_engine = InferenceEngine(model_dir, device="cuda")
    assert gpu_engine.device_label.startswith("CUDA: ")
    gpu = gpu_engine.predict(images).probabilities
    assert (cpu.argmax(1) == gpu.argmax(1)).all()
    assert np.abs(cpu - gpu).max() <= 1e-3


def test_a_run_trained_elsewhere_re_exports_against_a_local_copy_of_its_data(
        tiny_trained_model, tiny_dataset, tmp_path):
    """A run from a lent GPU machine points at that machine's data path; --data-dir re-points it,
    and a folder that lacks the run's images is refused with a clear message."""
    from model.export import main as export_main
    run = tmp_path / "run"
    run.mkdir()
    for name in ("best.pt", "run.json", "split.json"):
        shutil.copy(tiny_trained_model.parent / name, run / name)
    meta = json.loads((run / "run.json").read_text())
    meta["config"]["data_dirs"] = ["/elsewhere/Original"]
    (run / "run.json").write_text(json.dumps(meta))
    local = tmp_path / "local"
    shutil.copytree(tiny_dataset, local)
    assert export_main([str(run), "--data-dir", str(local)]) == 0
    card = json.loads((run / "model" / "model.json").read_text())
    original = json.loads((tiny_trained_model / "model.json").read_text())
    assert card["metrics"]["confusion_matrix"] == original["metrics"]["confusion_matrix"]
    next(local.glob("Pre/*.jpg")).unlink()
    assert export_main([str(run), "--data-dir", str(local)]) == 1


def test_training_on_the_cpu_is_deterministic_with_a_seed(tiny_dataset, tmp_path):
    import torch

    from model.train import main as train_main
    weights = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        out = tmp_path / name
        assert train_main([str(tiny_dataset), "--out", str(out), "--epochs", "1", "--img-size", "32",
                           "--batch-size", "8", "--threads", "1", "--seed", seed, "--device", "cpu"]) == 0
        weights.append(torch.load(out / "best.pt", weights_only=True))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])  # the seed matters


def test_weight_averaging_is_kept_recorded_and_resumable(tiny_dataset, tmp_path):
    import torch

    from model.train import main as train_main
    out = tmp_path / "ema"
    args = [str(tiny_dataset), "--out", str(out), "--img-size", "32", "--batch-size", "8",
            "--threads", "1", "--device", "cpu", "--ema", "0.9"]
    assert train_main(args + ["--epochs", "1"]) == 0
    ck = torch.load(out / "checkpoint_last.pt", weights_only=False)
    kept = torch.load(out / "best.pt", weights_only=True)
    # best.pt holds the average, not the raw weights the optimiser was stepping.
    assert all(torch.equal(kept[k], ck["ema"]["module." + k]) for k in kept)
    assert not all(torch.equal(kept[k], ck["model"][k]) for k in kept if kept[k].is_floating_point())
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["training"]["ema"] == 0.9
    assert "exponential moving average (decay 0.9" in (out / "model" / "MODEL_CARD.md").read_text()
    assert train_main(args + ["--epochs", "2", "--resume"]) == 0
    assert len(json.loads((out / "run.json").read_text())["history"]) == 2


def test_fine_tuning_refuses_a_split_whose_validation_the_start_model_trained_on(
        tiny_trained_model, tiny_dataset, tmp_path):
    from model.train import TrainConfig, train
    cfg = TrainConfig(data_dirs=[str(tiny_dataset)], out=str(tmp_path / "leaky"), epochs=1,
                      batch_size=8, init=str(tiny_trained_model), split_seed=3, seed=1)
    with pytest.raises(DataError, match="--split-seed 0"):
        train(cfg)
    # Another training seed on the starting model's split is fine.
    cfg = TrainConfig(data_dirs=[str(tiny_dataset)], out=str(tmp_path / "ok"), epochs=1,
                      batch_size=8, init=str(tiny_trained_model), seed=1)
    assert (train(cfg) / "model.json").is_file()


@pytest.mark.parametrize("option, value", [("--ema", "1"), ("--ema", "-0.1"),
                                           ("--acquisition", "1.5")])
def test_out_of_range_training_options_are_usage_errors(option, value, tmp_path, capsys):
    from model.train import main as train_main
    with pytest.raises(SystemExit) as exit_info:
        train_main([str(tmp_path), "--out", str(tmp_path / "run"), option, value])
    assert exit_info.value.code == 2
    assert "out of range" in capsys.readouterr().err


def test_the_bundled_model_card_is_rendered_from_its_model_json():
    """The card's text comes from model.json (model/model_card.py); a renderer change must not
    leave the shipped card saying something else."""
    from model.model_card import render_model_card
    from model.modeldir import default_model_dir, read_model_json
    bundled = default_model_dir()
    assert (bundled / "MODEL_CARD.md").read_text(encoding="utf-8") == \
        render_model_card(read_model_json(bundled))
