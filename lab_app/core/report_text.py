"""Fonts and text preparation for the PDF report.

* Fonts: DejaVu Sans (regular + bold), bundled in ``resources/fonts`` with its licence, is
  embedded (subset) in every report. It covers Latin, Greek, Cyrillic and the Arabic/Persian
  letters including their presentation forms. If the bundled files are missing (a broken
  install) the system DejaVu is tried, then Helvetica with a logged warning (non-Latin names
  would then not print correctly).
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
import sys
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


def para_text(text: str | None, *, empty: str = "—") -> str:
    """User text made safe for a Paragraph: visual order, XML-escaped, newlines as <br/>."""
    if text is None or not str(text).strip():
        return empty
    return escape(visual(str(text))).replace("\n", "<br/>")
