"""Checks of a built bundle (installer/build.sh): layout, size, no torch in the cpu flavor, and
both executables run on a PC without Python or network. Skipped where no bundle is built."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from installer_helpers import (EXE_SUFFIX, IS_WINDOWS, REPO, SIZE_LIMIT_MB, python_runs_in_sandbox,
                               run_frozen, sample_count, snapshot)

pytestmark = pytest.mark.installer

FORBIDDEN_TOP = {"torch", "torchvision", "torchaudio", "triton", "nvidia", "functorch", "onnx",
                 "tensorboard", "matplotlib", "scipy", "torch.libs", "torchvision.libs"}
FORBIDDEN_LIB = re.compile(r"^(lib)?(torch|c10|cudnn|cublas|cudart|nccl|nvrtc|cufft|cusparse|"
                           r"cusolver|curand|triton)[._-]", re.I)


def _read_pins(path: Path) -> dict[str, str]:
    sys.path.insert(0, str(REPO / "installer"))
    try:
        import check_pins
    finally:
        sys.path.pop(0)
    return check_pins.read_pins(path)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _du_mb(path: Path) -> int:
    if shutil.which("du") and not IS_WINDOWS:
        out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[0])
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20)


# -- layout -------------------------------------------------------------------------------------
def test_layout_resources_and_licences(bundle, build_info):
    internal = bundle / "_internal"
    models = internal / "resources" / "models"
    model_dirs = [p for p in models.iterdir() if (p / "model.json").is_file()]
    assert model_dirs, f"no model under {models}"
    for d in model_dirs:
        for f in ("model.json", "model.onnx", "MODEL_CARD.md"):
            assert (d / f).is_file(), f"{d / f} missing"
    fonts = internal / "resources" / "fonts"
    assert (fonts / "DejaVuSans.ttf").is_file() and (fonts / "DejaVuSans-Bold.ttf").is_file()
    for name in ("LICENSE-DejaVu.txt", "WenQuanYiMicroHei-CJK-subset.ttf",      # CJK names
                 "LICENSE-WenQuanYiMicroHei.txt"):
        assert (fonts / name).is_file(), f"{fonts / name} missing"
    licences = bundle / "licenses"
    notices = (licences / "THIRD-PARTY-NOTICES.txt").read_text(encoding="utf-8")
    for name, version in build_info["packages"].items():
        assert version in notices and any(_canonical(p.name).startswith(name) for p in licences.iterdir()), \
            f"no licence for bundled {name} {version} in {licences}"
    assert (licences / "Python-LICENSE.txt").is_file()
    assert "LGPL" in notices  # Qt's licence terms


def test_build_info_has_the_pinned_versions(build_info):
    from lab_app import __version__
    assert build_info["app_version"] == __version__, \
        f"the bundle is version {build_info['app_version']}, this checkout {__version__}: rebuild it"
    for key in ("flavor", "build_date", "python", "platform", "packages", "models"):
        assert build_info.get(key), f"build_info.json lacks {key}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", build_info["build_date"])
    pins = _read_pins(REPO / "installer" / f"constraints-{build_info['flavor']}.txt")
    expected_runtime = {"numpy", "pillow", "opencv-python-headless", "onnxruntime", "reportlab",
                        "platformdirs", "psycopg", "psycopg-binary"}   # psycopg: a lab network
    if "labapp" in build_info.get("executables", []):
        expected_runtime |= {"pyside6-essentials", "shiboken6"}
    assert expected_runtime <= set(build_info["packages"]), \
        f"bundled packages {sorted(build_info['packages'])} lack {expected_runtime - set(build_info['packages'])}"
    for name, version in build_info["packages"].items():
        assert pins.get(name) == version, f"{name} {version} in the bundle, pinned: {pins.get(name)}"


def test_cpu_bundle_has_no_torch(bundle, build_info):
    if build_info["flavor"] != "cpu":
        pytest.skip(f"a {build_info['flavor']} bundle carries torch by design")
    assert not {n for n in build_info["packages"] if n.startswith(("torch", "nvidia", "triton"))}
    bad = []
    for p in (bundle / "_internal").rglob("*"):
        rel = p.relative_to(bundle / "_internal")
        if rel.parts[0] in FORBIDDEN_TOP or FORBIDDEN_LIB.match(p.name):
            bad.append(str(rel))
    assert not bad, f"torch/CUDA files in the cpu bundle: {bad[:10]}"
    # The weights are read by torch only; the ONNX path verifies model.onnx alone.
    assert not list((bundle / "_internal" / "resources" / "models").rglob("weights.pt"))


def test_cpu_bundle_embeds_no_torch_modules(bundle, build_info):
    """The executables' module archives (PYZ) hold no torch/onnx module either."""
    venv_py = REPO / "build" / f"venv-{build_info['flavor']}" / ("Scripts/python.exe" if IS_WINDOWS else "bin/python")
    if build_info["flavor"] != "cpu":
        pytest.skip(f"a {build_info['flavor']} bundle carries torch by design")
    if not venv_py.is_file():
        pytest.skip(f"needs the build venv ({venv_py.parent.parent}) to read the executables' archives")
    code = ("import sys, json\n"
            "from PyInstaller.archive.readers import CArchiveReader\n"
            "names = set()\n"
            "for exe in sys.argv[1:]:\n"
            "    names |= set(CArchiveReader(exe).open_embedded_archive('PYZ.pyz').toc)\n"
            "print(json.dumps(sorted(names)))\n")
    exes = [str(p) for p in bundle.iterdir() if p.is_file() and p.name.startswith("labapp")
            and (p.suffix == ".exe" or not IS_WINDOWS)]
    out = subprocess.run([str(venv_py), "-c", code, *exes], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout)
    assert "lab_app.cli" in modules and "model.inference" in modules
    bad = sorted({m.split(".")[0] for m in modules} & FORBIDDEN_TOP)
    assert not bad, f"modules {bad} are embedded in the cpu executables"


def test_bundle_size(bundle, build_info):
    size = _du_mb(bundle)
    limit = SIZE_LIMIT_MB.get(build_info["flavor"])
    print(f"bundle {bundle}: {size} MB (du -sm)")
    if limit is None:
        pytest.skip(f"no size budget for the {build_info['flavor']} flavor ({size} MB)")
    assert size <= limit, f"{bundle} is {size} MB, over the {limit} MB budget"


def test_bundled_model_verifies_without_weights(bundle):
    from model.modeldir import ONNX, read_model_json, verify_file
    for d in (bundle / "_internal" / "resources" / "models").iterdir():
        if (d / "model.json").is_file():
            meta = read_model_json(d)
            verify_file(d, ONNX, meta.get("onnx_sha256"))


# -- running it like a clinic PC ------------------------------------------------------------------
def test_batch_help_starts(batch_exe, tmp_path):
    r = run_frozen([str(batch_exe), "--help"], tmp_path, timeout=120)
    assert r.returncode == 0, r.explain()
    assert "labapp-batch" in r.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the no-network, no-Python sandbox (unshare) exists on Linux only")
def test_sandbox_has_no_python(bundle, tmp_path):
    r = run_frozen(["/bin/true"], tmp_path)
    if not r.sandboxed:
        pytest.skip("no unshare as root here: the frozen runs use env -i only")
    assert not python_runs_in_sandbox(tmp_path / "probe"), \
        "a Python interpreter still starts in the sandbox; the no-Python check proves nothing"


def test_batch_report_offline_without_python(bundle, batch_exe, samples, tmp_path):
    out = tmp_path / "out"
    before = snapshot(bundle)
    r = run_frozen([str(batch_exe), str(samples), "--out", str(out), "--report", "--patient-id", "T1",
                    "--quiet"], tmp_path, keep=[samples])
    assert r.returncode == 0, r.explain()
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert len(results["images"]) == sample_count(samples)
    assert all(img["status"] == "ok" for img in results["images"]), results["images"]
    assert results["device"].startswith("CPU") or "CUDA" in results["device"]
    assert (out / "results.csv").is_file()
    pdf = out / "report.pdf"
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-"
    # The case went to the user's data folder, not into the installation.
    assert (tmp_path / "data" / "cases.sqlite3").is_file()
    assert snapshot(bundle) == before, "the run wrote into the installation folder"
    if r.inet_connects is not None:
        assert r.inet_connects == [], f"the batch tried to reach the network: {r.inet_connects}"
    print(f"sandboxed={r.sandboxed} traced={r.inet_connects is not None}")


def test_batch_loads_the_postgresql_driver(batch_exe, samples, tmp_path):
    """The bundle carries psycopg and its libpq (a lab network's case store): a server that is
    not there is "cannot be reached", never "needs the psycopg driver"; no server needed."""
    url = f"postgresql://labapp@/labcases?host={tmp_path / 'no-server'}&connect_timeout=2"
    r = run_frozen([str(batch_exe), str(samples), "--out", str(tmp_path / "out"), "--report",
                    "--patient-id", "T1", "--quiet", "--db", url], tmp_path, keep=[samples],
                   timeout=120)
    assert r.returncode == 1, r.explain()
    assert "cannot be reached" in r.stderr and "psycopg driver" not in r.stderr, r.explain()


def test_batch_report_to_a_postgresql_store(bundle, batch_exe, samples, tmp_path, pg_cluster):
    """labapp-batch --report --db postgresql://... from the bundle stores its case whole on a
    throwaway PostgreSQL 15 (tests/fixtures_pg.py), reached through its unix socket (the
    sandbox has no network); the bundle's labapp-users and labapp-report work on it too."""
    from lab_app.core.cases import CaseStore
    tcp_url = pg_cluster.create_database()
    dbname = tcp_url.rsplit("/", 1)[1]
    url = f"postgresql://{pg_cluster.user}@/{dbname}?host={pg_cluster.root}&port={pg_cluster.port}"
    r = run_frozen([str(batch_exe), str(samples), "--out", str(tmp_path / "out"), "--report",
                    "--patient-id", "PG-1", "--technician", "Frozen Tech", "--quiet", "--db", url],
                   tmp_path, keep=[samples, pg_cluster.root])
    assert r.returncode == 0, r.explain()
    with CaseStore(tcp_url) as store:
        [info] = store.list_cases()
        assert info.patient_id == "PG-1" and info.image_count == sample_count(samples)
        assert store.verify_case(info.id).intact
    assert not (tmp_path / "data" / "cases.sqlite3").exists()    # nothing went to SQLite

    # The bundle's labapp-users and labapp-report on the same server: the first account (an
    # administrator, password from stdin), the case's FHIR and HL7 files, --verify.
    users = bundle / f"labapp-users{EXE_SUFFIX}"
    report = bundle / f"labapp-report{EXE_SUFFIX}"
    secret = tmp_path / "pw.txt"
    secret.write_text("admin-pass-1\n", encoding="utf-8")
    r = run_frozen(["/bin/sh", "-c", f'"{users}" --db "{url}" --password-stdin add ada --role admin'
                    f' < "{secret}"'], tmp_path, keep=[bundle, pg_cluster.root]) \
        if not IS_WINDOWS else None
    if r is not None:
        assert r.returncode == 0 and "Account ada (admin) created" in r.stdout, r.explain()
    out = tmp_path
    r = run_frozen([str(report), str(info.id), "--fhir", str(out / "case.json"), "--hl7",
                    str(out / "case.hl7"), "--db", url], tmp_path, keep=[pg_cluster.root])
    assert r.returncode == 0, r.explain()
    assert json.loads((out / "case.json").read_text(encoding="utf-8"))["resourceType"] == "Bundle"
    assert (out / "case.hl7").read_bytes().startswith(b"MSH|^~\\&|ALL-Workstation|")
    r = run_frozen([str(report), "--verify", "--db", url], tmp_path, keep=[pg_cluster.root])
    assert r.returncode == 0 and "1 cases checked" in r.stdout, r.explain()
    r = run_frozen([str(users), "--db", url, "verify"], tmp_path, keep=[pg_cluster.root])
    assert r.returncode == 0 and "Accounts: " in r.stdout, r.explain()


def test_cuda_bundle_has_cuda_torch(build_info):
    """A cuda bundle must carry a torch built with CUDA: PyPI's Windows torch is CPU-only, and such
    a bundle would pass the load test below ("no usable CUDA GPU") on any PC without a GPU."""
    if build_info["flavor"] != "cuda":
        assert build_info.get("torch_cuda") is None
        pytest.skip("the cpu flavor has no torch")
    assert build_info.get("torch_cuda"), \
        f"the cuda bundle's torch has no CUDA (torch.version.cuda is {build_info.get('torch_cuda')!r})"
    torch_version = build_info["packages"].get("torch", "")
    assert "+cpu" not in torch_version, torch_version


def test_cuda_bundle_loads_torch(bundle, batch_exe, build_info, samples, tmp_path):
    """--device cuda imports torch, torchvision and the model architecture inside the bundle; on a
    PC without an NVIDIA GPU it must end with the clear device message, not a traceback."""
    if build_info["flavor"] != "cuda":
        pytest.skip("the cpu flavor has no torch (see test_cpu_bundle_has_no_torch)")
    r = run_frozen([str(batch_exe), str(samples), "--out", str(tmp_path / "out"), "--device", "cuda",
                    "--quiet"], tmp_path, keep=[samples])
    assert "Traceback" not in r.stderr, r.explain()
    if r.returncode == 0:
        assert "CUDA" in json.loads((tmp_path / "out" / "results.json").read_text())["device"]
    else:
        assert r.returncode == 1 and "no usable CUDA GPU" in r.stderr, r.explain()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_gui_screenshot_offscreen(bundle, gui_exe, samples, tmp_path):
    png = tmp_path / "shot.png"
    before = snapshot(bundle)
    r = run_frozen([str(gui_exe), "--open", str(samples), "--screenshot", str(png)], tmp_path,
                   env_extra={"QT_QPA_PLATFORM": "offscreen"}, keep=[samples], timeout=600)
    assert r.returncode == 0, r.explain()
    assert png.is_file(), r.explain()
    w, h = _png_size(png)
    assert w >= 400 and h >= 300, (w, h)
    assert snapshot(bundle) == before, "the GUI wrote into the installation folder"
    if r.inet_connects is not None:
        assert r.inet_connects == [], f"the GUI tried to reach the network: {r.inet_connects}"


@pytest.fixture
def x_display():
    """A private Xvfb display (no TCP), so the real xcb platform plugin of the bundle is loaded."""
    xvfb = shutil.which("Xvfb")
    if IS_WINDOWS or not xvfb:
        pytest.skip("Xvfb not installed (apt-get install xvfb): the bundle's xcb plugin is not checked")
    n = next(n for n in range(91, 140) if not Path(f"/tmp/.X11-unix/X{n}").exists()
             and not Path(f"/tmp/.X{n}-lock").exists())
    proc = subprocess.Popen([xvfb, f":{n}", "-screen", "0", "1366x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"Xvfb :{n} did not start")
            time.sleep(0.1)
        yield f":{n}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_gui_on_x11(bundle, gui_exe, samples, tmp_path, x_display):
    """The xcb platform plugin and the X11 libraries it needs load from the bundle."""
    png = tmp_path / "x11.png"
    r = run_frozen([str(gui_exe), "--open", str(samples), "--screenshot", str(png)], tmp_path,
                   env_extra={"QT_QPA_PLATFORM": "xcb", "DISPLAY": x_display}, keep=[samples],
                   timeout=600)
    assert r.returncode == 0, r.explain()
    assert png.is_file(), r.explain()
    assert _png_size(png)[0] >= 400


# -- the Linux tarball ----------------------------------------------------------------------------
def _linux_tarball(bundle: Path, build_info: dict) -> tuple[str, Path]:
    """The tarball's top folder name and path, beside the bundle; skips where it was not built."""
    import platform
    name = f"labapp-{build_info['app_version']}-linux-{platform.machine()}-{build_info['flavor']}"
    tarball = bundle.parent / f"{name}.tar.gz"
    if not tarball.is_file():
        pytest.skip(f"{tarball} not built (installer/build.sh --no-tarball?)")
    return name, tarball


def test_linux_tarball(bundle, build_info):
    if IS_WINDOWS:
        pytest.skip("the tarball is the Linux deliverable")
    name, tarball = _linux_tarball(bundle, build_info)
    with tarfile.open(tarball) as tf:
        members = {m.name: m for m in tf.getmembers()}
    for f in ("labapp-batch", "labapp.desktop", "INSTALL.txt", "install.sh", "uninstall.sh",
              "_internal/build_info.json", "licenses/THIRD-PARTY-NOTICES.txt"):
        assert f"{name}/{f}" in members, f"{f} missing from {tarball.name}"
    for f in ("labapp-batch", "install.sh"):
        assert members[f"{name}/{f}"].mode & 0o111 == 0o111
    if (bundle / "labapp").is_file():
        assert f"{name}/labapp" in members
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    unreadable = [n for n, m in members.items() if m.isfile() and not m.mode & 0o004]
    assert not unreadable, f"files other users cannot read: {unreadable[:5]}"


def test_linux_install_and_uninstall_keep_data(bundle, build_info, samples, tmp_path):
    """The tarball's install.sh, the installed labapp-batch, uninstall.sh: the program goes, the case
    database stays (the Linux side of the Windows CI job's install/uninstall steps)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("install.sh/uninstall.sh are the Linux installer")
    import hashlib
    name, tarball = _linux_tarball(bundle, build_info)
    unpack, prefix = tmp_path / "unpack", tmp_path / "opt" / "labapp"
    bin_dir, menu = tmp_path / "bin", tmp_path / "applications"
    unpack.mkdir()
    with tarfile.open(tarball) as tf:
        tf.extractall(unpack, filter="tar")
    where = ["--prefix", str(prefix), "--bin", str(bin_dir), "--menu", str(menu)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    subprocess.run(["sh", str(unpack / name / "install.sh"), *where], check=True, env=env,
                   capture_output=True, text=True)
    for tool in ("labapp-batch", "labapp-report", "labapp-users"):
        assert (bin_dir / tool).resolve() == prefix / tool
    if (prefix / "labapp").is_file():
        desktop = (menu / "labapp.desktop").read_text(encoding="utf-8")
        assert f"Exec={prefix}/labapp" in desktop
        assert f"Icon={prefix}/labapp.png" in desktop and (prefix / "labapp.png").is_file(), \
            "the menu entry has no icon (resources/icons/labapp.png)"
    r = run_frozen([str(bin_dir / "labapp-batch"), str(samples), "--out", str(tmp_path / "out"),
                    "--report", "--patient-id", "INSTALLED", "--quiet"], tmp_path / "run",
                   keep=[samples, prefix])
    assert r.returncode == 0, r.explain()
    db = tmp_path / "run" / "data" / "cases.sqlite3"
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    subprocess.run(["sh", str(prefix / "uninstall.sh"), *where], check=True, env=env,
                   capture_output=True, text=True)
    assert not prefix.exists()
    assert not any((bin_dir / t).is_symlink() for t in ("labapp-batch", "labapp-report", "labapp-users"))
    assert not (menu / "labapp.desktop").exists()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest, "uninstalling touched the case data"
