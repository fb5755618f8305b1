"""The watched folder hands over each capture whole, exactly once, in arrival order."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from lab_app.core.watch import FolderScanner, WatchError, has_end_marker, is_candidate, watch_folder


def write_like_a_camera(src: Path, folder: Path, n: int, style: str, pause: float) -> Path:
    """Write ``src`` as ``folder/capture-NN`` the way camera software does."""
    data = src.read_bytes()
    final = folder / f"capture-{n:02d}{src.suffix}"
    if style == "rename":              # a temporary name, renamed into place when complete
        tmp = folder / f".capture-{n:02d}{src.suffix}.part"
        tmp.write_bytes(data)
        os.replace(tmp, final)
        return final
    pieces = 3 if style == "pieces" else 2
    step = len(data) // pieces + 1
    with open(final, "wb") as f:
        for k in range(pieces):
            f.write(data[k * step:(k + 1) * step])
            f.flush()
            if k < pieces - 1:
                time.sleep(pause)      # "slow": longer than the settle time, end marker missing
    return final


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_twenty_captures_in_pieces_and_renamed_are_each_handed_over_whole_once(tmp_path,
                                                                               shipped_fields):
    folder = tmp_path / "captures"
    folder.mkdir()
    (folder / "old.jpg").write_bytes(shipped_fields["Pre"][0].read_bytes())   # there before
    sources = [p for paths in shipped_fields.values() for p in paths][:20]
    expected = {}
    styles = ["pieces", "rename", "slow", "pieces"]

    def camera() -> None:
        for n, src in enumerate(sources):
            style = styles[n % len(styles)]
            # "slow" pauses longer than the settle time mid-file: only the end marker tells.
            path = write_like_a_camera(src, folder, n, style, pause=0.6 if style == "slow" else 0.05)
            expected[path.name] = hashlib.sha256(src.read_bytes()).hexdigest()
            time.sleep(0.05)

    handed: list[tuple[str, str]] = []
    scanner = FolderScanner(folder, settle_s=0.3)       # "already there" = before the camera starts
    writer = threading.Thread(target=camera)
    writer.start()
    for batch in watch_folder(folder, idle_exit_s=2.5, poll_s=0.5, scanner=scanner):
        handed += [(p.name, sha(p)) for p in batch]    # what an analysis would read now
    writer.join()

    names = [name for name, _ in handed]
    assert sorted(names) == sorted(expected), "each capture exactly once, nothing from before"
    assert len(names) == len(set(names)) == 20
    for name, digest in handed:
        assert digest == expected[name], f"{name} was handed over before it was complete"
    assert names == sorted(names), "arrival order"


def test_polling_alone_finds_the_files(tmp_path, shipped_fields):
    """Network shares often deliver no file events: the listing still finds every capture."""
    src = shipped_fields["Benign"][0]
    (tmp_path / "a.jpg").write_bytes(src.read_bytes())
    got = [p.name for batch in watch_folder(tmp_path, include_existing=True, idle_exit_s=1.0,
                                            settle_s=0.2, poll_s=0.2, use_events=False)
           for p in batch]
    assert got == ["a.jpg"]


def test_a_file_without_its_end_marker_waits_then_is_handed_over(tmp_path, shipped_fields):
    data = shipped_fields["Pro"][0].read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    assert has_end_marker(cut) is False and has_end_marker(shipped_fields["Pro"][0]) is True
    now = [0.0]
    scanner = FolderScanner(tmp_path, include_existing=True, settle_s=1.0, give_up_s=10.0,
                            clock=lambda: now[0])
    assert scanner.scan() == []                    # first seen
    now[0] = 5.0
    assert scanner.scan() == [] and scanner.waiting == 1   # quiet, but no end marker
    now[0] = 11.0
    assert scanner.scan() == [cut]                 # given up waiting: the pipeline flags it
    assert scanner.scan() == []


def test_names_that_are_not_finished_captures_are_ignored():
    assert is_candidate("field 1.JPG") and is_candidate("x.tiff")
    for name in (".hidden.jpg", "~lock.png", "a.jpg.part", "a.jpg.tmp", "notes.txt", "a.crdownload"):
        assert not is_candidate(name), name


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(WatchError, match="is not a folder"):
        FolderScanner(tmp_path / "nowhere")


def test_stop_ends_the_watch_promptly(tmp_path):
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    assert list(watch_folder(tmp_path, stop=stop, poll_s=5.0)) == []
    assert time.monotonic() - t0 < 2.0
