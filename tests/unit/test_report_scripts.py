"""Every script prints (issue 17.7): Chinese, Japanese and Korean names print with the bundled CJK
subset, mixed with Latin in the same field; a character no font has prints as a visible
placeholder and the page says so; a name the fonts cover gets no such line."""

from __future__ import annotations

import io
import shutil
import subprocess
import unicodedata

import pytest

from lab_app.core import report_text
from lab_app.core.case_models import Amendment, Case, CaseImage, Decision, LabInfo, Patient, Sample
from lab_app.core.results import ImageResult

pytest.importorskip("reportlab")
from pypdf import PdfReader  # noqa: E402

from lab_app.core.report import render_report  # noqa: E402

CHINESE = "王小明"
JAPANESE = "佐々木 はるか ｻｻｷ"      # kanji, the iteration mark, hiragana, half-width katakana
KOREAN = "김민준"
MIXED = "Wang 王小明 (Ming)"
NOT_IN_ANY_FONT = "\U00020000"       # CJK extension B: not in DejaVu nor in the subset
WARNING = "cannot be printed by this report's fonts"


def _pages(pdf: bytes) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages]


def _text(pdf: bytes) -> str:
    return " ".join(_pages(pdf))


def _embedded_fonts(pdf: bytes) -> dict[str, bool]:
    """BaseFont -> whether its file is embedded, over all pages."""
    fonts = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descendants = font.get("/DescendantFonts")
            desc = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            fonts[str(font["/BaseFont"])] = desc is not None and "/FontFile2" in desc.get_object()
    return fonts


def _image(n: int, path: str, reason: str, actor: str) -> CaseImage:
    result = ImageResult(path=path, prediction="Pre", confidence=0.9, probabilities={"Pre": 0.9})
    return CaseImage(n, 7, path, "ab" * 32, 100, 100, 1000, result,
                     Decision("overridden", "Pro", reason, actor, "2024-05-02T09:00:00Z"))


def _case(name: str = MIXED, **kw) -> Case:
    fields = dict(physician=JAPANESE, technician=JAPANESE, reviewer=KOREAN, lab=LabInfo("Lab"),
                  images=[_image(1, f"/scans/{KOREAN}/{CHINESE}_01.png", "核小体が明瞭", KOREAN)],
                  amendments=[Amendment(1, 7, "2024-05-03T10:00:00Z", KOREAN, "이름 수정",
                                        f"patient name: {CHINESE}")])
    fields.update(kw)
    return Case(7, Patient(f"患者-{KOREAN}-7", name), Sample("S-7"), **fields)


@pytest.fixture
def no_system_font(monkeypatch):
    """No system CJK font, whatever this machine has: only the bundled fonts count."""
    report_text.fallback_font.cache_clear()
    monkeypatch.setattr(report_text, "_fallback_candidates", lambda: [])
    yield
    report_text.fallback_font.cache_clear()


@pytest.fixture
def no_bundled_cjk(monkeypatch):
    """A broken install: the CJK subset is missing."""
    monkeypatch.setattr(report_text, "cjk_font", lambda: None)


# -- the bundled subset ---------------------------------------------------------------------------
def test_the_subset_covers_the_name_character_sets_and_has_its_licence():
    from tools.make_cjk_font import character_sets

    font = report_text.fonts_dir() / report_text.CJK_FILE
    assert font.stat().st_size < 3 * 2**20
    licence = (font.parent / "LICENSE-WenQuanYiMicroHei.txt").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0" in licence and "Changes" in licence
    found = report_text.cjk_font()
    assert found is not None and found[0] == report_text.FONT_CJK
    sets = character_sets()
    for name in ("GB2312", "Big5 level 1", "KS X 1001", "Hangul syllables"):
        assert not sets[name] - found[1], name
    assert sets["JIS X 0208"] - found[1] == {0x301C}       # WAVE DASH (the font has U+FF5E)
    kana = set(range(0x3041, 0x3095)) | set(range(0x30A1, 0x30F7)) | \
        set(range(0xFF61, 0xFFA0))
    assert not kana - found[1]


# -- names the fonts cover ---------------------------------------------------------------------
@pytest.mark.parametrize("name", [CHINESE, JAPANESE, KOREAN, MIXED])
def test_cjk_names_come_out_of_the_pdf_without_a_warning(no_system_font, name):
    assert report_text.unprintable(name) == []
    pdf = render_report(_case(name), image_loader=lambda img: None)
    text = _text(pdf)
    assert name in text
    assert WARNING not in text and report_text.PLACEHOLDER not in text
    fonts = _embedded_fonts(pdf)
    assert any("WenQuanYiMicroHei" in f for f in fonts), fonts
    assert all(fonts.values()), fonts                       # every font embedded (subset)


def test_every_user_field_prints_in_cjk(no_system_font):
    """Ids, physician, technician, reviewer, file names, reasons, amendments; the running header
    of page 2 (drawn on the canvas) too."""
    pdf = render_report(_case(), image_loader=lambda img: None, include_appendix=True)
    pages = _pages(pdf)
    text = " ".join(pages)
    for needle in (f"患者-{KOREAN}-7", JAPANESE, KOREAN, f"{CHINESE}_01.png", "核小体が明瞭",
                   "이름 수정", f"patient name: {CHINESE}"):
        assert needle in text, needle
    assert f"Patient 患者-{KOREAN}-7" in pages[1]                # running header
    assert WARNING not in text


def test_pdftotext_reads_the_cjk_names_back(no_system_font, tmp_path):
    """poppler's reader too, where it is installed (pypdf above everywhere)."""
    if shutil.which("pdftotext") is None:
        return
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_report(_case(), image_loader=lambda img: None))
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    for needle in (MIXED, KOREAN, JAPANESE):
        assert needle in out, needle


def test_a_decomposed_name_prints_composed(no_system_font):
    """A macOS file name stores Hangul and accents decomposed (NFD): printed as NFC."""
    nfd = unicodedata.normalize("NFD", f"{KOREAN} José")
    assert nfd != f"{KOREAN} José"
    assert report_text.unprintable(nfd) == []
    assert f"{KOREAN} José" in _text(render_report(_case(nfd), image_loader=lambda img: None))


# -- characters no font has ---------------------------------------------------------------------
def test_a_character_no_font_has_is_a_placeholder_and_the_page_says_so(no_system_font):
    name = f"Wang 王{NOT_IN_ANY_FONT}明"
    assert report_text.unprintable(name) == [NOT_IN_ANY_FONT]
    text = _text(render_report(_case(name), image_loader=lambda img: None))
    assert (f"Some characters of the patient name cannot be printed by this report's fonts and "
            f"show as {report_text.PLACEHOLDER}: U+20000.") in text
    assert f"Wang 王{report_text.PLACEHOLDER}明" in text


def test_the_note_names_every_field_concerned(no_system_font):
    case = _case(f"A{NOT_IN_ANY_FONT}", technician=f"B{NOT_IN_ANY_FONT}\U0002A6D6")
    text = _text(render_report(case, image_loader=lambda img: None))
    assert "Some characters of the patient name and technician cannot be printed" in text
    assert "U+20000, U+2A6D6." in text


def test_a_latin_case_has_no_such_line(no_system_font):
    case = Case(8, Patient("P-8", "Ana Example"), Sample("S-8"))
    assert WARNING not in _text(render_report(case, image_loader=lambda img: None))


def test_without_the_bundled_subset_the_page_names_what_cannot_be_printed(no_system_font,
                                                                          no_bundled_cjk):
    assert report_text.unprintable(MIXED) == ["王", "小", "明"]
    assert report_text.unprintable("Σωκράτης Фёдор محمد") == []     # DejaVu has these
    text = _text(render_report(_case(MIXED, physician="", technician="", reviewer="", images=[],
                                     amendments=[]), image_loader=lambda img: None))
    assert "Some characters of the patient name and patient ID cannot be printed" in text
    assert "U+738B, U+5C0F, U+660E" in text


def test_a_system_font_prints_what_the_subset_lacks(monkeypatch, no_bundled_cjk):
    """The system font is the last resort; the subset file stands in for one here."""
    report_text.fallback_font.cache_clear()
    subset = str(report_text.fonts_dir() / report_text.CJK_FILE)
    monkeypatch.setattr(report_text, "_fallback_candidates", lambda: ["/no/such.ttf", subset])
    try:
        assert report_text.unprintable(MIXED) == []
        assert f'<font name="{report_text.FONT_FALLBACK}">王小明</font>' in report_text.para_text(MIXED)
        pdf = render_report(_case(MIXED), image_loader=lambda img: None)
        assert MIXED in _text(pdf) and WARNING not in _text(pdf)
    finally:
        report_text.fallback_font.cache_clear()


def test_the_system_font_is_looked_for_only_when_the_bundled_fonts_lack_a_character(monkeypatch):
    report_text.fallback_font.cache_clear()
    looked = []
    monkeypatch.setattr(report_text, "_fallback_candidates", lambda: looked.append(1) or [])
    try:
        report_text.para_text(f"{MIXED} {KOREAN} {JAPANESE}")
        assert looked == []
        report_text.para_text(NOT_IN_ANY_FONT)
        assert looked == [1]
    finally:
        report_text.fallback_font.cache_clear()


# -- runs and markup ------------------------------------------------------------------------------
def test_runs_switch_font_per_character_and_user_text_stays_plain(no_system_font):
    cjk = report_text.FONT_CJK
    assert report_text.para_text("<王> & x") == f'&lt;<font name="{cjk}">王</font>&gt; &amp; x'
    assert report_text.para_text(f'a<b>{KOREAN}</b>"') == \
        f'a&lt;b&gt;<font name="{cjk}">{KOREAN}</font>&lt;/b&gt;"'
    assert report_text.runs("Wang 王小明\u3000ｻｻｷ") == [("", "Wang "), (cjk, "王小明\u3000ｻｻｷ")]
    # a character no font has: the placeholder in the report font; a variation selector no
    # font has is left out rather than drawn as a box
    assert report_text.runs(f"王{NOT_IN_ANY_FONT}\U000E0100") == [(cjk, "王"), ("", report_text.PLACEHOLDER)]
    assert report_text.unprintable("葛\U000E0100") == []
    assert report_text.para_text("a\nb") == "a<br/>b"
