"""Checks only Windows can make: the executables' icon and version resources, the Visual C++
runtime as Windows reads it, the window on the real "windows" platform plugin and, after
installer/windows/ci-windows.ps1 installed the program (LABAPP_INSTALLED=1), the installation's
registry entries. Every test skips on other systems before doing anything Windows-specific; the
Linux side of the same rules is in test_installer_sources.py (read from the .iss and the PE files).
"""

from __future__ import annotations

import os
import sys

import pytest

from installer_helpers import REPO, run_frozen

pytestmark = [pytest.mark.installer,
              pytest.mark.skipif(sys.platform != "win32", reason="checks of the Windows bundle and installer")]

sys.path.insert(0, str(REPO / "installer"))
import bundle_tools as bt  # noqa: E402

sys.path.remove(str(REPO / "installer"))

APP_ID = "{3B6E2A51-9C4D-4F1E-A7B2-5D8C0E6F4A13}_is1"
VC_KEY = r"SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64"


def _installed() -> bool:
    return os.environ.get("LABAPP_INSTALLED") == "1"


def _icon_count(exe) -> int:
    import ctypes
    return ctypes.windll.shell32.ExtractIconExW(str(exe), -1, None, None, 0)


def test_windows_is_new_enough_for_qt():
    assert sys.getwindowsversion().build >= 17763, "Qt 6 needs Windows 10 1809 (build 17763) or later"


def test_executables_carry_icon_and_version(bundle, build_info):
    expected = bt.windows_version_tuple(build_info["app_version"])
    for name in ("labapp.exe", "labapp-batch.exe", "labapp-report.exe", "labapp-users.exe"):
        exe = bundle / name
        if not exe.is_file():
            continue
        assert _icon_count(exe) >= 1, f"{name} has no icon (resources/icons/labapp.ico)"
        assert bt.pe_file_version(exe.read_bytes()) == expected, f"{name} version resource"


def test_bundled_vc_runtime(bundle, build_info):
    report = bt.vc_runtime_report(bundle)
    assert report["problems"] == [], report
    assert build_info["vc_runtime"]["required"] == report["required"]


def test_system_vc_runtime_is_recent_enough(build_info):
    """Setup refuses (or updates) a PC whose runtime is older than the bundle needs."""
    if not _installed():
        pytest.skip("only after installing (LABAPP_INSTALLED=1)")
    import winreg
    need = tuple(int(n) for n in build_info["vc_runtime"]["required"].split("."))
    found = []
    for view in (winreg.KEY_WOW64_64KEY, winreg.KEY_WOW64_32KEY):
        try:
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, VC_KEY, 0, winreg.KEY_READ | view) as k:
                found.append((winreg.QueryValueEx(k, "Major")[0], winreg.QueryValueEx(k, "Minor")[0]))
        except OSError:
            pass
    assert found and max(found) >= need, f"VC runtime {found} older than {need}"


def test_uninstall_entry(bundle, build_info):
    if not _installed():
        pytest.skip("only after installing (LABAPP_INSTALLED=1)")
    import winreg
    key = rf"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{APP_ID}"
    with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key, 0, winreg.KEY_READ | winreg.KEY_WOW64_64KEY) as k:
        assert winreg.QueryValueEx(k, "DisplayVersion")[0] == build_info["app_version"]
        assert winreg.QueryValueEx(k, "DisplayIcon")[0].lower() == str(bundle / "labapp.exe").lower()
        assert os.path.normcase(winreg.QueryValueEx(k, "InstallLocation")[0].rstrip("\\")) == \
            os.path.normcase(str(bundle))


def test_gui_with_the_windows_platform_plugin(bundle, gui_exe, samples, tmp_path):
    """The real Windows platform plugin (qwindows.dll) and the DLLs it needs load from the bundle."""
    png = tmp_path / "windows.png"
    r = run_frozen([str(gui_exe), "--open", str(samples), "--screenshot", str(png)], tmp_path,
                   env_extra={"QT_QPA_PLATFORM": "windows"}, keep=[samples], timeout=600)
    assert r.returncode == 0, r.explain()
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") >= 400
