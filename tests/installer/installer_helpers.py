"""Helpers for tests/installer: running the bundle's executables the way a clinic PC does.

``run_frozen`` starts an executable with an empty environment (like env -i: a minimal PATH, HOME
and the data/config folders in a temporary directory, no proxies, no PYTHON* variables). Where it
can (Linux, root, unshare), it runs it in a new network namespace (no network at all) and a mount
namespace in which every Python installation on the machine is hidden, so a bundle that secretly
needed the system Python or the network fails here; with strace it records every connect(), so a
test can assert that the application never tries to reach an inet address.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IS_WINDOWS = sys.platform == "win32"
EXE_SUFFIX = ".exe" if IS_WINDOWS else ""
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
# The flavors' size budget (MB on disk, du -sm).
SIZE_LIMIT_MB = {"cpu": 600}


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def sample_count(folder: Path) -> int:
    return len(image_files(folder))


# -- running the frozen executables ---------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _can_unshare() -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    try:
        r = subprocess.run(["unshare", "--net", "--mount", "--fork", "true"], capture_output=True,
                           timeout=30)
        return r.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=1)
def _can_strace() -> bool:
    if not sys.platform.startswith("linux") or not shutil.which("strace"):
        return False
    try:
        r = subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "true"], capture_output=True,
                           timeout=30)
        return r.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _python_installs(keep: list[Path]) -> tuple[list[str], list[str]]:
    """(folders, files) holding a Python on this machine, minus any that contain a kept path."""
    dirs = {Path(sys.base_prefix), Path(sys.prefix)}
    for base in ("/usr/lib", "/usr/local/lib", "/opt"):
        dirs |= {p for p in Path(base).glob("python3*") if p.is_dir()}
    pyenv = Path.home() / ".pyenv"
    if pyenv.is_dir():
        dirs.add(pyenv)
    files = set()
    for base in ("/usr/bin", "/usr/local/bin"):
        files |= {p for p in Path(base).glob("python*") if p.exists()}

    def keeps(p: Path) -> bool:
        rp = p.resolve()
        return any(k.resolve() == rp or rp in k.resolve().parents for k in keep)

    dirs = {d.resolve() for d in dirs if d.is_dir() and not keeps(d)}
    # A folder inside another hidden one disappears with it (mounting on it would fail).
    dirs = {d for d in dirs if not any(o in d.parents for o in dirs)}
    files = {f for f in files if not keeps(f) and not any(d in f.resolve().parents for d in dirs)}
    return sorted(map(str, dirs)), sorted(map(str, files))


_HIDE = ('for d in $LABAPP_HIDE_DIRS; do mount -t tmpfs -o size=1m,mode=0755 tmpfs "$d" || exit 97; '
         'done; for f in $LABAPP_HIDE_FILES; do mount --bind /dev/null "$f" || exit 97; done; '
         'unset LABAPP_HIDE_DIRS LABAPP_HIDE_FILES; exec "$@"')


@dataclass
class FrozenRun:
    returncode: int
    stdout: str
    stderr: str
    sandboxed: bool          # no network namespace + Python installations hidden
    inet_connects: list[str] | None   # connect() calls to AF_INET/AF_INET6; None: not traced

    def explain(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"


def minimal_env(tmp: Path, **extra: str) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    if IS_WINDOWS:
        env = {"SystemRoot": os.environ.get("SystemRoot", r"C:\Windows"),
               "PATH": os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32"),
               "USERPROFILE": str(home), "LOCALAPPDATA": str(home / "AppData" / "Local"),
               "APPDATA": str(home / "AppData" / "Roaming"), "TEMP": str(tmp), "TMP": str(tmp)}
    else:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp), "LANG": "C.UTF-8",
               "XDG_RUNTIME_DIR": str(tmp / "runtime")}
        (tmp / "runtime").mkdir(mode=0o700, exist_ok=True)
    env.update({"LABAPP_DATA_DIR": str(tmp / "data"), "LABAPP_CONFIG_DIR": str(tmp / "config")})
    env.update(extra)
    return env


def run_frozen(cmd: list[str], tmp: Path, *, env_extra: dict[str, str] | None = None,
               keep: list[Path] = (), timeout: float = 600) -> FrozenRun:
    env = minimal_env(tmp, **(env_extra or {}))
    prefix: list[str] = []
    sandboxed = _can_unshare()
    if sandboxed:
        dirs, files = _python_installs([Path(cmd[0]), tmp, *keep])
        env = {**env, "LABAPP_HIDE_DIRS": " ".join(dirs), "LABAPP_HIDE_FILES": " ".join(files)}
        prefix = ["unshare", "--net", "--mount", "--fork", "/bin/sh", "-c", _HIDE, "sandbox"]
    trace_log = tmp / "strace.log"
    tracer = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace_log)] \
        if _can_strace() else []
    # strace and unshare are started by absolute path: PATH is the minimal one.
    full = [shutil.which(c) or c if i == 0 else c for i, c in enumerate(prefix)] + \
        ([shutil.which("strace")] + tracer[1:] if tracer else []) + [str(c) for c in cmd]
    proc = subprocess.run(full, env=env, capture_output=True, text=True, timeout=timeout,
                          errors="replace")
    connects = None
    if tracer and trace_log.is_file():
        connects = [line.strip() for line in trace_log.read_text(errors="replace").splitlines()
                    if "connect(" in line and ("AF_INET" in line or "AF_INET6" in line)]
    return FrozenRun(proc.returncode, proc.stdout, proc.stderr, sandboxed, connects)


def python_runs_in_sandbox(tmp: Path) -> bool:
    """True if a Python interpreter can still be started in the sandbox (it should not)."""
    r = run_frozen(["/bin/sh", "-c", "python3 -c 'print(1)' || python -c 'print(1)'"], tmp)
    return r.returncode == 0


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}
