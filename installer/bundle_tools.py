"""Build-time helpers for installer/labapp.spec (no PyInstaller, no Qt import: unit-testable).

- which model dirs and resource files go into the bundle, verified before they are copied;
- which PySide6 modules the application imports (every other heavy Qt module is excluded);
- which installed distributions actually end up in the bundle (for build_info.json and licences);
- build_info.json and the licences/ folder with THIRD-PARTY-NOTICES.txt;
- Windows: the Visual C++ runtime the bundle carries, read from the PE files themselves, so the
  check runs (and is tested) on any platform.

``python installer/bundle_tools.py vc-runtime BUNDLE`` prints that check as JSON (build.ps1).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from model.errors import ModelLoadError
from model.manifest import identity_of, read_manifest, verify_model
from model.modeldir import verify_file

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "ALL Subtype Workstation"
# The console programs built from labapp-batch's script and archive (installer/entry_batch.py
# runs the one its executable is named after), with their Windows file descriptions.
CONSOLE_TOOLS = {"labapp-report": "ALL Subtype Workstation reports and LIS exports",
                 "labapp-users": "ALL Subtype Workstation user accounts"}

# Qt modules a lab workstation never needs; each is excluded unless lab_app imports it.
HEAVY_QT_MODULES = (
    "Qt3DAnimation", "Qt3DCore", "Qt3DExtras", "Qt3DInput", "Qt3DLogic", "Qt3DRender",
    "QtAxContainer", "QtBluetooth", "QtCharts", "QtDataVisualization", "QtDesigner", "QtGraphs",
    "QtGraphsWidgets", "QtHelp", "QtHttpServer", "QtLocation", "QtMultimedia",
    "QtMultimediaWidgets", "QtNetworkAuth", "QtNfc", "QtPdf", "QtPdfWidgets", "QtPositioning",
    "QtQml", "QtQuick", "QtQuick3D", "QtQuickControls2", "QtQuickTest", "QtQuickWidgets",
    "QtRemoteObjects", "QtScxml", "QtSensors", "QtSerialBus", "QtSerialPort", "QtSpatialAudio",
    "QtSql", "QtStateMachine", "QtTest", "QtTextToSpeech", "QtUiTools", "QtWebChannel",
    "QtWebEngineCore", "QtWebEngineQuick", "QtWebEngineWidgets", "QtWebSockets", "QtWebView",
)

# Never part of the clinic bundle, whatever the flavor (training, notebooks, test tools).
EXCLUDES_ALWAYS = (
    "tkinter", "_tkinter", "matplotlib", "scipy", "pandas", "sklearn", "IPython", "jupyter",
    "jupyter_client", "notebook", "pytest", "_pytest", "pytestqt", "tensorboard", "tensorflow",
    "onnxruntime.transformers", "onnxruntime.tools", "onnxruntime.quantization",
    "onnxruntime.training", "PyInstaller", "pip",
    # The repository's reproduction scripts and docs generators: never imported by the app.
    "research", "tools",
)
# The cpu flavor runs ONNX Runtime only: torch, everything CUDA and what only torch or training
# use stays out (torch itself needs sympy and networkx at import).
EXCLUDES_CPU = ("torch", "torchvision", "torchaudio", "triton", "nvidia", "cuda", "functorch",
                "onnx", "onnxscript", "sympy", "networkx", "tqdm")

# Top-level names (module or bundle folder) that must never appear in a cpu bundle.
FORBIDDEN_IN_CPU = ("torch", "torchvision", "torchaudio", "triton", "nvidia", "functorch",
                    "torch.libs", "torchvision.libs", "onnx", "tensorboard")

# Installed in the build venv for building only; not counted as bundled packages.
BUILD_ONLY = {"pip", "setuptools", "wheel", "pyinstaller", "pyinstaller-hooks-contrib",
              "altgraph", "pefile", "pywin32-ctypes", "macholib"}
PROJECT_DIST = "all-subtype-workstation"

_LICENCE_FILE = re.compile(r"^(licen[cs]e|copying|notice|third[-_ ]?party|copyright|authors)",
                           re.I)
# Wheels that ship no licence text although their licence names its holder (BSD): the text from
# the package's own source distribution on PyPI, kept in installer/licenses/.
_PACKAGE_TEXTS = {"fhir-core": "fhir-core-LICENSE.txt", "fhir-resources": "fhir-resources-LICENSE.txt"}
# Where a wheel ships no licence text, the text of its declared licence (installer/licenses/).
_FALLBACK_TEXTS = (
    (re.compile(r"LGPL-?3|LESSER GENERAL PUBLIC LICENSE.*3|LGPLv3", re.I), ("LGPL-3.0.txt", "GPL-3.0.txt")),
    (re.compile(r"(?<!L)GPL-?3|GPLv3", re.I), ("GPL-3.0.txt",)),
    (re.compile(r"(?<!L)GPL-?2|GPLv2", re.I), ("GPL-2.0.txt",)),
    (re.compile(r"Apache", re.I), ("Apache-2.0.txt",)),
)


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name (PySide6_Essentials -> pyside6-essentials)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def app_version(root: Path = ROOT) -> str:
    text = (root / "lab_app" / "__init__.py").read_text(encoding="utf-8")
    m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
    if not m:
        raise SystemExit("lab_app/__init__.py has no __version__")
    return m.group(1)


# -- Qt modules ---------------------------------------------------------------------------------
def qt_modules_used(root: Path = ROOT) -> set[str]:
    """PySide6 modules imported anywhere in lab_app (``PySide6.QtX`` or ``from PySide6 import``)."""
    used: set[str] = set()
    for py in (root / "lab_app").rglob("*.py"):
        text = py.read_text(encoding="utf-8", errors="replace")
        used.update(re.findall(r"PySide6\.(Qt\w+)", text))
        for group in re.findall(r"from\s+PySide6\s+import\s+(\([^)]*\)|[^\n]+)", text):
            used.update(re.findall(r"\bQt\w+", group))
    return used


def qt_excludes(root: Path = ROOT) -> list[str]:
    used = qt_modules_used(root)
    return [f"PySide6.{m}" for m in HEAVY_QT_MODULES if m not in used]


def excludes(flavor: str, root: Path = ROOT) -> list[str]:
    ex = list(EXCLUDES_ALWAYS) + qt_excludes(root)
    if flavor == "cpu":
        ex += EXCLUDES_CPU
    return ex


# -- resources and models -----------------------------------------------------------------------
def _skip(path: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in path.parts) \
        or path.suffix in (".tmp", ".pyc")


def find_model_dirs(models_root: Path) -> list[Path]:
    if not models_root.is_dir():
        return []
    return sorted(p for p in models_root.iterdir() if (p / "model.json").is_file())


def check_model_dir(model_dir: Path, flavor: str) -> dict:
    """Refuse to bundle a model that the app would refuse at run time; returns model.json."""
    meta_path = model_dir / "model.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{meta_path} cannot be read: {exc}") from exc
    checks = [("model.onnx", meta.get("onnx_sha256"))]
    density = meta.get("feature_density")
    if density:  # the unlike-training detector (model/ood.py), read by both backends
        checks.append((density.get("file", "feature_density.npz"), density.get("sha256")))
    if flavor == "cuda":
        checks.append(("weights.pt", meta.get("sha256")))
    for filename, expected in checks:
        if not (model_dir / filename).is_file():
            raise SystemExit(f"{model_dir / filename} is missing; the {flavor} bundle needs it.")
        try:  # the very check the app makes before it loads the file
            verify_file(model_dir, filename, expected)
        except ModelLoadError as exc:
            raise SystemExit(f"{exc} Not bundling it.") from exc
    for f in ("MODEL_CARD.md",):
        if not (model_dir / f).is_file():
            raise SystemExit(f"{model_dir / f} is missing; every bundled model carries its card.")
    try:  # the manifest the engine checks first (model/manifest.py): every file, model.json too;
        # weights.pt may be absent from a cpu bundle (only torch reads it), never changed
        for backend in ("onnx", "torch") if flavor == "cuda" else ("onnx",):
            verify_model(model_dir, backend)
    except ModelLoadError as exc:
        raise SystemExit(f"{exc} Not bundling it.") from exc
    return meta


def model_datas(model_dirs: Iterable[Path], flavor: str) -> tuple[list[tuple[str, str]], list[dict]]:
    """(src, dest-folder) pairs under resources/models/<name>/, plus a summary of each model.

    The cpu flavor leaves weights.pt out: only torch reads it, and manifest.json (which still
    names its checksum, so the model's identity is the same in both flavors) allows its absence.
    """
    datas, summary = [], []
    for d in model_dirs:
        d = Path(d).resolve()
        meta = check_model_dir(d, flavor)
        for f in sorted(d.rglob("*")):
            if not f.is_file() or _skip(f.relative_to(d)):
                continue
            if flavor == "cpu" and f.name == "weights.pt":
                continue
            rel_parent = f.relative_to(d).parent
            datas.append((str(f), str(Path("resources", "models", d.name, rel_parent))))
        summary.append({"folder": d.name, "name": meta.get("name"), "version": meta.get("version"),
                        "identity": identity_of(read_manifest(d)),
                        "onnx_sha256": meta.get("onnx_sha256"), "weights_sha256": meta.get("sha256"),
                        "weights_bundled": flavor != "cpu"})
    return datas, summary


def resource_datas(resources: Path) -> list[tuple[str, str]]:
    """Everything in resources/ except models/ (fonts, samples, icons...), same layout."""
    datas = []
    for f in sorted(resources.rglob("*")):
        rel = f.relative_to(resources)
        if not f.is_file() or _skip(rel) or rel.parts[0] == "models":
            continue
        datas.append((str(f), str(Path("resources", rel.parent))))
    return datas


# -- distributions in the bundle ----------------------------------------------------------------
def _top_level_index() -> dict[str, set[str]]:
    """Top-level file/folder name in site-packages -> canonical names of the dists owning it."""
    index: dict[str, set[str]] = {}
    for dist in md.distributions():
        name = canonical(dist.metadata["Name"] or "")
        for f in dist.files or ():
            top = f.parts[0] if f.parts else ""
            if not top or top == ".." or top.endswith((".dist-info", ".egg-info")):
                continue
            if top.endswith(".py"):
                top = top[:-3]
            index.setdefault(top, set()).add(name)
    return index


def _installed() -> dict[str, md.Distribution]:
    """Canonical name -> distribution, first on sys.path winning (setuptools appends its vendored
    copies, e.g. an older packaging, to sys.path once it is imported by a hook)."""
    found: dict[str, md.Distribution] = {}
    for d in md.distributions():
        found.setdefault(canonical(d.metadata["Name"] or ""), d)
    return found


def bundled_distributions(module_names: Iterable[str], dest_paths: Iterable[str]) -> dict[str, str]:
    """Canonical name -> version of each installed distribution with a file in the bundle."""
    index = _top_level_index()
    found: set[str] = set()
    for mod in module_names:
        found |= index.get(mod.split(".")[0], set())
    for dest in dest_paths:
        parts = Path(dest).parts
        if parts:
            found |= index.get(parts[0], set())
    versions = _installed()
    return {n: versions[n].version for n in sorted(found - BUILD_ONLY - {PROJECT_DIST}) if n in versions}


def forbidden_in_cpu(module_names: Iterable[str], dest_paths: Iterable[str]) -> list[str]:
    bad = set()
    for mod in module_names:
        if mod.split(".")[0] in FORBIDDEN_IN_CPU:
            bad.add(mod.split(".")[0])
    for dest in dest_paths:
        parts = Path(dest).parts
        if parts and parts[0] in FORBIDDEN_IN_CPU:
            bad.add(parts[0])
    return sorted(bad)


# -- build_info.json ----------------------------------------------------------------------------
def _git(root: Path, *args: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def build_date() -> str:
    """UTC, ISO 8601; SOURCE_DATE_EPOCH (reproducible builds) wins over the clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch
            else dt.datetime.now(dt.timezone.utc))
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def make_build_info(flavor: str, packages: dict[str, str], models: list[dict], gui: bool,
                    root: Path = ROOT, torch_cuda: str | None = None) -> dict:
    tools = {}
    for n in ("pyinstaller", "pyinstaller-hooks-contrib"):
        try:
            tools[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    commit = _git(root, "rev-parse", "--short=12", "HEAD")
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {
        "app": APP_NAME,
        "app_version": app_version(root),
        "flavor": flavor,
        "frozen": True,
        "build_date": build_date(),
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
        "python": platform.python_version(),
        "platform": f"{platform.system()}-{platform.machine()}",
        "executables": (["labapp"] if gui else []) + ["labapp-batch", *CONSOLE_TOOLS],
        "models": models,
        "packages": packages,
        "build_tools": tools,
        # The CUDA version torch was built for (torch.version.cuda); None in a cpu bundle. A cuda
        # bundle without it would carry a CPU-only torch (tests/installer refuse that).
        "torch_cuda": torch_cuda,
    }


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# -- licences -----------------------------------------------------------------------------------
def _licence_of(dist) -> str:
    meta = dist.metadata
    text = meta.get("License-Expression") or ""
    if not text:
        lic = (meta.get("License") or "").strip()
        text = lic.splitlines()[0][:120] if lic and len(lic) < 400 else ""
    if not text:
        text = "; ".join(c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                         if c.startswith("License ::"))
    return text or "see the licence files"


def _python_licence() -> Path | None:
    base = Path(sys.base_prefix)
    for p in (base / "LICENSE.txt",
              base / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "LICENSE.txt",
              Path(f"/usr/share/doc/python{sys.version_info[0]}.{sys.version_info[1]}/copyright")):
        if p.is_file():
            return p
    return None


def collect_licences(target: Path, packages: dict[str, str], root: Path = ROOT) -> list[str]:
    """Copy the licence texts of everything bundled into ``target`` and write the notices file.

    Returns warnings (packages for which no licence text was found).
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    fallback_dir = Path(__file__).resolve().parent / "licenses"
    dists = _installed()
    lines = [f"{APP_NAME} {app_version(root)}: third-party software in this bundle", "=" * 72, ""]
    warnings: list[str] = []

    project_licence = next((root / n for n in ("LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING")
                            if (root / n).is_file()), None)
    if project_licence:
        shutil.copy2(project_licence, target / f"{APP_NAME.replace(' ', '-')}-LICENSE.txt")
        lines += [f"{APP_NAME}: {project_licence.name} (this application)", ""]
    else:
        lines += [f"{APP_NAME}: MIT (pyproject.toml); no LICENSE file in the source tree.", ""]

    py = _python_licence()
    if py:
        shutil.copy2(py, target / "Python-LICENSE.txt")
    lines += [f"Python {platform.python_version()} (interpreter and standard library, in _internal): "
              f"PSF License Version 2{'  -> Python-LICENSE.txt' if py else ' (licence file not found)'}", ""]
    if not py:
        warnings.append("Python licence text not found")

    # The PyInstaller bootloader is part of every executable (GPL-2.0+ with bootloader exception).
    names = sorted(set(packages) | ({"pyinstaller"} & set(dists)))
    for name in names:
        dist = dists.get(name)
        if dist is None:
            continue
        folder = target / f"{dist.metadata['Name']}-{dist.version}"
        copied = []
        for f in dist.files or ():
            if not _LICENCE_FILE.match(f.name) or f.suffix in (".py", ".pyc", ".so", ".dll", ".pyd"):
                continue
            src = Path(dist.locate_file(f))
            if not src.is_file() or src.stat().st_size > 2_000_000:
                continue
            # Keep the relative path (numpy ships one licence per vendored library).
            rel = Path(*[p for p in f.parts if not p.endswith(".dist-info")])
            if rel.parts and rel.parts[0] == "licenses":
                rel = Path(*rel.parts[1:]) if len(rel.parts) > 1 else rel
            dst = folder / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                shutil.copy2(src, dst)
                copied.append(str(rel).replace(os.sep, "/"))
        licence = _licence_of(dist)
        own = _PACKAGE_TEXTS.get(re.sub(r"[-_.]+", "-", str(dist.metadata["Name"])).lower())
        if not copied and own:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(fallback_dir / own, folder / "LICENSE")
            copied.append("LICENSE")
        if not copied:
            for pattern, texts in _FALLBACK_TEXTS:
                if pattern.search(licence) or pattern.search(dist.metadata.get("License") or ""):
                    folder.mkdir(parents=True, exist_ok=True)
                    for t in texts:
                        shutil.copy2(fallback_dir / t, folder / t)
                        copied.append(t)
                    break
        if not copied:
            warnings.append(f"no licence text found for {name} {dist.version} ({licence})")
        home = dist.metadata.get("Home-page") or next(
            (u.split(",", 1)[1].strip() for u in dist.metadata.get_all("Project-URL") or []
             if "," in u), "")
        lines.append(f"{dist.metadata['Name']} {dist.version}: {licence}")
        if home:
            lines.append(f"    {home}")
        for c in copied:
            lines.append(f"    -> {folder.name}/{c}")
        lines.append("")

    lines += [
        "Qt 6 (through PySide6/shiboken6) is used under the GNU LGPL v3. The Qt libraries are",
        "separate shared libraries in _internal/PySide6/Qt/lib (Windows: _internal/PySide6/*.dll);",
        "you may replace them with a compatible build of your own. The Qt source code is available",
        "from https://download.qt.io/official_releases/qt/ and the licences of the third-party code",
        "inside Qt are listed at https://doc.qt.io/qt-6/licenses-used-in-qt.html.",
        "",
        "The report fonts carry their own licences, beside them in _internal/resources/fonts/:",
        "DejaVu Sans (LICENSE-DejaVu.txt) and a Chinese/Japanese/Korean subset of WenQuanYi Micro",
        "Hei (Apache License 2.0, LICENSE-WenQuanYiMicroHei.txt).",
        "",
    ]
    if warnings:
        lines += ["Not found at build time:"] + [f"    {w}" for w in warnings] + [""]
    (target / "THIRD-PARTY-NOTICES.txt").write_text("\n".join(lines), encoding="utf-8")
    return warnings


def windows_version_tuple(version: str) -> tuple[int, int, int, int]:
    nums = [int(n) for n in re.findall(r"\d+", version)[:4]]
    return tuple((nums + [0, 0, 0, 0])[:4])  # type: ignore[return-value]


# -- Windows: the Visual C++ runtime in the bundle ----------------------------------------------
# onnxruntime (and Qt) need msvcp140.dll / msvcp140_1.dll at least as new as the MSVC toolset they
# were built with: Microsoft's rule for the v14 runtime, and since VS 2022 17.10 (14.40) an older
# msvcp140.dll crashes in std::mutex ("DLL initialization routine failed" on import). PyInstaller
# collects whatever copy the build machine has and only warns when it finds none.
VC_MSVCP_REQUIRED = ("msvcp140.dll", "msvcp140_1.dll")
VC_RUNTIME_PATTERN = re.compile(r"^(msvcp140(_\w+)?|vcruntime140(_\w+)?|concrt140)\.dll$", re.I)
# The floor whatever onnxruntime says: the first runtime with the constexpr std::mutex (14.40.33810).
VC_RUNTIME_FLOOR = (14, 40)
_VS_FIXEDFILEINFO_SIG = struct.pack("<I", 0xFEEF04BD)


def pe_linker_version(data: bytes) -> tuple[int, int] | None:
    """(MajorLinkerVersion, MinorLinkerVersion) of a PE file (exe/dll/pyd), else None.

    For MSVC 14.x the linker version is the toolset version: 14.44 = VS 2022 17.14.
    """
    if len(data) < 0x40 or data[:2] != b"MZ":
        return None
    off = struct.unpack_from("<I", data, 0x3C)[0]
    if len(data) < off + 24 + 4 or data[off:off + 4] != b"PE\0\0":
        return None
    opt = off + 24  # after the signature and the 20-byte COFF header
    if struct.unpack_from("<H", data, opt)[0] not in (0x10B, 0x20B):  # PE32, PE32+
        return None
    return data[opt + 2], data[opt + 3]


def pe_file_version(data: bytes) -> tuple[int, int, int, int] | None:
    """FileVersion of a PE file from its VS_FIXEDFILEINFO (what Explorer shows), else None."""
    start = data.find("VS_VERSION_INFO".encode("utf-16-le"))
    i = data.find(_VS_FIXEDFILEINFO_SIG, max(start, 0))
    if i < 0 or len(data) < i + 16:
        return None
    ms, ls = struct.unpack_from("<II", data, i + 8)
    return ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF


def _version_text(v: Iterable[int]) -> str:
    return ".".join(str(n) for n in v)


def vc_runtime_report(bundle: Path) -> dict:
    """The Visual C++ runtime check of a Windows bundle (DIST/labapp-<flavor>).

    required: the newest toolset (linker version) among onnxruntime's binaries, at least
    VC_RUNTIME_FLOOR; dlls: every bundled msvcp140*/vcruntime140*/concrt140 copy with its
    FileVersion; problems: a required msvcp140 DLL missing, or any msvcp140*.dll older than
    required (fatal); warnings: vcruntime140*.dll older than required (Python's own copy, which
    the interpreter loads first; reported, not fatal).
    """
    internal = bundle / "_internal"
    required = VC_RUNTIME_FLOOR
    required_by = "the std::mutex change of MSVC 14.40"
    for f in sorted((internal / "onnxruntime").rglob("*")) if (internal / "onnxruntime").is_dir() else []:
        if f.suffix.lower() not in (".pyd", ".dll") or f.name.lower().startswith(("msvcp", "vcruntime")):
            continue
        linker = pe_linker_version(f.read_bytes())
        if linker and linker[0] == 14 and linker > required:
            required, required_by = linker, str(f.relative_to(bundle)).replace(os.sep, "/")
    dlls: dict[str, str | None] = {}
    problems: list[str] = []
    warnings: list[str] = []
    for f in sorted(p for p in bundle.rglob("*") if p.is_file() and VC_RUNTIME_PATTERN.match(p.name)):
        rel = str(f.relative_to(bundle)).replace(os.sep, "/")
        version = pe_file_version(f.read_bytes())
        dlls[rel] = _version_text(version) if version else None
        old = version is None or version[:2] < required
        if old and f.name.lower().startswith("msvcp140"):
            problems.append(f"{rel} is {dlls[rel] or 'of unknown version'}, older than "
                            f"{_version_text(required)} ({required_by})")
        elif old and f.name.lower().startswith("vcruntime140"):
            warnings.append(f"{rel} is {dlls[rel] or 'of unknown version'}, older than "
                            f"{_version_text(required)}")
    names = {Path(r).name.lower() for r in dlls}
    for name in VC_MSVCP_REQUIRED:
        if name not in names:
            problems.append(f"{name} is not in the bundle: onnxruntime needs it; install the "
                            f"Visual C++ 2015-2022 runtime >= {_version_text(required)} on the "
                            f"build machine (PyInstaller collects the system copy)")
    return {"required": _version_text(required), "required_by": required_by, "dlls": dlls,
            "problems": problems, "warnings": warnings}


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="bundle_tools.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    vc = sub.add_parser("vc-runtime", help="check the Visual C++ runtime of a Windows bundle")
    vc.add_argument("bundle", type=Path)
    args = p.parse_args(argv)
    report = vc_runtime_report(args.bundle)
    print(json.dumps(report, indent=2))
    for w in report["warnings"]:
        print(f"WARNING: {w}", file=sys.stderr)
    for problem in report["problems"]:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
