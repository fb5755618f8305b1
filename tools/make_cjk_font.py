"""Make the report's CJK fallback font: a subset of WenQuanYi Micro Hei for names in Chinese,
Japanese and Korean, and its licence file beside it.

    python -m tools.make_cjk_font SOURCE [--out resources/fonts]

SOURCE is ``wqy-microhei.ttc`` of Debian's ``fonts-wqy-microhei`` 0.2.0-beta-3.1
(``apt-get download fonts-wqy-microhei && dpkg-deb -x fonts-wqy-microhei_*.deb x``, then
``x/usr/share/fonts/truetype/wqy/wqy-microhei.ttc``). Only that file (checked by its sha256) is
accepted: the licence file written beside the subset names its copyright holders and licence.
WenQuanYi Micro Hei is Droid Sans Fallback (Google, Apache-2.0) extended by the WenQuanYi project
with the Hangul, kana and Han glyphs Droid lacks (Droid Sans Fallback has 3 Hangul syllables, so
it cannot print Korean names); it is dual-licensed Apache-2.0 or GPLv3 with a font exception, and
is used here under Apache-2.0. Its outlines are TrueType, which reportlab embeds.

The subset holds the characters of these character sets (Python's codecs enumerate them):

* GB2312 (6,763 hanzi: simplified Chinese) and Big5 level 1 (5,401 frequent traditional hanzi);
* JIS X 0208 (kana, level 1 and level 2 kanji) and the half-width katakana;
* KS X 1001 (with its 4,888 hanja) and every modern Hangul syllable U+AC00-U+D7A3 (11,172, of
  which KS X 1001 has 2,350);
* the CJK punctuation, kana, bopomofo and Hangul compatibility jamo blocks and the half-width and
  full-width forms, as far as the font has them.

Hinting, layout tables (GSUB/GPOS/GDEF) and the vertical metrics are dropped: reportlab uses
none of them. The result is about 2.4 MiB (23,000 characters); the tool prints the exact size and
the coverage of each set. Characters outside it (rarer hanzi such as those of GBK only, CJK
extension A and beyond) are printed with a system CJK font where one is installed, otherwise as
a placeholder with a note on the page (lab_app/core/report_text.py).

Reproducible: the same source and fontTools version give the same bytes (the head table keeps the
source's timestamps); the licence file records both sha256 and the fontTools version. fontTools
is in the ``dev`` extra only; the application never imports it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "resources" / "fonts"
FONT_FILE = "WenQuanYiMicroHei-CJK-subset.ttf"      # lab_app/core/report_text.py CJK_FILE
LICENCE_FILE = "LICENSE-WenQuanYiMicroHei.txt"
APACHE_TEXT = REPO / "installer" / "licenses" / "Apache-2.0.txt"

SOURCE_SHA256 = "2420e8078af796b19a3f6ef13de527a1a91c1e7171eea115926c614ced1009b3"
SOURCE_ORIGIN = ("wqy-microhei.ttc (face 0, WenQuanYi Micro Hei 0.2.0-beta) of Debian's "
                 "fonts-wqy-microhei 0.2.0-beta-3.1")

# Blocks added whole (only the code points the font has are kept).
BLOCKS = {
    "CJK Symbols and Punctuation": (0x3000, 0x303F),
    "Hiragana": (0x3040, 0x309F),
    "Katakana": (0x30A0, 0x30FF),
    "Bopomofo": (0x3100, 0x312F),
    "Hangul Compatibility Jamo": (0x3130, 0x318F),
    "Katakana Phonetic Extensions": (0x31F0, 0x31FF),
    "Halfwidth and Fullwidth Forms": (0xFF00, 0xFFEF),
}


def _double_byte(codec: str, leads: range, trails: list[int]) -> set[int]:
    """The code points of a double-byte character set, from Python's codec."""
    found = set()
    for lead in leads:
        for trail in trails:
            try:
                ch = bytes((lead, trail)).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(ch) == 1:
                found.add(ord(ch))
    return found


def character_sets() -> dict[str, set[int]]:
    """Name -> code points of each set the subset covers (deterministic)."""
    euc = list(range(0xA1, 0xFF))
    big5_trails = [*range(0x40, 0x7F), *range(0xA1, 0xFF)]
    big5 = _double_byte("big5", range(0xA4, 0xC6), big5_trails)          # A440-C5FE
    big5 |= _double_byte("big5", range(0xC6, 0xC7), list(range(0x40, 0x7F)))  # C640-C67E
    sets = {
        "GB2312": _double_byte("gb2312", range(0xA1, 0xFF), euc),
        "Big5 level 1": big5,
        "JIS X 0208": _double_byte("euc_jp", range(0xA1, 0xFF), euc),
        "KS X 1001": _double_byte("euc_kr", range(0xA1, 0xFF), euc),
        "Hangul syllables": set(range(0xAC00, 0xD7A4)),
    }
    for name, (first, last) in BLOCKS.items():
        sets[name] = set(range(first, last + 1))
    return sets


def _han(points: set[int]) -> int:
    return sum(1 for c in points if 0x4E00 <= c <= 0x9FFF or 0xF900 <= c <= 0xFAFF)


def subset_font(source: Path) -> tuple[bytes, dict[str, tuple[int, int, list[int]]], str]:
    """(font bytes, name -> (wanted, kept, missing code points), fontTools version)."""
    import fontTools
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(str(source), fontNumber=0, recalcTimestamp=False, recalcBBoxes=True, lazy=False)
    have = set(font.getBestCmap())
    sets = character_sets()
    wanted = set().union(*sets.values())
    keep = sorted(wanted & have)
    coverage = {}
    for name, points in sets.items():
        if name in BLOCKS:   # whole blocks: unassigned code points are not "missing"
            points = {c for c in points if unicodedata.category(chr(c)) != "Cn"}
        coverage[name] = (len(points), len(points & have), sorted(points - have))

    opts = subset.Options()
    opts.layout_features = []
    opts.hinting = False
    opts.drop_tables += ["GSUB", "GPOS", "GDEF", "FFTM", "vhea", "vmtx", "gasp"]
    opts.glyph_names = False
    opts.notdef_outline = True          # a visible .notdef, never an empty one
    opts.name_IDs = ["*"]               # copyright, licence and trademark notices stay
    opts.name_languages = ["*"]
    opts.recalc_timestamp = False
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=keep)
    sub.subset(font)
    name = font["name"]
    note = (" Subset made by tools/make_cjk_font.py of the ALL Subtype Workstation: "
            "GB2312, Big5 level 1, JIS X 0208, KS X 1001, all Hangul syllables, CJK punctuation "
            "and full-width forms; hinting and layout tables removed.")
    original = name.getDebugName(10) or ""
    name.removeNames(nameID=10)
    name.setName(original + note if original else note.strip(), 10, 3, 1, 0x409)
    buf = io.BytesIO()
    font.save(buf, reorderTables=True)
    return buf.getvalue(), coverage, fontTools.version


def licence_text(source_sha: str, font_sha: str, size: int, chars: int, tools_version: str,
                 coverage: dict[str, tuple[int, int, list[int]]]) -> str:
    lines = [
        f"{FONT_FILE}: the report's fallback font for Chinese, Japanese and Korean.",
        "",
        "Upstream-Name: WenQuanYi Micro Hei",
        "Source: https://sourceforge.net/projects/wqy/files/wqy-microhei/0.2.0-beta/",
        f"Made from: {SOURCE_ORIGIN}, sha256 {source_sha}",
        "Copyright: Digitized data copyright (c) 2007, Google Corporation.",
        "           Copyright (c) 2008-2009 WenQuanYi Project Board of Trustees and Qianqian Fang",
        "           Copyright (c) 2008-2009 mozbug and Qianqian Fang (Droid Sans Fallback",
        "           extension interface)",
        "           Based on the Droid fonts (Droid Sans Fallback, Droid Sans, Droid Sans Mono):",
        "           2006-2008, Google Corporation; 2006-2008, Steve Matteson, Ascender Corp.",
        "           Some CJK punctuations were imported from Ume-Font: 2003-2004, Electronic Font",
        "           Open Laboratory (/efont/); 1990-2003, Wada Laboratory, the University of Tokyo",
        "           Droid is a trademark of Google and may be registered in certain jurisdictions.",
        "License: WenQuanYi Micro Hei is licensed under the Apache License 2.0 or the GNU GPL v3",
        "         with a font embedding exception; this subset is distributed under the Apache",
        "         License 2.0, whose text follows.",
        "",
        "Changes (Apache License 2.0, section 4(b)): this file is a modified version of the",
        "original font. It was subset with fontTools " + tools_version + " by tools/make_cjk_font.py",
        "to the characters listed below; TrueType hinting, the GSUB/GPOS/GDEF layout tables and the",
        "vertical metrics were removed, and the font's description (name ID 10) says so. The",
        "outlines of the characters kept are unchanged.",
        "",
        f"Result: {size:,} bytes, {chars:,} characters, sha256 {font_sha}",
        "Coverage (characters of each set the subset has):",
    ]
    for name, (wanted, kept, missing) in coverage.items():
        line = f"    {name}: {kept:,} of {wanted:,}"
        if missing:
            line += " (missing " + ", ".join(f"U+{c:04X}" for c in missing[:6]) + \
                    (" ..." if len(missing) > 6 else "") + ")"
        lines.append(line)
    lines += ["", "-" * 78, ""]
    return "\n".join(lines) + APACHE_TEXT.read_text(encoding="utf-8").lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.make_cjk_font", description=__doc__.split("\n")[0])
    ap.add_argument("source", type=Path, help="wqy-microhei.ttc of fonts-wqy-microhei 0.2.0-beta-3.1")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default resources/fonts)")
    args = ap.parse_args(argv)
    try:
        data = args.source.read_bytes()
    except OSError as exc:
        print(f"cannot read {args.source}: {exc}", file=sys.stderr)
        return 2
    source_sha = hashlib.sha256(data).hexdigest()
    if source_sha != SOURCE_SHA256:
        print(f"{args.source} is not {SOURCE_ORIGIN} (sha256 {source_sha}, expected "
              f"{SOURCE_SHA256}); its licence and copyright would not be the ones this tool "
              "writes.", file=sys.stderr)
        return 2
    try:
        font, coverage, tools_version = subset_font(args.source)
    except ImportError:
        print("fontTools is missing: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    font_sha = hashlib.sha256(font).hexdigest()
    from fontTools.ttLib import TTFont
    chars = len(TTFont(io.BytesIO(font)).getBestCmap())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / FONT_FILE).write_bytes(font)
    (args.out / LICENCE_FILE).write_text(
        licence_text(source_sha, font_sha, len(font), chars, tools_version, coverage),
        encoding="utf-8", newline="\n")
    print(f"{args.out / FONT_FILE}: {len(font):,} bytes ({len(font) / 2**20:.2f} MiB), "
          f"{chars:,} characters, sha256 {font_sha}")
    for name, (wanted, kept, missing) in coverage.items():
        print(f"  {name}: {kept:,} of {wanted:,}" + (f", missing {len(missing)}" if missing else "")
              + (f" ({_han(set(missing))} Han)" if _han(set(missing)) else ""))
    print(f"{args.out / LICENCE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
