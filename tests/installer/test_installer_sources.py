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
import inno  # noqa: E402  (tests/installer/inno.py)

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
    from model.manifest import write_manifest
    write_manifest(folder)      # the model's identity (model/manifest.py), as export writes it
    return folder


def test_cpu_model_datas_leave_weights_out(tmp_path):
    d = _fake_model(tmp_path / "models" / "mobilenet-1")
    datas, summary = bt.model_datas([d], "cpu")
    names = {Path(src).name for src, _ in datas}
    assert names == {"model.onnx", "model.json", "MODEL_CARD.md", "manifest.json"}
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
    if not shutil.which("bash") or sys.platform == "win32":
        pytest.skip("no bash (on Windows 'bash' may be WSL's, which cannot read these paths)")
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


def test_one_console_script_runs_the_program_its_executable_is_named_after(monkeypatch):
    import runpy
    calls = []
    for module in ("lab_app.cli", "lab_app.report_cli", "lab_app.users_cli"):
        monkeypatch.setattr(f"{module}.main", lambda m=module: calls.append(m) or 0)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    for exe in ("/opt/labapp/labapp-batch", "C:/Program Files/X/LABAPP-REPORT.EXE",
                "/opt/labapp/labapp-users"):
        monkeypatch.setattr(sys, "executable", exe)
        with pytest.raises(SystemExit) as ended:
            runpy.run_path(str(INSTALLER / "entry_batch.py"), run_name="__main__")
        assert ended.value.code == 0
    assert calls == ["lab_app.cli", "lab_app.report_cli", "lab_app.users_cli"]


def test_desktop_file():
    text = (INSTALLER / "linux" / "labapp.desktop").read_text(encoding="utf-8")
    assert text.startswith("[Desktop Entry]\n")
    keys = dict(line.split("=", 1) for line in text.splitlines()[1:] if "=" in line)
    assert keys["Type"] == "Application" and keys["Exec"].startswith("/opt/labapp/labapp")
    assert keys["Terminal"] == "false" and keys["Categories"].endswith(";")


# -- the Windows installer script, read the way ISCC reads it ----------------------------------
ISS = INSTALLER / "windows" / "labapp.iss"
ENV_KEY = r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment"


def _iss(**defines) -> inno.Script:
    exists = defines.pop("_exists", lambda rel: inno.local(ISS.parent, rel).exists())
    ver = defines.pop("_ver", (6, 4, 3))
    return inno.load(ISS, defines=defines, exists=exists, ver=ver)


def _code_functions(script: inno.Script) -> set[str]:
    return set(re.findall(r"^\s*(?:function|procedure)\s+(\w+)", script.code, re.M | re.I))


def test_iss_setup_directives():
    s = _iss(AppVersion="1.2.3", Flavor="cuda")
    setup = s.setup
    assert setup["privilegesrequired"] == "admin", "per-machine install"
    assert setup["architecturesallowed"] == setup["architecturesinstallin64bitmode"] == "x64compatible"
    # Qt 6 supports Windows 10 1809 (build 17763) and later; older builds install but fail in QtCore.
    assert tuple(int(n) for n in setup["minversion"].split(".")) >= (10, 0, 17763)
    assert setup["outputbasefilename"] == "labapp-1.2.3-windows-x64-cuda-setup"
    assert setup["appvername"].endswith("1.2.3 (cuda)")
    assert re.fullmatch(r"\{\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", setup["appid"]), \
        "a fixed AppId lets updates replace the installation"
    assert setup["defaultdirname"].startswith("{autopf}\\")
    assert inno.local(ISS.parent, setup["setupiconfile"]).resolve() == REPO / "resources" / "icons" / "labapp.ico"
    assert (REPO / "resources" / "icons" / "labapp.ico").is_file()
    assert setup["uninstalldisplayicon"] == r"{app}\labapp.exe"
    assert setup["changesenvironment"] == "yes"
    assert setup["closeapplications"] == "yes"
    assert "signtool" not in setup, "unsigned unless build.ps1 is given a certificate"
    files = s.entries("files")
    assert files[0]["source"] == r"..\..\dist\labapp-cuda\*" and "recursesubdirs" in files[0]["flags"]


def test_iss_needs_inno_setup_6_3_or_newer():
    for ver in ((6, 3, 0), (6, 4, 3), (7, 0, 0)):
        _iss(_ver=ver)
    with pytest.raises(inno.IssError, match="6.3"):
        _iss(_ver=(6, 2, 2))


def test_iss_signing_only_with_a_sign_tool():
    s = _iss(SignTool="labappsign")
    assert s.setup["signtool"] == "labappsign" and s.setup["signeduninstaller"] == "yes"


def test_iss_shortcuts_use_the_program_and_its_icon():
    icons = {e["name"]: e for e in _iss().entries("icons")}
    start = icons[r"{autoprograms}\ALL Subtype Workstation\ALL Subtype Workstation"]
    desktop = icons[r"{autodesktop}\ALL Subtype Workstation"]
    for e in (start, desktop):
        assert e["filename"] == e["iconfilename"] == r"{app}\labapp.exe"
    assert desktop["tasks"] == "desktopicon"
    assert any(e["filename"] == "{uninstallexe}" for e in icons.values())
    tasks = {t["name"]: t for t in _iss().entries("tasks")}
    assert set(tasks) == {"desktopicon", "shareddata"}


def test_iss_never_deletes_user_data():
    s = _iss()
    for section in ("installdelete", "uninstalldelete"):
        for e in s.entries(section):
            assert e["name"] == "{app}" or e["name"].startswith("{app}\\"), (section, e)
    for e in s.entries("dirs"):
        assert "uninsneveruninstall" in e["flags"].split(), e
    assert "ALL-Workstation" in s.code  # named in the message that says the data is kept


def test_iss_shared_data_task():
    s = _iss()
    task = next(t for t in s.entries("tasks") if t["name"] == "shareddata")
    assert "unchecked" in task["flags"].split(), "per-user data stays the default"
    assert "local disk" in task["description"]
    (folder,) = [d for d in s.entries("dirs") if d.get("tasks") == "shareddata"]
    assert folder["name"] == r"{commonappdata}\ALL-Workstation"
    assert folder["permissions"] == "users-modify", "another user must be able to write the database"
    set_var, drop_var = s.entries("registry")
    assert set_var["root"] == "HKLM" and set_var["subkey"] == ENV_KEY
    assert set_var["valuename"] == "LABAPP_DATA_DIR" and set_var["valuedata"] == folder["name"]
    assert set_var["tasks"] == "shareddata" and set_var["flags"] == "uninsdeletevalue"
    assert set_var["valuetype"] in ("string", "expandsz")
    assert drop_var["subkey"] == ENV_KEY and drop_var["valuename"] == "LABAPP_DATA_DIR"
    assert drop_var["valuetype"] == "none" and drop_var["flags"] == "deletevalue"
    assert drop_var["tasks"] == "not shareddata"
    assert drop_var["check"] in _code_functions(s), "only our own value is dropped"


def test_iss_visual_cpp_runtime_without_redist():
    s = _iss(VCMajor="14", VCMinor="44", _exists=lambda rel: rel != r"redist\vc_redist.x64.exe")
    assert not [f for f in s.entries("files") if "vc_redist" in f["source"]]
    functions = _code_functions(s)
    assert {"InitializeSetup", "VCRuntimeRecentEnough"} <= functions and "PrepareToInstall" not in functions
    init = s.code[s.code.index("function InitializeSetup"):]
    assert "VCRuntimeRecentEnough" in init and "Result := False" in init, "setup refuses an old runtime"
    # The version compared is the one build.ps1 passes, read by version, not 'Installed=1' alone.
    assert "(Major = 14) and (Minor >= 44)" in s.code and "'Minor'" in s.code
    assert "HKLM64" in s.code and "HKLM32" in s.code


def test_iss_visual_cpp_runtime_with_redist():
    s = _iss(_exists=lambda rel: rel in (r"redist\vc_redist.x64.exe", r"..\..\LICENSE"))
    (redist,) = [f for f in s.entries("files") if "vc_redist" in f["source"]]
    assert redist["flags"] == "dontcopy"
    functions = _code_functions(s)
    assert "PrepareToInstall" in functions
    init = s.code[s.code.index("function InitializeSetup"):s.code.index("function PrepareToInstall")]
    assert "Result := False" not in init, "with the redist included, setup installs it instead"
    prepare = s.code[s.code.index("function PrepareToInstall"):]
    assert "VCRuntimeRecentEnough" in prepare and "1638" in prepare and "3010" in prepare
    assert s.setup["licensefile"] == r"..\..\LICENSE"


def test_iss_checks_name_code_functions():
    s = _iss()
    functions = _code_functions(s)
    for section, entries in s.sections.items():
        for e in entries:
            if "check" in e:
                assert re.match(r"\w+", e["check"]).group(0) in functions, (section, e)


def test_inno_reader_refuses_what_it_does_not_know(tmp_path):
    with pytest.raises(inno.IssError):
        inno.preprocess("#pragma option -v+\n")
    with pytest.raises(inno.IssError):
        inno.preprocess("[Setup]\nAppName={#Missing}\n")
    lines, d = inno.preprocess('#define A "x"\n#define B A + "y"\n#ifndef C\nv={#B}\n#else\nw\n#endif\n')
    assert lines == ["v=xy"] and d["B"] == "xy"


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


# -- pins: the cuda flavor must carry a CUDA torch ----------------------------------------------
@pytest.mark.parametrize("installed,pin,same", [
    ("2.14.1", "2.14.1", True),
    ("2.14.1+cu130", "2.14.1", True),        # Linux: the PyTorch index's build of the pinned release
    ("2.14.1+cpu", "2.14.1", False),         # a CPU build is not the pinned CUDA torch
    ("2.14.1", "2.14.1+cu130", False),       # Windows: PyPI's CPU-only torch against the CUDA pin
    ("2.14.1+cu126", "2.14.1+cu130", False),
    ("2.14.1+cu130", "2.14.1+cu130", True),
    ("2.14.2", "2.14.1", False),
    ("1.2.3.post1", "1.2.3", False),
])
def test_same_version(installed, pin, same):
    assert check_pins.same_version(installed, pin) is same


def test_windows_cuda_pins_name_the_cuda_torch(monkeypatch):
    monkeypatch.setattr(check_pins.sys, "platform", "win32")
    win = check_pins.read_pins(INSTALLER / "constraints-cuda.txt")
    assert win["torch"].endswith("+cu130") and win["torchvision"].endswith("+cu130")
    assert "nvidia-cublas" not in win and "triton" not in win  # Linux-only wheels
    assert win["pefile"] and win["pywin32-ctypes"]
    # What a Windows build without -TorchIndexUrl gets from PyPI is refused by the pin check.
    problems = check_pins.venv_problems(win, {"torch": "2.14.1"}, "cuda", ("2.14.1", None))
    assert any("torch 2.14.1 is installed but 2.14.1+cu130 is pinned" in p for p in problems)
    assert any("CPU-only" in p for p in problems)
    monkeypatch.setattr(check_pins.sys, "platform", "linux")
    linux = check_pins.read_pins(INSTALLER / "constraints-cuda.txt")
    assert linux["torch"] == "2.14.1" and "pefile" not in linux


def test_venv_problems():
    pins = {"numpy": "2.4.6", "torch": "2.14.1"}
    assert check_pins.venv_problems(pins, {"numpy": "2.4.6", "pip": "26", "torch": "2.14.1"},
                                     "cuda", ("2.14.1", "13.0")) == []
    assert check_pins.venv_problems(pins, [("numpy", "2.4.6"), ("numpy", "2.4.5")]) == \
        ["numpy 2.4.5 is installed but 2.4.6 is pinned"]
    assert check_pins.venv_problems(pins, {"rich": "1"}) == ["rich 1 is installed but not pinned"]
    assert check_pins.venv_problems(pins, {}, "cuda", None) == \
        ["torch is not installed; the cuda flavor needs it"]
    assert check_pins.venv_problems(pins, {}, "cpu", None) == []


@pytest.mark.parametrize("text,cuda", [
    ("__version__ = '2.14.1+cu130'\ncuda: Optional[str] = '13.0'\nhip: Optional[str] = None\n", "13.0"),
    ("__version__ = '2.14.1'\ncuda: Optional[str] = None\n", None),
    ('cuda = "12.6"\n', "12.6"),
    ("cuda = None\n", None),
])
def test_torch_cuda_version(tmp_path, text, cuda):
    (tmp_path / "version.py").write_text("from typing import Optional\n" + text, encoding="utf-8")
    assert check_pins.torch_cuda_version(tmp_path) == cuda


def test_torch_cuda_version_of_unknown_layout(tmp_path):
    (tmp_path / "version.py").write_text("__version__ = '9'\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="cannot tell"):
        check_pins.torch_cuda_version(tmp_path)


def test_torch_cuda_version_of_the_installed_torch():
    import importlib.util
    spec = importlib.util.find_spec("torch")
    if spec is None:
        pytest.skip("no torch in this environment")
    torch_dir = Path(spec.origin).parent
    text = (torch_dir / "version.py").read_text(encoding="utf-8")
    expected = re.search(r"^cuda\b.*?=\s*(.*)$", text, re.M).group(1).strip().strip("'\"")
    assert check_pins.torch_cuda_version(torch_dir) == (None if expected == "None" else expected)


def test_build_info_records_torch_cuda(tmp_path):
    (tmp_path / "lab_app").mkdir()
    (tmp_path / "lab_app" / "__init__.py").write_text('__version__ = "1.0"\n', encoding="utf-8")
    info = bt.make_build_info("cuda", {}, [], True, tmp_path, torch_cuda="13.0")
    assert info["torch_cuda"] == "13.0" and info["flavor"] == "cuda"
    assert bt.make_build_info("cpu", {}, [], True, tmp_path)["torch_cuda"] is None


# -- the Visual C++ runtime of a Windows bundle, from the PE files themselves ------------------
def _pe(linker=(14, 44), file_version=None) -> bytes:
    """A minimal PE32+ image: DOS header, PE signature, COFF header, the start of the optional
    header (magic, linker version) and, if given, a VS_VERSION_INFO resource blob."""
    import struct
    data = bytearray(0x44)
    data[:2] = b"MZ"
    struct.pack_into("<I", data, 0x3C, 0x40)
    data[0x40:0x44] = b"PE\0\0"
    data += bytes(20)                                   # COFF header
    data += struct.pack("<HBB", 0x20B, *linker) + bytes(220)
    if file_version:
        a, b, c, d = file_version
        data += "VS_VERSION_INFO".encode("utf-16-le") + b"\0\0\0\0"
        data += struct.pack("<IIII", 0xFEEF04BD, 0x00010000, (a << 16) | b, (c << 16) | d)
    return bytes(data)


def test_pe_readers():
    assert bt.pe_linker_version(_pe((14, 42))) == (14, 42)
    assert bt.pe_file_version(_pe(file_version=(14, 44, 35208, 0))) == (14, 44, 35208, 0)
    assert bt.pe_file_version(_pe()) is None
    assert bt.pe_linker_version(b"\x7fELF" + bytes(100)) is None
    assert bt.pe_linker_version(b"MZ" + bytes(10)) is None


def test_pe_readers_on_a_real_windows_executable():
    import pip
    exe = Path(pip.__file__).parent / "_vendor" / "distlib" / "t64.exe"
    if not exe.is_file():
        pytest.skip("pip ships no Windows launcher here")
    data = exe.read_bytes()
    assert bt.pe_linker_version(data) is not None
    assert bt.pe_file_version(data) is not None


def _win_bundle(root: Path, dlls: dict[str, tuple | None], ort_linker=(14, 44)) -> Path:
    capi = root / "_internal" / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (capi / "onnxruntime_pybind11_state.pyd").write_bytes(_pe(ort_linker))
    (capi / "onnxruntime_providers_shared.dll").write_bytes(_pe((14, 38)))
    for rel, version in dlls.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(_pe((14, 44), version))
    return root


def test_vc_runtime_check_accepts_a_recent_runtime(tmp_path):
    b = _win_bundle(tmp_path, {"_internal/msvcp140.dll": (14, 44, 35208, 0),
                               "_internal/msvcp140_1.dll": (14, 44, 35208, 0),
                               "_internal/PySide6/msvcp140.dll": (14, 50, 35719, 0),
                               "_internal/vcruntime140.dll": (14, 44, 35208, 0)})
    r = bt.vc_runtime_report(b)
    assert r["required"] == "14.44" and r["required_by"].endswith("onnxruntime_pybind11_state.pyd")
    assert r["problems"] == [] and r["warnings"] == []
    assert r["dlls"]["_internal/PySide6/msvcp140.dll"] == "14.50.35719.0"


def test_vc_runtime_check_refuses_an_old_or_missing_msvcp(tmp_path):
    r = bt.vc_runtime_report(_win_bundle(tmp_path / "old", {
        "_internal/msvcp140.dll": (14, 38, 33135, 0), "_internal/msvcp140_1.dll": (14, 44, 35208, 0),
        "_internal/vcruntime140.dll": (14, 38, 33135, 0)}))
    assert len(r["problems"]) == 1 and "msvcp140.dll is 14.38.33135.0, older than 14.44" in r["problems"][0]
    assert len(r["warnings"]) == 1 and "vcruntime140.dll" in r["warnings"][0]  # Python's own, not fatal
    r = bt.vc_runtime_report(_win_bundle(tmp_path / "missing", {"_internal/msvcp140.dll": (14, 44, 1, 0)}))
    assert r["problems"] == [next(p for p in r["problems"] if p.startswith("msvcp140_1.dll is not in"))]
    r = bt.vc_runtime_report(_win_bundle(tmp_path / "noversion", {
        "_internal/msvcp140.dll": None, "_internal/msvcp140_1.dll": (14, 44, 1, 0)}))
    assert "of unknown version" in r["problems"][0]


def test_vc_runtime_floor_is_14_40(tmp_path):
    """An onnxruntime linked with an older toolset still needs the constexpr-mutex runtime."""
    r = bt.vc_runtime_report(_win_bundle(tmp_path, {"_internal/msvcp140.dll": (14, 40, 33810, 0),
                                                    "_internal/msvcp140_1.dll": (14, 40, 33810, 0)},
                                         ort_linker=(14, 29)))
    assert r["required"] == "14.40" and r["problems"] == []


def test_vc_runtime_cli(tmp_path, capsys):
    b = _win_bundle(tmp_path, {"_internal/msvcp140.dll": (14, 44, 1, 0)})
    assert bt.main(["vc-runtime", str(b)]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out)["required"] == "14.44" and "msvcp140_1.dll" in out.err


# -- the Windows CI job and its scripts (PowerShell cannot run here: what Linux can check) -------
WORKFLOW = REPO / ".github" / "workflows" / "windows-installer.yml"
PS_SCRIPTS = [INSTALLER / "build.ps1", INSTALLER / "windows" / "common.ps1",
              INSTALLER / "windows" / "ci-windows.ps1"]


def _ps_code(text: str) -> str:
    """PowerShell source without comments and string contents (quotes kept), for bracket checks."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("<#", i):
            i = text.index("#>", i) + 2
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c == "'":
            j = i + 1
            while True:
                j = text.index("'", j)
                if text.startswith("''", j):
                    j += 2
                    continue
                break
            out.append("''")
            i = j + 1
        elif c == '"':
            j = i + 1
            while text[j] != '"' or text[j - 1] == "`":
                j += 1
            out.append('""')
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


@pytest.mark.parametrize("script", PS_SCRIPTS, ids=lambda p: p.name)
def test_powershell_brackets_balance(script):
    code = _ps_code(script.read_text(encoding="utf-8"))
    stack, pairs = [], {")": "(", "}": "{", "]": "["}
    for lineno, line in enumerate(code.splitlines(), 1):
        for ch in line:
            if ch in "({[":
                stack.append((ch, lineno))
            elif ch in pairs:
                assert stack and stack[-1][0] == pairs[ch], f"{script.name}:{lineno}: unbalanced {ch}"
                stack.pop()
    assert not stack, f"{script.name}: unclosed {stack[-1]}"


def test_powershell_scripts_run_natives_through_the_helpers():
    """No bare '& $exe ...' outside common.ps1: a stderr line must not abort Windows PowerShell 5.1."""
    for script in PS_SCRIPTS:
        if script.name == "common.ps1":
            continue
        text = script.read_text(encoding="utf-8")
        code = _ps_code(text)
        bare = [line.strip() for line in code.splitlines() if re.search(r"(^|[=(|;]\s*)&\s*\$", line)
                and "PSScriptRoot" not in line]
        assert not bare, f"{script.name}: native calls outside Invoke-Native: {bare}"
        assert re.search(r"^\. \(Join-Path \$PSScriptRoot '(windows\\)?common\.ps1'\)", text, re.M)


def test_windows_workflow_runs_the_repository_script():
    text = WORKFLOW.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        wf = yaml.safe_load(text)
        job = wf["jobs"]["cpu-installer"]
        assert job["runs-on"].startswith("windows")
        runs = [s["run"] for s in job["steps"] if "run" in s]
        assert len(runs) == 1 and "installer/windows/ci-windows.ps1" in runs[0], \
            "the job's logic lives in the repository's script, not in the workflow"
        uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
        assert uploads and uploads[0]["if"] == "always()"
    else:
        assert "installer/windows/ci-windows.ps1" in text
    ci = (INSTALLER / "windows" / "ci-windows.ps1").read_text(encoding="utf-8")
    for step in ("installer\\build.ps1", "/VERYSILENT", "/TASKS=desktopicon,shareddata", "labapp-batch.exe",
                 "--report", "--screenshot", "QT_QPA_PLATFORM = 'windows'", "unins000.exe",
                 "Get-FileHash", "pytest"):
        assert step in ci, step


# -- the spec itself, run with stand-ins for PyInstaller's classes --------------------------------
class _Recorder:
    """Stand-ins for Analysis/PYZ/EXE/COLLECT: record what the spec asks for; COLLECT lays out the
    bundle from the data lists (and the test's extra files), as PyInstaller would."""

    def __init__(self, dist: Path, extra_files=None):
        self.dist, self.extra_files, self.analyses, self.exes = dist, extra_files or {}, [], []
        rec = self

        class Analysis:
            def __init__(self, scripts, datas=(), hiddenimports=(), **kw):
                self.scripts, self.hiddenimports, self.kw = scripts, list(hiddenimports), kw
                self.pure = []
                self.binaries = [(str(Path(dest) / Path(src).name), src, "BINARY")
                                 for src, dest in kw.get("binaries", [])]
                self.datas = [(str(Path(dest) / Path(src).name), src, "DATA") for src, dest in datas]
                rec.analyses.append(self)

        def PYZ(pure):
            return ("PYZ", pure)

        def EXE(pyz, scripts, binaries, name, console, version=None, **kw):
            exe = {"name": name, "console": console, "version": version, **kw}
            rec.exes.append(exe)
            return exe

        def COLLECT(*toc, name, **kw):
            bundle = rec.dist / name
            for item in toc:
                if isinstance(item, dict):
                    exe_name = item["name"] + (".exe" if sys.platform == "win32" else "")
                    bundle.mkdir(parents=True, exist_ok=True)
                    (bundle / exe_name).write_bytes(b"exe")
                    continue
                for dest, src, typecode in item:
                    if typecode == "BINARY":
                        continue  # only the data files matter here
                    target = bundle / "_internal" / dest
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(src, target)
            for rel, data in rec.extra_files.items():
                (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
                (bundle / rel).write_bytes(data)
            return bundle

        self.globals = {"Analysis": Analysis, "PYZ": PYZ, "EXE": EXE, "COLLECT": COLLECT}


def _versioninfo_stub():
    import types
    mod = types.ModuleType("PyInstaller.utils.win32.versioninfo")
    for cls in ("VSVersionInfo", "FixedFileInfo", "StringFileInfo", "StringTable", "StringStruct",
                "VarFileInfo", "VarStruct"):
        setattr(mod, cls, lambda *a, _cls=cls, **k: (_cls, a, k))
    return mod


def _run_spec(tmp_path, monkeypatch, *, flavor="cpu", platform="linux", extra_files=None):
    model = tmp_path / "models" / "mobilenet-test"
    if not model.exists():
        _fake_model(model)
    dist = tmp_path / "dist"
    rec = _Recorder(dist, extra_files)
    g = {"SPECPATH": str(INSTALLER), "DISTPATH": str(dist), "workpath": str(tmp_path / "work"),
         "__name__": "__main__", **rec.globals}
    monkeypatch.setattr(sys, "argv", ["labapp.spec", "--flavor", flavor, "--model-dir", str(model)])
    monkeypatch.setattr(sys, "platform", platform)
    if platform == "win32":
        import types
        for name in ("PyInstaller", "PyInstaller.utils", "PyInstaller.utils.win32"):
            monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
        monkeypatch.setitem(sys.modules, "PyInstaller.utils.win32.versioninfo", _versioninfo_stub())
        sys.modules["PyInstaller.utils.win32"].versioninfo = sys.modules["PyInstaller.utils.win32.versioninfo"]
    monkeypatch.chdir(tmp_path)
    exec(compile((INSTALLER / "labapp.spec").read_text(encoding="utf-8"), "labapp.spec", "exec"), g)
    bundle = dist / f"labapp-{flavor}"
    info = json.loads((bundle / "_internal" / "build_info.json").read_text(encoding="utf-8"))
    return rec, bundle, info


def test_spec_data_lists_on_linux(tmp_path, monkeypatch):
    rec, bundle, info = _run_spec(tmp_path, monkeypatch)
    cli, gui = rec.analyses
    dests = {d for d, _, _ in cli.datas}
    assert str(Path("resources", "icons", "labapp.png")) in dests
    assert str(Path("resources", "fonts", "DejaVuSans.ttf")) in dests
    assert str(Path("resources", "fonts", "WenQuanYiMicroHei-CJK-subset.ttf")) in dests
    assert str(Path("resources", "models", "mobilenet-test", "model.onnx")) in dests
    assert not any(d.endswith("weights.pt") for d in dests), "the cpu bundle leaves the weights out"
    assert "build_info.json" in dests and gui.datas == []
    assert "torch" in cli.kw["excludes"] and "lab_app.batch_report" in cli.hiddenimports
    assert [e["name"] for e in rec.exes] == ["labapp-batch", "labapp-report", "labapp-users", "labapp"]
    assert {"lab_app.report_cli", "lab_app.users_cli"} <= set(cli.hiddenimports)
    assert {"psycopg_binary.pq", "hl7apy.v2_5_1"} <= set(cli.hiddenimports) & set(gui.hiddenimports)
    assert cli.kw["module_collection_mode"] == {"psycopg": "py", "hl7apy": "py"}
    assert info["executables"] == ["labapp", "labapp-batch", "labapp-report", "labapp-users"]
    assert all(e["icon"] is None and e["version"] is None for e in rec.exes)  # Linux executables
    assert info["flavor"] == "cpu" and info["torch_cuda"] is None and "vc_runtime" not in info
    assert (bundle / "licenses" / "THIRD-PARTY-NOTICES.txt").is_file()


def test_spec_on_windows_icon_version_and_vc_runtime(tmp_path, monkeypatch):
    good = {"_internal/msvcp140.dll": _pe((14, 44), (14, 44, 35208, 0)),
            "_internal/msvcp140_1.dll": _pe((14, 44), (14, 44, 35208, 0)),
            "_internal/onnxruntime/capi/onnxruntime_pybind11_state.pyd": _pe((14, 42))}
    rec, bundle, info = _run_spec(tmp_path / "ok", monkeypatch, platform="win32", extra_files=good)
    for exe in rec.exes:
        assert Path(exe["icon"]) == REPO / "resources" / "icons" / "labapp.ico"
        assert exe["version"][0] == "VSVersionInfo"
    assert info["vc_runtime"]["required"] == "14.42"
    assert info["vc_runtime"]["dlls"]["_internal/msvcp140.dll"] == "14.44.35208.0"
    old = dict(good, **{"_internal/msvcp140.dll": _pe((14, 38), (14, 38, 33135, 0))})
    with pytest.raises(SystemExit, match="msvcp140.dll is 14.38.33135.0"):
        _run_spec(tmp_path / "old", monkeypatch, platform="win32", extra_files=old)


def test_spec_refuses_a_cuda_bundle_without_cuda_torch(tmp_path, monkeypatch):
    import importlib.util
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        pytest.skip("needs torch and torchvision installed (the cuda spec lists torchvision's files)")
    rec, _, info = _run_spec(tmp_path / "cuda", monkeypatch, flavor="cuda")
    torch_dir = Path(importlib.util.find_spec("torch").origin).parent
    assert info["torch_cuda"] == check_pins.torch_cuda_version(torch_dir)
    assert rec.analyses[0].binaries, "torchvision's operator libraries are listed"
    monkeypatch.setattr(check_pins, "torch_cuda_version", lambda torch_dir: None)
    with pytest.raises(SystemExit, match="CUDA build of torch"):
        _run_spec(tmp_path / "cpu-torch", monkeypatch, flavor="cuda")
