"""Loading slide images into RGB arrays, and finding the images among the inputs.

Every format a lab camera writes: JPEG, PNG, TIFF (8 or 16 bit; multi-page files give their
first page), BMP and WebP, in any mode Pillow decodes (greyscale, palette, alpha, CMYK, 16-bit).
The format is sniffed from the content, never taken from the file extension. The result is
always an 8-bit RGB array in display orientation (EXIF orientation applied).

Size guard: a decompression bomb (a small file that claims a huge pixel count) would exhaust
memory. ``DEFAULT_MAX_PIXELS`` (100 megapixels, e.g. 12000 x 8000; a 4000 x 3000 camera
capture is 12 megapixels) is the limit, installed as Pillow's own guard at import, and checked
again from the image header before any decoding. ``load_rgb(max_pixels=...)`` can lower it;
Pillow's guard still caps it at ``DEFAULT_MAX_PIXELS``.

Huge JPEGs are decoded at working resolution: a JPEG of at least four times ``WORKING_PIXELS``
(24 megapixels; a 12000 x 8000 field is 96) is decoded by libjpeg at 1/2, 1/4 or 1/8 scale, the
smallest that keeps ``WORKING_PIXELS``, so its full-size pixels never exist in memory. Every step
after loading works at or below that resolution (segmentation at 1 megapixel, the report's
pictures at 720 px, the model at 224 px) except the capture-quality measures (quality.py), which
read the field at its own resolution: ``LoadedImage.quality_crop()`` decodes only the rows down
to the central crop they read, one huge image at a time. ``width``/``height`` stay the file's
own; ``scale`` says how much smaller ``rgb`` is. Other formats (PNG, TIFF, BMP, WebP) cannot be
decoded reduced and are read whole, as are JPEGs under 24 megapixels (a 4000 x 3000 camera
capture: the same pixels as before).

Anything that cannot be read raises ImageLoadError with a one-line reason; no other exception
escapes for a bad file.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import struct
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from lab_app.core.errors import ImageLoadError

DEFAULT_MAX_PIXELS = 100_000_000
Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS

# A huge JPEG is decoded at the smallest libjpeg scale (1/2, 1/4, 1/8) that keeps this many
# pixels, i.e. only JPEGs of four times as many are reduced. 6 megapixels: six times what the
# segmentation works on (segmentation.WORK_MAX_PIXELS), well above the pictures and the model.
WORKING_PIXELS = 6_000_000
_JPEG_SCALES = (8, 4, 2)
# The capture-quality crop (quality.CROP), read at full resolution from a reduced JPEG.
QUALITY_CROP = 512

# Extensions picked up when a folder is scanned (lower case). A file named explicitly is read
# whatever its extension: the content decides the format.
IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".bmp", ".dib", ".webp",
})

# What Pillow raises on malformed data. Its decoders are not consistent (fuzzing finds all of
# these), so the list is long on purpose; it stays explicit rather than a bare except.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                  KeyError, TypeError, ZeroDivisionError, MemoryError,
                  Image.DecompressionBombError, Image.DecompressionBombWarning)

# Pillow's truncated-image switch is process-wide; the lock keeps our own retries from racing.
_TRUNCATED_LOCK = threading.Lock()
_WHITE = (255, 255, 255)
_CUT_SHORT = "{name}: the file is cut short and cannot be repaired."


@dataclass
class LoadedImage:
    rgb: np.ndarray          # uint8, height x width x 3, C-contiguous, RGB order
    path: Path
    width: int
    height: int
    sha256: str              # of the file's bytes
    format: str              # as sniffed by Pillow: "JPEG", "PNG", "TIFF", "BMP", "WEBP", ...
    bit_depth: int           # bits per channel in the file (1, 8, 16 or 32)
    original_mode: str       # Pillow mode before conversion: "RGB", "L", "I;16", "CMYK", ...
    truncated: bool = False  # the file ended early; the missing part is filled with grey
    capture: dict | None = None   # the camera panel's capture record (PNG text chunk), if any
    scale: int = 1           # rgb is the file reduced this many times (huge JPEGs; 1: full size)
    data: bytes | None = field(default=None, repr=False)   # the file's bytes, when scale > 1

    def quality_crop(self) -> np.ndarray:
        """What quality.measure reads: the field at its own resolution. For a reduced JPEG, the
        central QUALITY_CROP px square (on JPEG's 8-pixel grid) decoded from the file at full
        size, rows down to the crop only; otherwise ``rgb`` itself."""
        if self.scale == 1 or self.data is None or self.truncated:
            return self.rgb
        with _FULL_SIZE_LOCK:        # one full-size band in memory at a time
            crop = _full_size_centre(self.data, QUALITY_CROP)
        return crop if crop is not None else self.rgb


def load_rgb(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file as 8-bit RGB in display orientation. Raises ImageLoadError."""
    path = Path(path)
    data = _read_file(path)
    digest = hashlib.sha256(data).hexdigest()
    image = _open(data, path, max_pixels)
    fmt = image.format or "unknown"
    mode = image.mode
    depth = _bit_depth(image, data)
    capture = _capture_record(image) if fmt == "PNG" else None
    scale = _working_scale(image)
    full_size = _display_size(image)
    image, truncated = _decode(image, data, path, scale)
    image = _apply_orientation(image)
    rgb = _to_rgb_array(image, path)
    height, width = rgb.shape[:2] if scale == 1 else full_size[::-1]
    return LoadedImage(rgb=rgb, path=path, width=width, height=height, sha256=digest,
                       format=fmt, bit_depth=depth, original_mode=mode, truncated=truncated,
                       capture=capture, scale=scale, data=data if scale > 1 else None)


def _working_scale(image: Image.Image) -> int:
    """How many times smaller libjpeg should decode this image (1: full size)."""
    if image.format != "JPEG" or len(getattr(image, "tile", ())) != 1:
        return 1
    width, height = image.size
    for scale in _JPEG_SCALES:
        if (width // scale) * (height // scale) >= WORKING_PIXELS:
            return scale
    return 1


def _reduce(image: Image.Image, scale: int) -> Image.Image:
    """Ask libjpeg for the image ``scale`` times smaller (DCT scaling, before decoding)."""
    if scale > 1:
        width, height = image.size
        image.draft(None, (width // scale, height // scale))
    return image


_ROTATED = (5, 6, 7, 8)   # EXIF orientations that swap width and height


def _display_size(image: Image.Image) -> tuple[int, int]:
    """The file's width and height in display orientation."""
    width, height = image.size
    try:
        orientation = image.getexif().get(0x0112)
    except _DECODE_ERRORS:
        orientation = None
    return (height, width) if orientation in _ROTATED else (width, height)


_FULL_SIZE_LOCK = threading.Lock()


def _full_size_centre(data: bytes, side: int) -> np.ndarray | None:
    """The central ``side`` px square of a JPEG at full size (display orientation), decoding
    only the rows down to it; None when that cannot be done."""
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        (name, _extents, offset, args), = image.tile
        x0 = max(0, (width - side) // 2) // 8 * 8
        y0 = max(0, (height - side) // 2) // 8 * 8
        bottom = min(height, y0 + side)
        right = min(width, x0 + side)
        # libjpeg decodes top to bottom: stop after the crop's last row. The decoder then
        # reports the rows it did not deliver as a broken stream; the rows above are complete
        # (the whole file was decoded once already, reduced).
        image.tile = [(name, (0, 0, width, bottom), offset, args)]
        image._size = (width, bottom)
        try:
            image.load()
        except OSError:
            pass
        if image.im is None or image.size != (width, bottom):
            return None
        band = image.crop((x0, y0, right, bottom))
        band.info = dict(image.info)          # the EXIF orientation, for exif_transpose
        crop = _convert(_apply_orientation(band))
    except _DECODE_ERRORS:
        return None
    return np.ascontiguousarray(crop, dtype=np.uint8)


# PNG text chunk in which lab_app.core.camera stores a capture's time, camera and resolution.
CAPTURE_KEY = "labapp.capture"


def _capture_record(image: Image.Image) -> dict | None:
    text = image.info.get(CAPTURE_KEY)
    if not isinstance(text, str):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _read_file(path: Path) -> bytes:
    name = path.name or str(path)
    try:
        if path.is_symlink() and not path.exists():
            if _link_loops(path):
                raise ImageLoadError(f"{name}: the link leads round in a loop of links to "
                                     "itself, not to a file.")
            raise ImageLoadError(f"{name}: the link points to a file that does not exist.")
        if path.is_dir():
            raise ImageLoadError(f"{name} is a folder, not an image file.")
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ImageLoadError(f"{name}: file not found.") from None
    except PermissionError:
        raise ImageLoadError(f"{name}: permission denied; the file cannot be read.") from None
    except IsADirectoryError:
        raise ImageLoadError(f"{name} is a folder, not an image file.") from None
    except OSError as exc:
        raise ImageLoadError(f"{name}: the file cannot be read ({exc.strerror or exc}).") from None
    if not data:
        raise ImageLoadError(f"{name}: the file is empty (0 bytes).")
    return data


def _link_loops(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _open(data: bytes, path: Path, max_pixels: int) -> Image.Image:
    """Identify the format and read the header only; refuse oversized images before decoding."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; we refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.seek(0)  # multi-page TIFF: the first page
    except UnidentifiedImageError:
        raise ImageLoadError(
            f"{path.name}: not an image, or an image format this program cannot read.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = Image.MAX_IMAGE_PIXELS or DEFAULT_MAX_PIXELS
        raise ImageLoadError(
            f"{path.name}: the image is larger than the {limit / 1_000_000:g} megapixel limit.") \
            from None
    except _DECODE_ERRORS as exc:
        if _is_truncation(exc):
            raise ImageLoadError(_CUT_SHORT.format(name=path.name)) from None
        raise ImageLoadError(f"{path.name}: the image header is damaged ({_short(exc)}).") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{path.name}: the image has no pixels ({width} x {height}).")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{path.name}: {width} x {height} pixels is over the limit of "
            f"{max_pixels / 1_000_000:g} megapixels.")
    return image


def _decode(image: Image.Image, data: bytes, path: Path, scale: int = 1) -> tuple[Image.Image, bool]:
    """Decode the pixels (``scale`` times smaller: a huge JPEG). A truncated file is retried
    once, keeping what was received."""
    try:
        _reduce(image, scale).load()
        return image, False
    except _DECODE_ERRORS as first:
        if not _is_truncation(first):
            raise ImageLoadError(f"{path.name}: the image data is damaged ({_short(first)}).") \
                from None
    with _TRUNCATED_LOCK:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            retry = Image.open(io.BytesIO(data))
            retry.seek(0)
            _reduce(retry, scale).load()
        except _DECODE_ERRORS:
            raise ImageLoadError(_CUT_SHORT.format(name=path.name)) from None
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return retry, True


def _is_truncation(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and "truncated" in str(exc).lower()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF orientation tag says; a broken EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(image)
    except _DECODE_ERRORS:
        return image


def _bit_depth(image: Image.Image, data: bytes) -> int:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24:
        return int(data[24])  # IHDR bit depth (Pillow hides 16-bit RGB PNGs behind "RGB")
    bits = getattr(image, "tag_v2", {}).get(258) if image.format == "TIFF" else None
    if bits:
        return int(max(bits) if isinstance(bits, tuple) else bits)
    if image.mode == "1":
        return 1
    if image.mode.startswith("I;16"):
        return 16
    if image.mode in ("I", "F"):
        return 32
    return 8


def _to_rgb_array(image: Image.Image, path: Path) -> np.ndarray:
    try:
        rgb = _convert(image)
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(
            f"{path.name}: the colour format ({image.mode}) cannot be converted ({_short(exc)}).") \
            from None
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _convert(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image)
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _grey_to_rgb(_scale_to_8bit(np.asarray(image), mode))
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode in ("P", "L", "RGB") and
                                                     "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def _scale_to_8bit(values: np.ndarray, mode: str) -> np.ndarray:
    """16-bit (and 32-bit integer/float) greyscale -> 0..255, scaled rather than clipped."""
    values = values.astype(np.float64)
    if mode.startswith("I;16"):
        full_scale = 65535.0
    elif mode == "F" and values.size and 0.0 <= values.min() and values.max() <= 1.0:
        full_scale = 1.0  # float images normalised to 0..1
    else:
        # Mode "I" usually holds 16-bit data; beyond that, use the image's own maximum.
        peak = float(values.max()) if values.size else 0.0
        full_scale = 65535.0 if peak <= 65535.0 else peak
        values = np.clip(values, 0.0, None)
    scaled = np.rint(values * (255.0 / full_scale))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, None], 3, axis=2)


def make_thumbnail(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """A copy of an RGB array scaled down so that its longer side is at most max_side pixels."""
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return np.ascontiguousarray(rgb.copy())
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # INTER_AREA averages the pixels each output pixel covers: no aliasing when shrinking.
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


# --- Finding images among the inputs ---------------------------------------------------------

def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """'img2' before 'img10', case-insensitive; numbers and text never compared together."""
    return [(0, int(part)) if part.isdigit() else (1, part.casefold())
            for part in re.split(r"(\d+)", name) if part]


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _images_in_folder(folder: Path, skip: frozenset[str] = frozenset()) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):  # symlinked folders are not followed: no loops
        dirs[:] = [d for d in dirs if not _is_hidden(d)
                   and os.path.realpath(os.path.join(root, d)) not in skip]
        found.extend(Path(root, f) for f in files
                     if not _is_hidden(f) and Path(f).suffix.lower() in IMAGE_EXTENSIONS)
    return sorted(found, key=lambda p: [_natural_key(part) for part in p.relative_to(folder).parts])


def _identity(path: Path) -> Path:
    """The path an input names, for spotting the same input given twice. Links are not
    resolved: a symlink (or a copy) of another input is its own input, analysed and marked as a
    byte-identical duplicate (pipeline.analyse), never dropped."""
    return Path(os.path.abspath(path))


def walk_image_paths(inputs: Iterable[str | os.PathLike[str]],
                     skip: Iterable[str | os.PathLike[str]] = ()) -> Iterator[Path]:
    """Yield the image files named by the inputs, each once.

    Folders are searched recursively in natural name order, skipping hidden entries, files
    without an image extension and the folders in ``skip`` (the batch's own output folder, when
    it lies inside an input folder: its masks are not new fields). Anything else named
    explicitly (a file of any type, or a path that does not exist) is kept, so that it is
    reported as a failed input rather than lost."""
    seen: set[Path] = set()
    skipped = frozenset(os.path.realpath(s) for s in skip)
    for item in inputs:
        path = Path(item)
        candidates = _images_in_folder(path, skipped) if path.is_dir() else [path]
        for candidate in candidates:
            key = _identity(candidate)
            if key not in seen:
                seen.add(key)
                yield candidate


def iter_image_paths(inputs: Iterable[str | os.PathLike[str]],
                     skip: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """The image files named by the inputs as a list, in order; see walk_image_paths."""
    return list(walk_image_paths(inputs, skip))


def folders_without_images(inputs: Iterable[str | os.PathLike[str]],
                           paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The input folders that none of the found ``paths`` lies in, as given (a mistyped or
    empty folder, or one named like an image, beside others that did hold images): the batch
    and the window name each rather than pass over it in silence."""
    holding: set[str] = set()
    for p in paths:
        folder = os.path.dirname(os.path.abspath(p))
        while folder not in holding:
            holding.add(folder)
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return [os.fspath(item) for item in inputs
            if os.path.isdir(item) and os.path.abspath(item) not in holding]
