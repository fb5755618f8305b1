"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The data goes to a temporary file in the destination folder (same file system, so the final
``os.replace`` is a rename), is flushed and fsync'ed, and only then replaces the target. A crash
or a kill at any point leaves either the previous file or the complete new one, plus at worst a
stray ``.<name>.*.tmp`` file that the next write does not depend on.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text", "atomic_writer",
           "signals_held"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    ``mode`` (e.g. ``0o600``) sets the file's permission bits on POSIX; by default the new file
    keeps the permissions of the file it replaces, or gets the usual umask-based ones.
    """
    with atomic_writer(path, mode=mode) as handle:
        handle.write(data)
    return Path(path)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` in pieces, atomically: it replaces ``path`` when the
    ``with`` block ends normally; an exception leaves ``path`` as it was and no temporary file.
    ``mode`` as for ``atomic_write_bytes``."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if mode is None and target.exists():
        mode = target.stat().st_mode & 0o777
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the result the permissions a normal write would.
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        if os.name == "posix":
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        # Leave no temporary file behind on failure (disk full, permission denied, KeyboardInterrupt).
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      mode: int | None = None) -> Path:
    """Write ``text`` atomically; newlines are written as given (no platform translation)."""
    return atomic_write_bytes(path, text.encode(encoding), mode=mode)


def atomic_write_json(path: str | os.PathLike[str], obj) -> Path:
    """Write ``obj`` as indented UTF-8 JSON (non-ASCII kept as is) atomically."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the OS allows it (POSIX); a no-op on Windows."""
    if os.name != "posix":
        return
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def signals_held(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while files that belong together are written, then act on them.

    Each file is atomic on its own; a pair (results.json and results.csv) is only consistent if
    an interrupt cannot fall between the two writes. A signal that arrives inside the block is
    noted and delivered again, to the handler that was there before, when the block ends. Off
    the main thread (where handlers cannot be set) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous: dict[int, object] = {}
    for signum in signums:
        handler = signal.getsignal(signum)
        if handler is None:          # installed outside Python: not ours to replace
            continue
        previous[signum] = signal.signal(signum, lambda n, _frame: pending.append(n))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])
