"""Fast checks of the installer sources and lab_app.build_info; no build needed (not marked
``installer``, so they run with the rest of the suite)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from installer_helpers import REPO

INSTALLER = REPO / "installer"
sys.path.insert(0, str(INSTALLER))
import bundle_tools as bt  # noqa: E402
import check_pins  # noqa: E402

sys.path.remove(str(INSTALLER))


# -- lab_app.build_info -----------------------------------------------------------------------------
def test_build_info_from_source():
    from lab_app import __version__
    from lab_app.build_info import build_info, describe
    info = build_info()
    assert info["app_version"] == __version__
    assert info["flavor"] == "source" and info["frozen"] is False and info["build_date"] is None
    assert info["packages"]["numpy"] and "onnxruntime" in info["packages"]
    json.dumps(info)
    text = "\n".join(describe(info))
    assert __version__ in text and "numpy" in text


def test_build_info_when_frozen(tmp_path, monkeypatch):
    from lab_app.build_info import build_info, describe
    data = {"app_version": "9.9.9", "flavor": "cpu", "build_date": "2030-01-02T03:04:05Z",
            "git_commit": "abc", "packages": {"numpy": "1.0"}, "models": [{"name": "m", "version": "2"}]}
    (tmp_path / "build_info.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    info = build_info()
    assert info["app_version"] == "9.9.9" and info["flavor"] == "cpu" and info["frozen"] is True
    assert info["packages"] == {"numpy": "1.0"} and "python" in info
    info["packages"]["x"] = "1"  # callers get their own copy
    assert "x" not in build_info()["packages"]
    lines = describe()
    assert "CPU build" in lines[0] and any("2030-01-02" in line for line in lines)
    (tmp_path / "build_info.json").write_text("{broken", encoding="utf-8")
    broken = build_info()
    assert broken["frozen"] is True and "error" in broken and broken["packages"] == {}


def test_build_info_is_qt_free():
    code = ("import sys, lab_app.build_info as b; b.build_info(); "
            "assert not [m for m in sys.modules if m.startswith(('PySide6', 'torch'))]")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# -- pins ---------------------------------------------------------------------------------------
def test_cpu_constraints_pin_every_runtime_dependency_and_no_torch():
    from packaging.requirements import Requirement
    pins = check_pins.read_pins(INSTALLER / "constraints-cpu.txt")
    assert not [n for n in pins if n.startswith(("torch", "nvidia", "triton", "onnx-"))] and "onnx" not in pins
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for dep in project["dependencies"]:
        req = Requirement(dep)
        name = check_pins.canonical(req.name)
        assert name in pins, f"{req.name} (a dependency in pyproject.toml) is not pinned"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"pin {name}=={pins[name]} does not satisfy pyproject's {dep}"
    assert pins["pyinstaller"].startswith("6.")


def test_check_pins_refuses_loose_lines(tmp_path):
    bad = tmp_path / "c.txt"
    bad.write_text("numpy>=1\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        check_pins.read_pins(bad)
    ok = tmp_path / "ok.txt"
    ok.write_text("# c\nNumPy==1.2.3  # x\npefile==1 ; sys_platform == \"nonesuch\"\n", encoding="utf-8")
    assert check_pins.read_pins(ok) == {"numpy": "1.2.3"}


# -- bundle_tools -------------------------------------------------------------------------------
def _fake_model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"onnx-bytes")
    (folder / "weights.pt").write_bytes(b"weights")
    (folder / "MODEL_CARD.md").write_text("card", encoding="utf-8")
    meta = {"name": "m", "version": "1", "onnx_sha256": hashlib.sha256(b"onnx-bytes").hexdigest(),
            "sha256": hashlib.sha256(b"weights").hexdigest()}
    (folder / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def test_cpu_model_datas_leave_weights_out(tmp_path):
    d = _fake_model(tmp_path / "models" / "mobilenet-1")
    datas, summary = bt.model_datas([d], "cpu")
    names = {Path(src).name for src, _ in datas}
    assert names == {"model.onnx", "model.json", "MODEL_CARD.md"}
    assert {dest for _, dest in datas} == {str(Path("resources", "models", "mobilenet-1"))}
    assert summary[0]["weights_bundled"] is False
    cuda, _ = bt.model_datas([d], "cuda")
    assert "weights.pt" in {Path(src).name for src, _ in cuda}


def test_tampered_model_is_not_bundled(tmp_path):
    d = _fake_model(tmp_path / "m")
    (d / "model.onnx").write_bytes(b"changed")
    with pytest.raises(SystemExit, match="checksum"):
        bt.model_datas([d], "cpu")
    d2 = _fake_model(tmp_path / "m2")
    (d2 / "weights.pt").unlink()
    bt.model_datas([d2], "cpu")  # the cpu flavor does not need the weights
    with pytest.raises(SystemExit, match="missing"):
        bt.model_datas([d2], "cuda")


def test_resource_datas_skip_models_and_hidden_files(tmp_path):
    res = tmp_path / "resources"
    (res / "fonts").mkdir(parents=True)
    (res / "fonts" / "a.ttf").write_bytes(b"x")
    (res / "samples").mkdir()
    (res / "samples" / ".gitkeep").write_bytes(b"")
    _fake_model(res / "models" / "m")
    datas = bt.resource_datas(res)
    assert datas == [(str(res / "fonts" / "a.ttf"), str(Path("resources", "fonts")))]


def test_excludes(tmp_path):
    cpu, cuda = bt.excludes("cpu"), bt.excludes("cuda")
    assert "torch" in cpu and "nvidia" in cpu and "torch" not in cuda
    assert "sympy" in cpu and "sympy" not in cuda  # torch imports sympy
    assert "PySide6.QtWebEngineCore" in cpu and "PySide6.QtQuick" in cpu
    assert "PySide6.QtWidgets" not in cpu and "PySide6.QtGui" not in cpu
    # A Qt module the application imports is never excluded.
    (tmp_path / "lab_app" / "gui").mkdir(parents=True)
    (tmp_path / "lab_app" / "gui" / "w.py").write_text(
        "from PySide6 import (QtCore,\n    QtMultimedia)\nimport PySide6.QtQuick\n", encoding="utf-8")
    used = bt.qt_modules_used(tmp_path)
    assert used == {"QtCore", "QtMultimedia", "QtQuick"}
    ex = bt.qt_excludes(tmp_path)
    assert "PySide6.QtMultimedia" not in ex and "PySide6.QtQuick" not in ex and "PySide6.QtQml" in ex


def test_forbidden_in_cpu():
    assert bt.forbidden_in_cpu(["numpy.core", "torch.nn"], ["cv2/x.so"]) == ["torch"]
    assert bt.forbidden_in_cpu(["numpy"], ["nvidia/cudnn/lib/x.so"]) == ["nvidia"]
    assert bt.forbidden_in_cpu(["lab_app.cli", "model.inference"], ["PySide6/Qt/lib/x"]) == []


def test_windows_version_tuple():
    assert bt.windows_version_tuple("0.1.0") == (0, 1, 0, 0)
    assert bt.windows_version_tuple("1.2.3rc4") == (1, 2, 3, 4)


# -- scripts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("script", ["build.sh", "ci-check.sh", "linux/install.sh", "linux/uninstall.sh"])
def test_shell_scripts_parse(script):
    if not shutil.which("bash"):
        pytest.skip("no bash")
    subprocess.run(["bash", "-n", str(INSTALLER / script)], check=True)


def test_spec_and_helpers_compile():
    compile((INSTALLER / "labapp.spec").read_text(encoding="utf-8"), "labapp.spec", "exec")
    for f in ("entry_gui.py", "entry_batch.py"):
        compile((INSTALLER / f).read_text(encoding="utf-8"), f, "exec")


def test_entry_points_match_pyproject():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert scripts["gui-scripts"]["labapp"] == "lab_app.app:main"
    assert scripts["scripts"]["labapp-batch"] == "lab_app.cli:main"
    assert "from lab_app.app import main" in (INSTALLER / "entry_gui.py").read_text(encoding="utf-8")
    assert "from lab_app.cli import main" in (INSTALLER / "entry_batch.py").read_text(encoding="utf-8")


def test_desktop_file():
    text = (INSTALLER / "linux" / "labapp.desktop").read_text(encoding="utf-8")
    assert text.startswith("[Desktop Entry]\n")
    keys = dict(line.split("=", 1) for line in text.splitlines()[1:] if "=" in line)
    assert keys["Type"] == "Application" and keys["Exec"].startswith("/opt/labapp/labapp")
    assert keys["Terminal"] == "false" and keys["Categories"].endswith(";")


def test_inno_setup_script():
    iss = (INSTALLER / "windows" / "labapp.iss").read_text(encoding="utf-8")
    sections = {m.group(1).lower() for m in re.finditer(r"^\[(\w+)\]", iss, re.M)}
    assert {"setup", "files", "icons", "tasks"} <= sections
    assert re.search(r"^PrivilegesRequired=admin\s*$", iss, re.M), "per-machine install"
    assert "{autopf}" in iss and "{autoprograms}" in iss and "{autodesktop}" in iss
    assert "labapp.exe" in iss and "recursesubdirs" in iss
    # The case database lives in the user's data folder: the uninstaller never touches it.
    uninstall = re.findall(r"^\[UninstallDelete\](.*?)(?=^\[|\Z)", iss, re.M | re.S)
    for block in uninstall:
        assert "{localappdata}" not in block and "{userappdata}" not in block \
            and "{commonappdata}" not in block
    assert "ALL-Workstation" in iss  # named in the message that says the data is kept
    app_id = re.search(r"^AppId=\{\{([0-9A-F-]{36})\}", iss, re.M)
    assert app_id, "a fixed AppId lets updates replace the installation"


def test_build_ps1_mirrors_build_sh():
    ps1 = (INSTALLER / "build.ps1").read_text(encoding="utf-8")
    for needle in ("constraints-$Flavor.txt", "check_pins.py", "labapp.spec", "--flavor",
                   "--noconfirm", "ISCC", "venv-$Flavor"):
        assert needle in ps1, needle
    assert re.search(r"ValidateSet\(\s*'cpu'\s*,\s*'cuda'\s*\)", ps1)


def test_cuda_constraints_extend_the_cpu_pins():
    cpu = check_pins.read_pins(INSTALLER / "constraints-cpu.txt")
    cuda = check_pins.read_pins(INSTALLER / "constraints-cuda.txt")
    assert {k: v for k, v in cuda.items() if k in cpu} == cpu
    assert cuda["torch"] and cuda["torchvision"]
    assert check_pins.same_version("2.14.1+cu130", "2.14.1")
    assert not check_pins.same_version("2.14.2", "2.14.1")
    assert not check_pins.same_version("2.14.1", "2.14.1+cu130")
