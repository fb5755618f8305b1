"""Fonts and text preparation for the PDF report.

* Fonts: DejaVu Sans (regular + bold), bundled in ``resources/fonts`` with its licence, is
  embedded (subset) in every report. It covers Latin, Greek, Cyrillic and the Arabic/Persian
  letters including their presentation forms. If the bundled files are missing (a broken
  install) the system DejaVu is tried, then Helvetica with a logged warning (non-Latin names
  would then not print correctly).
* Scripts DejaVu lacks (Chinese, Japanese, Korean, ...): a system font that has them is looked
  for (fontconfig's list, then the usual Linux and Windows files; TrueType outlines only, which
  reportlab can embed) and used for those characters only. What no font can draw is listed by
  ``unprintable`` and the report says so on the page instead of printing empty boxes silently.
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

FONT_FALLBACK = "LabFallback"
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


@lru_cache(maxsize=1)
def fallback_font() -> tuple[str, frozenset[int]] | None:
    """(font name, the characters it has) of a system font for scripts DejaVu lacks, or None."""
    for path in _fallback_candidates():
        if not Path(path).is_file():
            continue
        try:
            font = TTFont(FONT_FALLBACK, path, subfontIndex=0)
        except (TTFError, OSError, ValueError, KeyError, TypeError) as exc:  # CFF outlines, ...
            log.debug("fallback font %s unusable: %s", path, exc)
            continue
        pdfmetrics.registerFont(font)
        for bold in (0, 1):
            for italic in (0, 1):
                addMapping(FONT_FALLBACK, bold, italic, FONT_FALLBACK)
        log.info("report fallback font for CJK and other scripts: %s", path)
        return FONT_FALLBACK, frozenset(font.face.charToGlyph)
    return None


@lru_cache(maxsize=1)
def _main_chars() -> frozenset[int]:
    regular, _ = register_fonts()
    face = getattr(pdfmetrics.getFont(regular), "face", None)
    if face is not None and hasattr(face, "charToGlyph"):
        return frozenset(face.charToGlyph)
    return frozenset(range(32, 256))        # Helvetica: Latin-1


def _drawable(ch: str) -> bool:
    return ord(ch) in _main_chars() or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")


def unprintable(text: str | None) -> list[str]:
    """The characters of ``text`` that neither the report font nor a fallback can draw (they
    would print as empty boxes), each once, in order."""
    if not text:
        return []
    fallback = None
    out: list[str] = []
    for ch in visual(str(text)):
        if _drawable(ch) or ch in out:
            continue
        if fallback is None:
            fallback = fallback_font() or ("", frozenset())
        if ord(ch) not in fallback[1]:
            out.append(ch)
    return out


def para_text(text: str | None, *, empty: str = "—") -> str:
    """User text made safe for a Paragraph: visual order, XML-escaped, newlines as <br/>;
    characters the report font lacks are set in the fallback font where one has them."""
    if text is None or not str(text).strip():
        return empty
    shown = visual(str(text))
    if all(_drawable(ch) for ch in shown):
        return escape(shown).replace("\n", "<br/>")
    fallback = fallback_font()
    parts: list[str] = []
    run, run_fallback = "", False
    for ch in shown:
        use = fallback is not None and not _drawable(ch) and ord(ch) in fallback[1]
        if use != run_fallback and run:
            parts.append(f'<font name="{FONT_FALLBACK}">{escape(run)}</font>' if run_fallback
                         else escape(run))
            run = ""
        run += ch
        run_fallback = use
    if run:
        parts.append(f'<font name="{FONT_FALLBACK}">{escape(run)}</font>' if run_fallback
                     else escape(run))
    return "".join(parts).replace("\n", "<br/>")
