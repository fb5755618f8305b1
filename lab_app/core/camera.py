"""The live microscope camera: frame sources, the focus score and lossless captures.

A frame source gives RGB frames: :class:`OpenCVCamera` reads a USB/UVC camera through OpenCV's
VideoCapture (the same API on Windows, Linux and macOS); :class:`SequenceSource` plays a folder
of images or a video file, for demonstrations and for the tests (no hardware needed). Both go
through the same capture code.

A capture is written as PNG (lossless) into the case's capture folder, named with the time and
the case, atomically; the capture record (time, camera, resolution) travels inside the file as a
PNG text chunk, so the analysis reads it back with the image (``read_capture_record``) and the
case and the report list it wherever the file goes.

Qt-free: the window's camera panel drives it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from model.atomic import atomic_write_bytes

from .errors import LabAppError
from .focus import MIN_SHARPNESS, sharpness
from .imaging import CAPTURE_KEY, IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

FOCUS_SIZE = 224                   # the focus score reads the field at the model's input size


class CameraError(LabAppError):
    """The camera cannot be opened or stopped giving frames."""


@dataclass(frozen=True)
class CaptureRecord:
    path: str
    captured_at: str     # ISO 8601, UTC
    camera: str
    width: int
    height: int

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        return d


class FrameSource(Protocol):
    name: str

    def read(self) -> np.ndarray | None: ...          # RGB uint8, or None when no frame came
    def close(self) -> None: ...


class OpenCVCamera:
    """A USB/UVC camera by index (0 = the first)."""

    def __init__(self, index: int = 0) -> None:
        backend = cv2.CAP_DSHOW if os.name == "nt" else cv2.CAP_ANY
        cap = cv2.VideoCapture(index, backend)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"No camera found at number {index}. Connect the microscope camera "
                              "(USB), close other programs that use it, and try again.")
        self._cap = cap
        self.index = index
        backend_name = cap.getBackendName() if hasattr(cap, "getBackendName") else "OpenCV"
        self.name = f"Camera {index} ({backend_name})"

    def read(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def lock_exposure(self, locked: bool) -> bool:
        """Fix (or free) the exposure; False when the camera does not allow it."""
        # V4L2 reads 0.25 as manual and 0.75 as automatic; DirectShow 0 / 1.
        value = (0.25 if locked else 0.75) if os.name != "nt" else (0 if locked else 1)
        return bool(self._cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, value))

    def lock_white_balance(self, locked: bool) -> bool:
        """Fix (or free) the white balance; False when the camera does not allow it."""
        return bool(self._cap.set(cv2.CAP_PROP_AUTO_WB, 0 if locked else 1))

    def close(self) -> None:
        self._cap.release()


class SequenceSource:
    """Frames from a folder of images (in name order, looping) or a video file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._video = None
        self._frames: list[Path] = []
        self._i = 0
        if self.path.is_dir():
            self._frames = sorted(p for p in self.path.iterdir()
                                  if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
            if not self._frames:
                raise CameraError(f"{self.path} holds no images to play as a camera.")
        elif self.path.is_file():
            self._video = cv2.VideoCapture(str(self.path))
            if not self._video.isOpened():
                raise CameraError(f"{self.path.name} cannot be played as a video.")
        else:
            raise CameraError(f"{self.path} is neither a camera number, a folder nor a video.")
        self.name = f"Image sequence {self.path.name}"

    def read(self) -> np.ndarray | None:
        if self._video is not None:
            ok, frame = self._video.read()
            if not ok:                                   # loop the video
                self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._video.read()
            return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None
        from .imaging import load_rgb
        path = self._frames[self._i % len(self._frames)]
        self._i += 1
        try:
            return load_rgb(path).rgb
        except LabAppError as exc:
            log.warning("sequence frame %s skipped: %s", path.name, exc)
            return None

    def lock_exposure(self, locked: bool) -> bool:
        return False

    def lock_white_balance(self, locked: bool) -> bool:
        return False

    def close(self) -> None:
        if self._video is not None:
            self._video.release()


def open_source(spec: str | int) -> FrameSource:
    """A camera number ("0", "1"…) or the path of a folder of images or a video file."""
    text = str(spec).strip()
    if re.fullmatch(r"\d{1,2}", text):
        return OpenCVCamera(int(text))
    return SequenceSource(text)


def focus_score(frame: np.ndarray) -> float:
    """The out_of_focus flag's sharpness (0..1) of a live frame, read at the model's input size."""
    h, w = frame.shape[:2]
    if (h, w) != (FOCUS_SIZE, FOCUS_SIZE):
        frame = cv2.resize(frame, (FOCUS_SIZE, FOCUS_SIZE), interpolation=cv2.INTER_AREA)
    return sharpness(frame)


def focus_ok(score: float) -> bool:
    return score >= MIN_SHARPNESS


def capture_name(case_id: int | None, when: datetime) -> str:
    stamp = when.strftime("%Y%m%d-%H%M%S-") + f"{when.microsecond // 1000:03d}"
    return f"{stamp}_case-{case_id}.png" if case_id is not None else f"{stamp}.png"


def save_capture(frame: np.ndarray, folder: str | os.PathLike[str], *, case_id: int | None,
                 camera: str, when: datetime | None = None) -> CaptureRecord:
    """Write ``frame`` (RGB) losslessly as PNG into ``folder``; returns its capture record."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    when = when or datetime.now(timezone.utc)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CameraError(f"The capture folder {folder} cannot be created: "
                          f"{exc.strerror or exc}.") from exc
    h, w = frame.shape[:2]
    path = folder / capture_name(case_id, when)
    record = CaptureRecord(str(path), when.isoformat(timespec="milliseconds"), camera, w, h)
    info = PngInfo()
    info.add_text(CAPTURE_KEY, json.dumps(record.to_json(), ensure_ascii=False))
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame[..., :3])).save(buf, format="PNG", pnginfo=info,
                                                              compress_level=3)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        raise CameraError(f"The capture could not be saved in {folder}: "
                          f"{exc.strerror or exc}.") from exc
    return record
