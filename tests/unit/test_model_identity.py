"""One identity for a model (model/manifest.py): every file that affects a call is covered by
manifest.json, a change to any of them is refused on both paths, and results name the manifest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model.errors import ModelLoadError
from model.inference import InferenceEngine
from model.manifest import MANIFEST, identity_of, main as manifest_main, read_manifest, verify_model

from helpers import SAMPLES


def _copy(model_dir: Path, dst: Path) -> Path:
    shutil.copytree(model_dir, dst)
    return dst


def _edit_json(d: Path, **changes) -> None:
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    meta.update(changes)
    (d / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def test_the_bundled_model_has_a_manifest_and_its_identity_is_its_hash(model_dir):
    manifest = read_manifest(model_dir)
    assert set(manifest["files"]) >= {"model.json", "model.onnx", "weights.pt"}
    meta = json.loads((model_dir / "model.json").read_text())
    if meta.get("feature_density"):
        assert "feature_density.npz" in manifest["files"]
    engine = InferenceEngine(model_dir, device="cpu")
    assert engine.info["sha256"] == engine.identity == identity_of(manifest)
    assert engine.info["weights_sha256"] == meta["sha256"]
    assert engine.identity != meta["sha256"]


@pytest.mark.parametrize("changes", [
    {"classes": ["Pro", "Pre", "Early", "Benign"]},      # every call wrong
    {"temperature": 0.05},                               # every confidence 100%
    {"low_confidence_threshold": 0.0},                   # the flags off
])
@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_an_edited_model_json_is_refused_on_both_paths(model_dir, tmp_path, changes, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    d = _copy(model_dir, tmp_path / "m")
    _edit_json(d, **changes)
    with pytest.raises(ModelLoadError, match=r"model\.json does not match its checksum"):
        InferenceEngine(d, device="cpu", backend=backend)


def test_a_changed_weights_file_is_refused_on_the_cpu_path_too(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path / "m")
    data = bytearray((d / "weights.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "weights.pt").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"weights\.pt does not match its checksum"):
        InferenceEngine(d, device="cpu", backend="onnx")


def test_weights_may_be_absent_only_where_the_path_does_not_read_them(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path / "m")
    (d / "weights.pt").unlink()                     # the CPU installer's model dir
    engine = InferenceEngine(d, device="cpu", backend="onnx")
    assert engine.identity == InferenceEngine(model_dir, device="cpu").identity
    pytest.importorskip("torch")
    with pytest.raises(ModelLoadError, match=r"weights\.pt is missing"):
        InferenceEngine(d, device="cpu", backend="torch")


def test_a_missing_onnx_or_density_is_refused(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path / "m")
    (d / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match=r"model\.onnx is missing"):
        InferenceEngine(d, device="cpu")
    if (model_dir / "feature_density.npz").is_file():
        d2 = _copy(model_dir, tmp_path / "m2")
        (d2 / "feature_density.npz").unlink()
        with pytest.raises(ModelLoadError, match=r"feature_density\.npz is missing"):
            InferenceEngine(d2, device="cpu")


def test_a_resealed_manifest_gives_another_identity(model_dir, tmp_path):
    """Whoever rewrites the manifest to match an edited model.json makes another model: the
    results then name another identity, never the original's."""
    from model.manifest import write_manifest
    d = _copy(model_dir, tmp_path / "m")
    _edit_json(d, temperature=0.05)
    new = write_manifest(d)
    assert new != InferenceEngine(model_dir, device="cpu").identity
    assert InferenceEngine(d, device="cpu").info["sha256"] == new


def test_a_dir_without_a_manifest_is_refused_with_how_to_seal_it(model_dir, tmp_path, capsys):
    d = _copy(model_dir, tmp_path / "m")
    (d / MANIFEST).unlink()
    with pytest.raises(ModelLoadError, match=r"no manifest\.json.*python -m model\.manifest"):
        InferenceEngine(d, device="cpu")
    # Sealing checks the binaries against model.json first.
    onnx = bytearray((d / "model.onnx").read_bytes())
    (d / "model.onnx").write_bytes(bytes(onnx[:-1]) + bytes([onnx[-1] ^ 0xFF]))
    assert manifest_main([str(d), "--write"]) == 1
    assert "checksum" in capsys.readouterr().err and not (d / MANIFEST).exists()
    (d / "model.onnx").write_bytes(bytes(onnx))
    assert manifest_main([str(d), "--write"]) == 0
    assert InferenceEngine(d, device="cpu").identity == verify_model(model_dir).identity


def test_labapp_batch_refuses_a_changed_model_in_one_line(model_dir, tmp_path, capsys):
    from lab_app import cli
    d = _copy(model_dir, tmp_path / "m")
    _edit_json(d, temperature=0.05)
    rc = cli.main([str(SAMPLES[0]), "--out", str(tmp_path / "out"), "--model", str(d), "--quiet"])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_FATAL
    assert err.count("\n") == 1 and "model.json" in err and "Traceback" not in err


def test_the_bundle_check_refuses_an_edited_model_json(model_dir, tmp_path):
    from installer.bundle_tools import check_model_dir, model_datas
    d = _copy(model_dir, tmp_path / "m")
    _, summary = model_datas([d], "cpu")
    assert summary[0]["identity"] == verify_model(model_dir).identity
    _edit_json(d, low_confidence_threshold=0.0)
    with pytest.raises(SystemExit, match=r"model\.json does not match"):
        check_model_dir(d, "cpu")
