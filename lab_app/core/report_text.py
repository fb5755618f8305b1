"""Fonts and text preparation for the PDF report.

* Fonts: DejaVu Sans (regular + bold), bundled in ``resources/fonts`` with its licence, is
  embedded (subset) in every report. It covers Latin, Greek, Cyrillic and the Arabic/Persian
  letters including their presentation forms. If the bundled files are missing (a broken
  install) the system DejaVu is tried, then Helvetica with a logged warning (non-Latin names
  would then not print correctly).
* Chinese, Japanese and Korean: a subset of WenQuanYi Micro Hei (``resources/fonts``, made by
  tools/make_cjk_font.py, its licence beside it) with the characters of GB2312, Big5 level 1,
  JIS X 0208, KS X 1001 and every Hangul syllable. For what neither font has, a system font is
  looked for (fontconfig's list, then the usual Linux and Windows files; TrueType outlines only,
  which reportlab can embed), only when such a character occurs.
* Per character: user text is cut into runs by the first font that has each character (DejaVu,
  the CJK subset, the system font), so a mixed Latin and CJK name prints in both fonts. A
  character no font has prints as U+FFFD (a visible placeholder, never an empty box);
  ``unprintable`` lists those and the report says so on the page. User text is always plain text
  (XML-escaped), NFC-normalised for display.
* Right-to-left text: reportlab neither shapes Arabic letters nor reorders right-to-left runs.
  When ``arabic-reshaper`` and ``python-bidi`` are installed, RTL strings are reshaped into
  contextual presentation forms and put in visual order before layout; without them the text
  still prints (isolated letters, logical order) and a warning is logged once. A shaped RTL string
  that wraps over several lines would have its lines in the wrong order; names and addresses are
  short enough for this not to matter.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

log = logging.getLogger(__name__)

FONT = "LabSans"
FONT_BOLD = "LabSans-Bold"
_FILES = {FONT: "DejaVuSans.ttf", FONT_BOLD: "DejaVuSans-Bold.ttf"}
_SYSTEM_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
                Path("/Library/Fonts"), Path("C:/Windows/Fonts"))

# The bundled CJK subset (tools/make_cjk_font.py: GB2312, Big5 level 1, JIS X 0208, KS X 1001,
# all Hangul syllables) and, for what it lacks, a system font.
FONT_CJK = "LabCJK"
CJK_FILE = "WenQuanYiMicroHei-CJK-subset.ttf"
FONT_FALLBACK = "LabFallback"
MAIN = ""                # runs(): the report font (DejaVu Sans)
SPACE = "space"          # a space no font has: printed as " "
SKIP = "skip"            # a format character no font has: nothing to print
PLACEHOLDER = "\ufffd"   # printed for a character no font has (the page says which)
# TrueType-outline fonts with CJK (reportlab cannot embed CFF outlines such as Noto Sans CJK's).
_FALLBACK_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc", "/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf",
    "C:/Windows/Fonts/msyh.ttc", "C:/Windows/Fonts/simsun.ttc", "C:/Windows/Fonts/msgothic.ttc",
    "C:/Windows/Fonts/malgun.ttf", "C:/Windows/Fonts/arialuni.ttf",
)

# Hebrew, Arabic, Syriac, Thaana, NKo, ..., Arabic presentation forms.
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def fonts_dir() -> Path:
    """resources/fonts: $LABAPP_RESOURCES, a PyInstaller bundle, or beside the packages."""
    env = os.environ.get("LABAPP_RESOURCES")
    if env:
        return Path(env) / "fonts"
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources" / "fonts"
    return Path(__file__).resolve().parents[2] / "resources" / "fonts"


@lru_cache(maxsize=1)
def register_fonts() -> tuple[str, str]:
    """Register the report fonts once; returns (regular, bold) font names."""
    for folder in (fonts_dir(), *_SYSTEM_DIRS):
        if all((folder / f).is_file() for f in _FILES.values()):
            try:
                for name, file in _FILES.items():
                    pdfmetrics.registerFont(TTFont(name, str(folder / file)))
            except (TTFError, OSError) as exc:
                log.warning("Report font in %s unusable: %s", folder, exc)
                continue
            # <b> in paragraphs maps to the bold face.
            addMapping(FONT, 0, 0, FONT)
            addMapping(FONT, 1, 0, FONT_BOLD)
            addMapping(FONT, 0, 1, FONT)
            addMapping(FONT, 1, 1, FONT_BOLD)
            return FONT, FONT_BOLD
    log.warning("DejaVu Sans not found; the report uses Helvetica and cannot print "
                "Greek, Cyrillic or Arabic names.")
    return "Helvetica", "Helvetica-Bold"


@lru_cache(maxsize=1)
def _shaper():
    """(reshape, get_display) when both optional packages are installed, else None."""
    try:
        import arabic_reshaper
        try:
            from bidi import get_display          # python-bidi >= 0.5
        except ImportError:
            from bidi.algorithm import get_display  # python-bidi 0.4
    except ImportError:
        log.warning("arabic-reshaper/python-bidi not installed: right-to-left names print "
                    "unshaped and in logical order.")
        return None
    return arabic_reshaper.reshape, get_display


def has_rtl(text: str) -> bool:
    return bool(_RTL.search(text))


def visual(text: str | None) -> str:
    """Text as it must be laid out left-to-right: RTL runs shaped and reordered where possible."""
    if not text:
        return ""
    if not has_rtl(text):
        return text
    shaper = _shaper()
    if shaper is None:
        return text
    reshape, get_display = shaper
    return "\n".join(get_display(reshape(line)) for line in text.split("\n"))


def _fontconfig_files() -> list[str]:
    """TrueType files fontconfig lists for Chinese, Japanese and Korean (none without fc-list)."""
    files: list[str] = []
    for lang in ("zh", "ja", "ko"):
        try:
            out = subprocess.run(["fc-list", f":lang={lang}", "file"], capture_output=True,
                                 text=True, timeout=5, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return files
        for line in out.splitlines():
            path = line.split(":")[0].strip()
            if path.lower().endswith((".ttf", ".ttc")) and path not in files:
                files.append(path)
    return files


def _fallback_candidates() -> list[str]:
    return [*_fontconfig_files(), *_FALLBACK_FILES]


def _register_face(name: str, path: str | os.PathLike[str]) -> frozenset[int]:
    """Register a TrueType file under ``name`` (its bold and italic are itself: the fallback
    fonts have one face); returns the characters it has. Raises what TTFont raises."""
    font = TTFont(name, str(path), subfontIndex=0)
    pdfmetrics.registerFont(font)
    for bold in (0, 1):
        for italic in (0, 1):
            addMapping(name, bold, italic, name)
    return frozenset(font.face.charToGlyph)


@lru_cache(maxsize=1)
def cjk_font() -> tuple[str, frozenset[int]] | None:
    """(font name, the characters it has) of the bundled CJK subset, or None where its file is
    missing or unreadable (a broken install: a system font is then looked for)."""
    path = fonts_dir() / CJK_FILE
    if not path.is_file():
        log.warning("The report's CJK font %s is missing; Chinese, Japanese and Korean names "
                    "need a system font.", path)
        return None
    try:
        chars = _register_face(FONT_CJK, path)
    except (TTFError, OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("The report's CJK font %s is unusable: %s", path, exc)
        return None
    return FONT_CJK, chars


@lru_cache(maxsize=1)
def fallback_font() -> tuple[str, frozenset[int]] | None:
    """(font name, the characters it has) of a system font for what neither DejaVu nor the
    bundled CJK subset has (rarer hanzi, CJK extension A, ...), or None."""
    for path in _fallback_candidates():
        if not Path(path).is_file():
            continue
        try:
            chars = _register_face(FONT_FALLBACK, path)
        except (TTFError, OSError, ValueError, KeyError, TypeError) as exc:  # CFF outlines, ...
            log.debug("fallback font %s unusable: %s", path, exc)
            continue
        log.info("report fallback font for characters the bundled fonts lack: %s", path)
        return FONT_FALLBACK, chars
    return None


@lru_cache(maxsize=1)
def _main_chars() -> frozenset[int]:
    regular, _ = register_fonts()
    face = getattr(pdfmetrics.getFont(regular), "face", None)
    if face is not None and hasattr(face, "charToGlyph"):
        return frozenset(face.charToGlyph)
    return frozenset(range(32, 256))        # Helvetica: Latin-1


def _invisible(ch: str) -> bool:
    """Format and control characters and variation selectors: nothing to draw."""
    return unicodedata.category(ch) in ("Cc", "Cf") or "\ufe00" <= ch <= "\ufe0f" \
        or "\U000e0100" <= ch <= "\U000e01ef"


def _font_for(ch: str) -> str | None:
    """The font that draws ``ch``: MAIN (the report font), FONT_CJK, FONT_FALLBACK; SKIP for a
    character with nothing to draw that no font has; None where no font has it."""
    if ch == "\n" or ord(ch) in _main_chars():
        return MAIN
    for find in (cjk_font, fallback_font):       # the system font is looked for only if needed
        found = find()
        if found is not None and ord(ch) in found[1]:
            return found[0]
    if ch.isspace():
        return SPACE
    if _invisible(ch):
        return SKIP
    return None


def display(text: str | None) -> str:
    """User text as it is laid out: NFC (a decomposed name from a macOS file name prints as the
    composed characters the fonts have), then right-to-left runs shaped and reordered."""
    if not text:
        return ""
    return visual(unicodedata.normalize("NFC", str(text)))


def runs(shown: str) -> list[tuple[str, str]]:
    """``shown`` (already through ``display``) cut into (font, text) runs by which font has each
    character: the report font first, then the bundled CJK subset, then a system font. A
    character no font has becomes PLACEHOLDER in the report font; the font of a run is MAIN for
    the report font's."""
    out: list[tuple[str, str]] = []
    for ch in shown:
        font = _font_for(ch)
        if font == SKIP:
            continue
        if font == SPACE:
            font, ch = MAIN, " "
        elif font is None:
            font, ch = MAIN, PLACEHOLDER
        if out and out[-1][0] == font:
            out[-1] = (font, out[-1][1] + ch)
        else:
            out.append((font, ch))
    return out


def unprintable(text: str | None) -> list[str]:
    """The characters of ``text`` that no font of the report can draw (printed as PLACEHOLDER),
    each once, in order."""
    out: list[str] = []
    for ch in display(text):
        if ch not in out and _font_for(ch) is None:
            out.append(ch)
    return out


def para_text(text: str | None, *, empty: str = "—") -> str:
    """User text made safe for a Paragraph: NFC, visual order, XML-escaped (plain text, never
    markup), newlines as <br/>; characters the report font lacks are set in the font that has
    them, those no font has as PLACEHOLDER (``unprintable`` lists them)."""
    if text is None or not str(text).strip():
        return empty
    parts = [escape(chunk) if font == MAIN else f'<font name="{font}">{escape(chunk)}</font>'
             for font, chunk in runs(display(text))]
    return "".join(parts).replace("\n", "<br/>")


def draw_text(canvas: Any, x: float, y: float, shown: str, font: str, size: float) -> float:
    """Draw ``shown`` (already through ``display``) on a canvas from (x, y) left to right as one
    text object, each run in its font (``font`` for the report font's), leaving ``font`` set;
    returns the width drawn."""
    text = canvas.beginText(x, y)
    width = 0.0
    for run_font, chunk in runs(shown.replace("\n", " ")):
        name = font if run_font == MAIN else run_font
        text.setFont(name, size)
        text.textOut(chunk)
        width += canvas.stringWidth(chunk, name, size)
    canvas.drawText(text)
    canvas.setFont(font, size)
    return width
