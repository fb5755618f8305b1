"""Names in scripts the bundled fonts lack (CJK) are never printed as silent empty boxes: a
system font that has them is used, or the page says which characters cannot be printed."""

from __future__ import annotations

import io

import pytest

from lab_app.core import report_text
from lab_app.core.case_models import Case, LabInfo, Patient, Sample

pytest.importorskip("reportlab")
from pypdf import PdfReader  # noqa: E402

from lab_app.core.report import render_report  # noqa: E402

NAME = "王小明 Wang"


def _text(pdf: bytes) -> str:
    return " ".join(" ".join((p.extract_text() or "").split())
                    for p in PdfReader(io.BytesIO(pdf)).pages)


def _case() -> Case:
    return Case(7, Patient("P-7", NAME), Sample("S-7"), technician="Ana", lab=LabInfo("Lab"))


@pytest.fixture
def no_fallback(monkeypatch):
    report_text.fallback_font.cache_clear()
    monkeypatch.setattr(report_text, "_fallback_candidates", lambda: [])
    yield
    report_text.fallback_font.cache_clear()


def test_without_a_cjk_font_the_page_names_what_cannot_be_printed(no_fallback):
    assert report_text.unprintable(NAME) == ["王", "小", "明"]
    assert report_text.unprintable("Σωκράτης Фёдор محمد") == []     # DejaVu has these
    text = _text(render_report(_case(), image_loader=lambda img: None))
    assert "Characters not printable with the bundled fonts in the patient name" in text
    assert "U+738B" in text


def test_a_latin_case_has_no_such_line(no_fallback):
    case = Case(8, Patient("P-8", "Ana Example"), Sample("S-8"))
    assert "not printable" not in _text(render_report(case, image_loader=lambda img: None))


def test_a_system_cjk_font_prints_the_name_without_a_warning():
    report_text.fallback_font.cache_clear()
    if report_text.fallback_font() is None or ord("王") not in report_text.fallback_font()[1]:
        pytest.skip("no TrueType CJK font on this machine (fontconfig, Windows Fonts)")
    assert report_text.unprintable(NAME) == []
    assert 'name="LabFallback"' in report_text.para_text(NAME)
    pdf = render_report(_case(), image_loader=lambda img: None)
    assert "not printable" not in _text(pdf) and "王小明" in _text(pdf)


def test_the_fallback_wraps_only_the_missing_characters(monkeypatch):
    """With a stand-in fallback that has the characters, only they change font."""
    report_text.fallback_font.cache_clear()
    monkeypatch.setattr(report_text, "fallback_font",
                        lambda: ("LabFallback", frozenset(map(ord, "王小明"))))
    assert report_text.para_text("<王> & x") == ('&lt;<font name="LabFallback">王</font>&gt; &amp; x')
    assert report_text.unprintable(NAME) == []
