"""Watch a folder for captures: hand over each image file once it is complete, in arrival order.

Microscope camera software (ZEN, LAS X, ToupView, µManager) saves each capture into a folder,
some in pieces over seconds, some as a temporary name renamed into place. A file is handed over
when all of these hold:
- its name is an image name (not hidden, not a temporary ``.part``/``.tmp``/``~`` name);
- its size and modification time have not changed for ``settle_s`` seconds;
- it can be opened for reading (Windows writers hold it open exclusively);
- a JPEG ends with its end-of-image marker, a PNG with its IEND chunk. A file that never gets
  one is handed over after ``give_up_s`` (the pipeline then flags it as damaged).

The folder listing is the source of truth: OS file events (``watchdog``: inotify, FSEvents,
ReadDirectoryChangesW) only wake the scan early. Without them (network shares often deliver
none) the folder is listed every ``poll_s`` seconds; there is no busy loop either way.

Qt-free: ``labapp-batch --watch`` iterates :func:`watch_folder`; the window runs the same loop in
a thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import LabAppError
from .imaging import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

SETTLE_S = 1.0      # unchanged this long -> the writer is done (with a complete end marker)
GIVE_UP_S = 30.0    # unchanged this long without an end marker -> hand it over anyway
POLL_S = 2.0        # folder listing interval without file events
STOP_CHECK_S = 0.2
TEMP_SUFFIXES = (".part", ".tmp", ".temp", ".crdownload", ".partial", ".download")


class WatchError(LabAppError):
    """The watched folder cannot be read."""


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    first_seen: float
    stable_since: float


def is_candidate(name: str) -> bool:
    """An image file name the camera software has finished naming."""
    low = name.lower()
    if name.startswith((".", "~")) or low.endswith(TEMP_SUFFIXES):
        return False
    return Path(low).suffix in IMAGE_EXTENSIONS


def has_end_marker(path: Path) -> bool | None:
    """True/False for JPEG and PNG (is the end marker there?); None for formats without one."""
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64))
            tail = f.read()
    except OSError:
        return False
    if suffix in (".jpg", ".jpeg") or head.startswith(b"\xff\xd8"):
        # Some cameras pad after the marker; it must be in the last bytes.
        return b"\xff\xd9" in tail
    if suffix == ".png" or head.startswith(b"\x89PNG"):
        return b"IEND" in tail[-12:]
    return None


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False


class FolderScanner:
    """The completeness rule, applied to one listing at a time (``scan(now)``); no threads."""

    def __init__(self, folder: str | os.PathLike[str], *, include_existing: bool = False,
                 settle_s: float = SETTLE_S, give_up_s: float = GIVE_UP_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise WatchError(f"{self.folder} is not a folder that can be watched.")
        self.settle_s = settle_s
        self.give_up_s = give_up_s
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        self._done: set[str] = set()
        if not include_existing:
            self._done.update(e.path for e in self._entries())

    def _entries(self) -> list[os.DirEntry]:
        try:
            with os.scandir(self.folder) as it:
                return [e for e in it if is_candidate(e.name) and e.is_file()]
        except OSError as exc:
            raise WatchError(f"The watched folder {self.folder} cannot be read: "
                             f"{exc.strerror or exc}.") from exc

    @property
    def waiting(self) -> int:
        """Files seen but not yet complete."""
        return len(self._seen)

    def scan(self) -> list[Path]:
        """The files that became complete since the last scan, in arrival order."""
        now = self._clock()
        ready: list[tuple[float, str]] = []
        present = set()
        for entry in self._entries():
            key = entry.path
            present.add(key)
            if key in self._done:
                continue
            try:
                st = entry.stat()
            except OSError:
                continue   # renamed or removed between listing and stat
            seen = self._seen.get(key)
            if seen is None or (st.st_size, st.st_mtime_ns) != (seen.size, seen.mtime_ns):
                first = seen.first_seen if seen is not None else now
                self._seen[key] = _Seen(st.st_size, st.st_mtime_ns, first, now)
                continue
            quiet = now - seen.stable_since
            if st.st_size == 0 or quiet < self.settle_s or not _readable(Path(key)):
                continue
            if has_end_marker(Path(key)) is False and quiet < self.give_up_s:
                continue
            ready.append((seen.first_seen, key))
        for key in list(self._seen):
            if key not in present:
                del self._seen[key]      # renamed away or deleted before it was complete
        ready.sort()
        for _, key in ready:
            self._done.add(key)
            del self._seen[key]
        return [Path(key) for _, key in ready]


class _Wakeup:
    """Sets a threading.Event on any file event in the folder (watchdog), if watchdog works here."""

    def __init__(self, folder: Path, event: threading.Event) -> None:
        self.observer = None
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            log.info("watchdog not installed: the watched folder is listed every %.0f s", POLL_S)
            return

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, _ev) -> None:
                event.set()

        try:
            observer = Observer()
            observer.schedule(_Handler(), str(folder), recursive=False)
            observer.start()
        except (OSError, RuntimeError) as exc:   # e.g. inotify watch limit, unsupported share
            log.info("no file events for %s (%s): listing it every %.0f s", folder, exc, POLL_S)
            return
        self.observer = observer

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)


def _wait_either(wake: threading.Event, stop: threading.Event, timeout: float) -> bool:
    """Wait until a file event (True), a stop request or the timeout (False); the stop request
    is looked at every STOP_CHECK_S so that Ctrl-C or closing the window ends the watch at once."""
    end = time.monotonic() + timeout
    while not stop.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return False
        if wake.wait(min(left, STOP_CHECK_S)):
            return True
    return False


def watch_folder(folder: str | os.PathLike[str], *, stop: threading.Event | None = None,
                 idle_exit_s: float | None = None, include_existing: bool = False,
                 settle_s: float = SETTLE_S, give_up_s: float = GIVE_UP_S, poll_s: float = POLL_S,
                 use_events: bool = True,
                 scanner: FolderScanner | None = None) -> Iterator[list[Path]]:
    """Yield lists of newly complete image files until ``stop`` is set, or ``idle_exit_s``
    seconds after the last file was handed over (or after the start, if none came).

    Between scans it sleeps until a file event, the next completeness check or ``poll_s``.
    ``scanner``: one made earlier (e.g. on the caller's thread), so that "the files already
    there" means those there when the technician started watching, not when a thread got going.
    """
    stop = stop or threading.Event()
    if scanner is None:
        scanner = FolderScanner(folder, include_existing=include_existing, settle_s=settle_s,
                                give_up_s=give_up_s)
    settle_s = scanner.settle_s
    wake = threading.Event()
    wakeup = _Wakeup(scanner.folder, wake) if use_events else None
    last = time.monotonic()
    try:
        while not stop.is_set():
            wake.clear()
            ready = scanner.scan()
            if ready:
                last = time.monotonic()
                yield ready
                continue
            if idle_exit_s is not None and scanner.waiting == 0 \
                    and time.monotonic() - last >= idle_exit_s:
                return
            # A file still being written is checked again after a settle period.
            timeout = min(poll_s, settle_s / 2) if scanner.waiting else poll_s
            if idle_exit_s is not None:
                timeout = max(0.05, min(timeout, idle_exit_s - (time.monotonic() - last)))
            if _wait_either(wake, stop, timeout):
                stop.wait(min(0.1, settle_s / 4))   # let a burst of events settle
    finally:
        if wakeup is not None:
            wakeup.stop()


def analyse_watched(scanner: FolderScanner, engine, options, cancel=None, *,
                    idle_exit_s: float | None = None, done: dict | None = None,
                    poll_s: float = POLL_S) -> Iterator:
    """The pipeline over a watched folder: ``analyse`` on each batch of complete files, with
    indices counted over the whole watch. Yields ``Started`` once, then ``ImageAnalysed`` and
    ``Progress`` per image (``total`` grows as files arrive), and ``Finished`` at the end (the
    idle time ran out, or ``cancel`` was set). ``scanner`` is made by the caller when the watch
    is asked for, so captures taken while the model loads are not taken for old files."""
    from .pipeline import CancelToken, Finished, ImageAnalysed, Progress, Started, analyse

    cancel = cancel or CancelToken()
    stop = threading.Event()
    yield Started(total=0, device=engine.device_label,
                  model={k: engine.info[k] for k in ("name", "version", "sha256")})
    offset = failed = 0
    timing: dict = {}
    for batch in watch_folder(scanner.folder, stop=stop, idle_exit_s=idle_exit_s, poll_s=poll_s,
                              scanner=scanner):
        for ev in analyse(batch, engine, options, cancel, done):
            if isinstance(ev, ImageAnalysed):
                failed += ev.result.status != "ok"
                yield ImageAnalysed(offset + ev.index, ev.result, ev.resumed)
            elif isinstance(ev, Progress):
                yield Progress(offset + ev.done, offset + ev.total, ev.path)
            elif isinstance(ev, Finished):
                offset += ev.done
                for key, value in ev.timing.items():
                    if isinstance(value, (int, float)) and key.endswith("_s"):
                        timing[key] = round(timing.get(key, 0.0) + value, 3)
        if cancel.cancelled:
            stop.set()
            break
    yield Finished(done=offset, total=offset, failed=failed, cancelled=cancel.cancelled,
                   timing=timing)
