"""PDF report: content, unicode names, page numbering, pictures, sizes, overwrite, reproducibility, CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from lab_app import RESEARCH_USE_ONLY, __version__
from lab_app.core import report_text
from lab_app.core.case_models import LabInfo, Patient, Sample
from lab_app.core.cases import CaseStore, DecisionChange
from lab_app.core.errors import ReportError
from lab_app.core.report import build_report, render_report
from lab_app.core.results import FLAG_LOW_CONFIDENCE, FLAG_OUT_OF_SCOPE, ImageResult
from lab_app.report_cli import main as report_main

from helpers import Clock, synthetic_field

GREEK = "Σωκράτης Παπαδόπουλος"
CYRILLIC = "Фёдор Достоевский"
PERSIAN = "محمد رضایی"
MODEL = {"name": "mobilenetv2-all", "version": "1.2.0", "sha256": "0123456789abcdef" * 4}
METRICS = {"accuracy": 0.931, "macro_f1": 0.924}
T1 = dt.datetime(2024, 5, 2, 10, 5, tzinfo=dt.timezone.utc)
T2 = dt.datetime(2025, 11, 30, 23, 59, tzinfo=dt.timezone.utc)


def result(path: Path, prediction: str, confidence: float, flags=()) -> ImageResult:
    probs = {c: round((1 - confidence) / 3, 3) for c in ("Benign", "Early", "Pre", "Pro")}
    probs[prediction] = confidence
    return ImageResult(path=str(path), prediction=prediction, confidence=confidence,
                       probabilities=probs, cells=7, flags=list(flags), sha256=f"{hash(path.name) & 0xffffffff:064x}",
                       width=64, height=48, segmentation={"preset": "default"}, model=dict(MODEL),
                       device="cpu", analysed_at="2024-05-02T09:00:00+00:00")


@pytest.fixture
def store(tmp_path):
    with CaseStore(tmp_path / "cases.sqlite3", clock=Clock("2024-05-02T09")) as s:
        yield s


@pytest.fixture
def case_id(store, tmp_path):
    """A signed case: 4 analysed images (one overridden, one out of scope) and one failed image."""
    imgs = [synthetic_field(tmp_path / f"field_{i}.png", i) for i in range(4)]
    case = store.create_case(
        patient=Patient("MRN-0042", GREEK, "1980-01-31", "F"),
        sample=Sample("PB-77", "Peripheral blood smear", "2024-04-30", "2024-05-01"),
        technician="Ana Tech", physician=CYRILLIC, reviewer=PERSIAN,
        lab=LabInfo("Unit Test Hematology Lab", "7 Test Road\nTestville 12345", None),
        results=[result(imgs[0], "Pre", 0.94), result(imgs[1], "Pre", 0.88),
                 result(imgs[2], "Pro", 0.51, [FLAG_LOW_CONFIDENCE]),
                 result(imgs[3], "Benign", 0.40, [FLAG_OUT_OF_SCOPE]),
                 ImageResult(path=str(tmp_path / "broken.tif"), status="error",
                             error="The file is not a readable image.")])
    a, b, c, _d, _e = case.images
    store.set_decision(case.id, a.id, "Ana Tech", "accepted")
    store.set_decision(case.id, b.id, "Ana Tech", "accepted")
    store.set_decision(case.id, c.id, "Ana Tech", "overridden", "Pre", "typical Pre-B chromatin")
    store.sign_off(case.id, "Ana Tech", PERSIAN, require_reviewer=True)
    return case.id


def pdf_text(path_or_bytes) -> list[str]:
    import io
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    # NFKC folds Arabic presentation forms (what the shaper draws) back to the base letters.
    return [unicodedata.normalize("NFKC", " ".join((p.extract_text() or "").split()))
            for p in PdfReader(src).pages]


def image_count(path: Path) -> int:
    return sum(len(page.images) for page in PdfReader(path).pages)


# ------------------------------------------------------------------------------------ content
def test_report_contains_every_field(store, case_id, tmp_path):
    out = build_report(store, case_id, tmp_path / "r.pdf", model_metrics=METRICS, generated_at=T1,
                       confidence_threshold=0.6)
    pages = pdf_text(out)
    text = " ".join(pages)
    for needle in ["Unit Test Hematology Lab", "7 Test Road", "Testville 12345",
                   "Acute lymphoblastic leukemia subtype analysis", RESEARCH_USE_ONLY,
                   "MRN-0042", GREEK, "1980-01-31", "PB-77", "Peripheral blood smear", "2024-04-30",
                   "2024-05-01", CYRILLIC, "Ana Tech", PERSIAN,
                   "Case call: Pre-B ALL", "3 of 3 (100%) called Pre-B ALL", "Benign (hematogones)",
                   "Early Pre-B ALL", "Pro-B ALL", "field_0.png", "field_3.png", "94.0%", "51.0%",
                   "Low confidence", "Out of scope", "OVERRIDDEN to Pre-B ALL", "typical Pre-B chromatin",
                   "Accepted", "broken.tif", "The file is not a readable image.",
                   "below the lab's threshold 60.0%", "Signed off 2024-05-02 09:",
                   f"ALL Subtype Workstation {__version__}", "mobilenetv2-all 1.2.0",
                   "sha256 0123456789ab", "accuracy 93.1%", "macro-F1 92.4%", "Generated 2024-05-02 10:05 UTC"]:
        assert needle in text, needle
    assert "0123456789abc" not in text.replace("sha256 0123456789ab ", "")  # only 12 hex chars shown
    n = len(pages)
    for i, page in enumerate(pages, start=1):
        assert RESEARCH_USE_ONLY in page                      # on every page
        assert f"Page {i} of {n}" in page
    assert "PRELIMINARY" not in text


def test_unicode_names_survive_and_fonts_are_embedded(store, case_id, tmp_path):
    out = build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1)
    text = " ".join(pdf_text(out))
    assert GREEK in text and CYRILLIC in text
    fonts = set()
    for page in PdfReader(out).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            fonts.add(str(font["/BaseFont"]))
            descendants = font.get("/DescendantFonts")
            desc = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            assert desc is None or any(k in desc.get_object() for k in ("/FontFile2", "/FontFile"))
    assert fonts and all("DejaVuSans" in f for f in fonts), fonts      # no unembedded Helvetica


def test_persian_name_is_shaped_and_reads_back(store, case_id, tmp_path):
    pytest.importorskip("arabic_reshaper")
    pytest.importorskip("bidi")
    raw = build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1)
    pages = [" ".join((p.extract_text() or "").split()) for p in PdfReader(raw).pages]
    # Drawn as contextual presentation forms (joined letters) in visual order ...
    assert any("\ufe70" <= ch <= "\ufeff" or "\ufb50" <= ch <= "\ufdff" for ch in pages[0])
    # ... which pypdf reads back in logical order: after NFKC it is the stored name.
    assert PERSIAN in " ".join(pdf_text(raw))


def test_rtl_without_optional_packages_still_prints(store, case_id, tmp_path, monkeypatch):
    monkeypatch.setattr(report_text, "_shaper", lambda: None)
    out = build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1)
    text = " ".join(pdf_text(out))
    assert GREEK in text and all(ch in text for ch in PERSIAN.replace(" ", ""))


def test_multi_page_numbering_and_thumbnails(store, tmp_path):
    imgs = [synthetic_field(tmp_path / f"many_{i:02d}.png", i) for i in range(14)]
    case = store.create_case(patient=Patient("P-MANY"), technician="T",
                             results=[result(p, "Early", 0.8) for p in imgs])
    out = build_report(store, case.id, tmp_path / "many.pdf", generated_at=T1)
    pages = pdf_text(out)
    assert len(pages) >= 2
    assert "Page 1 of" in pages[0] and f"Page {len(pages)} of {len(pages)}" in pages[-1]
    assert all(f"Page {i} of {len(pages)}" in p for i, p in enumerate(pages, start=1))
    assert "Case " in pages[1] and "P-MANY" in pages[1]                 # running header
    assert image_count(out) == 14
    assert "PRELIMINARY" in pages[0] and "Pending review" in " ".join(pages)


def test_overlays_appendix_and_logo_pictures(store, case_id, tmp_path):
    logo = synthetic_field(tmp_path / "logo.png", 99)
    store._conn().execute("UPDATE cases SET lab_logo_path = ? WHERE id = ?", (str(logo), case_id))

    def red(img):  # distinct pixels per image: reportlab stores identical pictures only once
        arr = np.zeros((30, 40, 3), np.uint8)
        arr[..., 0] = 200 + img.id
        return arr
    plain = build_report(store, case_id, tmp_path / "plain.pdf", generated_at=T1)
    assert image_count(plain) == 1 + 4                        # logo + one thumbnail per analysed image
    with_overlay = build_report(store, case_id, tmp_path / "ov.pdf", generated_at=T1,
                                overlay_provider=red)
    assert image_count(with_overlay) == 1 + 8
    assert "Segmentation" in " ".join(pdf_text(with_overlay))   # the images table's column
    appendix = build_report(store, case_id, tmp_path / "app.pdf", generated_at=T1,
                            include_appendix=True, overlay_provider=red,
                            cam_provider=lambda img: red(img)[..., ::-1].astype(np.float32) / 255.0)
    assert image_count(appendix) == 1 + 8 + 8                 # appendix: original + activation map
    text = " ".join(pdf_text(appendix))
    assert "Appendix: images and activation maps" in text and "Activation map" in text


def test_missing_files_and_failing_providers_degrade(store, case_id, tmp_path):
    case = store.get_case(case_id)
    Path(case.images[0].path).unlink()

    def broken(img):
        raise RuntimeError("overlay engine crashed")
    out = build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1, overlay_provider=broken)
    text = " ".join(pdf_text(out))
    assert "image file not found" in text and "overlay not available" in text
    assert image_count(out) == 3


def test_amended_case_shows_amendments(store, case_id, tmp_path):
    case = store.get_case(case_id)
    store.amend(case_id, "Dr. Review", "Second opinion on field 2",
                decisions=[DecisionChange(case.images[1].id, "overridden", "Early", "smaller blasts")])
    text = " ".join(pdf_text(build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1)))
    assert "AMENDED REPORT" in text and "Amendments" in text
    assert "Second opinion on field 2" in text and "Dr. Review" in text
    assert "smaller blasts" in text


# ------------------------------------------------------------------------- sizes & file safety
@pytest.mark.parametrize("size, expected", [("A4", (595.28, 841.89)), ("Letter", (612.0, 792.0))])
def test_page_sizes(store, case_id, tmp_path, size, expected):
    out = build_report(store, case_id, tmp_path / f"{size}.pdf", page_size=size, generated_at=T1)
    for page in PdfReader(out).pages:
        box = page.mediabox
        assert (round(float(box.width), 2), round(float(box.height), 2)) == pytest.approx(expected, abs=0.01)


def test_unknown_page_size(store, case_id, tmp_path):
    with pytest.raises(ReportError, match="A4 or Letter"):
        build_report(store, case_id, tmp_path / "r.pdf", page_size="A5")
    assert not (tmp_path / "r.pdf").exists()


def test_existing_report_is_not_overwritten(store, case_id, tmp_path):
    target = tmp_path / "r.pdf"
    target.write_bytes(b"previous report")
    with pytest.raises(ReportError, match="already exists"):
        build_report(store, case_id, target, generated_at=T1)
    assert target.read_bytes() == b"previous report"
    build_report(store, case_id, target, generated_at=T1, overwrite=True)
    assert target.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pdf", ".tmp")) == ["r.pdf"]


def test_two_exports_differ_only_in_generation_time(store, case_id, tmp_path):
    a = build_report(store, case_id, tmp_path / "a.pdf", generated_at=T1, model_metrics=METRICS)
    b = build_report(store, case_id, tmp_path / "b.pdf", generated_at=T1, model_metrics=METRICS)
    assert a.read_bytes() == b.read_bytes()                    # fully reproducible for the same time
    c = build_report(store, case_id, tmp_path / "c.pdf", generated_at=T2, model_metrics=METRICS)
    mask = re.compile(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    ta, tc = pdf_text(a), pdf_text(c)
    assert ta != tc
    assert [mask.sub("Generated <time>", t) for t in ta] == [mask.sub("Generated <time>", t) for t in tc]


def test_render_report_pure_bytes(store, case_id):
    pdf = render_report(store.get_case(case_id), generated_at=T1)
    assert pdf.startswith(b"%PDF") and "MRN-0042" in pdf_text(pdf)[0]


# ------------------------------------------------------------------------------------------ CLI
@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LABAPP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LABAPP_RESOURCES", str(Path(report_text.fonts_dir()).parent))


def test_cli_writes_report(store, case_id, tmp_path, capsys, cli_env):
    out = tmp_path / "cli.pdf"
    rc = report_main([str(case_id), "--out", str(out), "--db", str(store.path), "--page-size", "Letter",
                      "--appendix"])
    assert rc == 0 and out.exists()
    assert capsys.readouterr().out.strip() == str(out)
    assert round(float(PdfReader(out).pages[0].mediabox.width)) == 612
    assert "Appendix" in " ".join(pdf_text(out))


def test_cli_page_size_from_settings(store, case_id, tmp_path, cli_env):
    from lab_app.core.settings import LabSettings, Settings, save_settings
    save_settings(Settings(lab=LabSettings(report_page_size="Letter")))
    out = tmp_path / "s.pdf"
    assert report_main([str(case_id), "--out", str(out), "--db", str(store.path)]) == 0
    assert round(float(PdfReader(out).pages[0].mediabox.width)) == 612


def test_cli_errors_are_one_line(store, case_id, tmp_path, capsys, cli_env):
    out = tmp_path / "x.pdf"
    assert report_main(["999", "--out", str(out), "--db", str(store.path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no case 999" in err and "Traceback" not in err
    out.write_bytes(b"keep")
    assert report_main([str(case_id), "--out", str(out), "--db", str(store.path)]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and err.count("\n") == 1 and out.read_bytes() == b"keep"
    assert report_main([str(case_id), "--out", str(out), "--db", str(store.path), "--overwrite"]) == 0


@pytest.mark.parametrize("argv", [[], ["abc", "--out", "x.pdf"], ["1"], ["1", "--out", "x", "--page-size", "A5"]])
def test_cli_usage_errors_exit_2(argv, capsys, cli_env):
    with pytest.raises(SystemExit) as info:
        report_main(argv)
    assert info.value.code == 2


def test_a_refit_models_figures_are_quoted_as_its_recipe_runs(store, case_id, tmp_path):
    from lab_app.core.report import card_metrics
    meta = {"metrics": {"accuracy": 0.9648, "macro_f1": 0.9619, "ece": 0.009, "n": 511,
                        "recipe": {"name": "mobilenetv2-all", "version": "2.1.0-recipe"}}}
    out = build_report(store, case_id, tmp_path / "r.pdf", model_metrics=card_metrics(meta),
                       generated_at=T1)
    text = " ".join(" ".join(pdf_text(out)).split())
    assert "validation of its recipe run mobilenetv2-all 2.1.0-recipe" in text
    assert "accuracy 96.5%" in text and "n=511" in text


# ------------------------------------------------------------------- scope reason vs error
def test_scope_reason_has_its_own_field_and_old_rows_still_read(store, tmp_path):
    from lab_app.core.results import flag_reason
    img = synthetic_field(tmp_path / "blank.png", 9)
    oos = result(img, "Benign", 0.4, [FLAG_OUT_OF_SCOPE])
    oos.prediction = oos.confidence = None
    oos.scope_reason = "Too few stained cells for a smear field."
    assert oos.error is None and oos.to_row()["scope_reason"] == oos.scope_reason
    assert flag_reason(FLAG_OUT_OF_SCOPE, oos) == oos.scope_reason
    # The case store keeps it apart from errors.
    case = store.create_case(patient=Patient("P-1"), sample=Sample("S-1"), technician="T",
                             results=[oos, ImageResult(path=str(tmp_path / "bad.tif"), status="error",
                                                       error="The file is not a readable image.")])
    stored, failed = store.get_case(case.id).images
    assert (stored.result.error, stored.result.scope_reason) == (None, oos.scope_reason)
    assert (failed.result.error, failed.result.scope_reason) == ("The file is not a readable image.", None)
    # A results.json / journal row written before scope_reason existed had it in `error`.
    old = {k: v for k, v in oos.to_row().items() if k != "scope_reason"}
    old["error"] = oos.scope_reason
    again = ImageResult.from_row(old)
    assert (again.error, again.scope_reason) == (None, oos.scope_reason)
    old_failed = {"path": "x.tif", "status": "error", "error": "The file is not a readable image."}
    assert ImageResult.from_row(old_failed).error == "The file is not a readable image."


# ------------------------------------------------------- one assembly, one threshold concept
def test_threshold_is_the_models_unless_the_lab_sets_one():
    from lab_app.core.report_assembly import confidence_threshold
    assert confidence_threshold(None, None) is None
    model = confidence_threshold(0.947, None)
    assert model.describe() == "the model's calibrated threshold 94.7%"
    assert confidence_threshold(0.947, 0.6).describe() == "the lab's threshold 60.0%"


def test_assembled_report_says_whose_threshold_it_is(store, case_id, tmp_path):
    from lab_app.core.report_assembly import ReportPictures, write_case_report
    meta = {"low_confidence_threshold": 0.9, "metrics": METRICS}
    out = write_case_report(store, case_id, tmp_path / "m.pdf", pictures=ReportPictures(),
                            model_meta=meta)
    text = " ".join(pdf_text(out))
    assert "below the model's calibrated threshold 90.0%" in text and "lab's" not in text
    assert "Appendix" not in text                       # no activation maps at hand: no appendix
    out = write_case_report(store, case_id, tmp_path / "l.pdf", pictures=ReportPictures(),
                            model_meta=meta, lab_threshold=0.6)
    text = " ".join(pdf_text(out))
    assert "below the lab's threshold 60.0%" in text and "calibrated threshold" not in text


def test_kept_pictures_are_used_without_reading_the_files(store, case_id, tmp_path, monkeypatch):
    from lab_app.core import report_assembly
    from lab_app.core.overlays import FieldPictures, encode_jpeg
    from lab_app.core.report_assembly import KeptPictures, ReportPictures, write_case_report
    case = store.get_case(case_id)
    analysed = [img for img in case.images if not img.failed]

    def refuse(*_a, **_k):
        raise AssertionError("the report read an image file although its pictures were kept")
    for name in ("load_original", "load_rgb", "segmentation_overlay_for"):
        monkeypatch.setattr(report_assembly, name, refuse)
    with KeptPictures() as kept:
        folder = kept._dir
        for n, img in enumerate(analysed):
            field = np.full((60, 80, 3), 40 * n, np.uint8)
            r = ImageResult(path=img.path, cam=np.eye(7, dtype=np.float32),
                            pictures=FieldPictures(encode_jpeg(field), encode_jpeg(255 - field)))
            kept.keep(r)
            assert r.pictures is None                   # handed over, not held by the row
        out = write_case_report(store, case_id, tmp_path / "k.pdf",
                                pictures=ReportPictures(kept=kept))
    assert not folder.exists()                           # the temporary folder is removed
    # thumbnail + outlines per analysed image, and original + activation map in the appendix
    assert image_count(out) == 4 * len(analysed)
    assert "Activation map" in " ".join(pdf_text(out))


def test_page_one_explains_itself_in_readable_type(store, case_id, tmp_path):
    out = build_report(store, case_id, tmp_path / "r.pdf",
                       model_metrics={"accuracy": 0.977, "macro_f1": 0.979, "n": 511})
    first = pdf_text(out)[0]
    assert "How to read this report" in first
    for words in ("not a diagnosis", "calibrated probability", "511 fields", "97.7% were called right",
                  "not independent evidence", "stain, lamp, camera"):
        assert words in first, words
    sizes = []

    def visit(text, cm, tm, font_dict, font_size):
        if text.strip():
            sizes.append(font_size * abs(tm[0] or 1) * abs(cm[0] or 1))

    PdfReader(out).pages[0].extract_text(visitor_text=visit)
    assert sizes and min(sizes) >= 6.5, sorted(sizes)[:5]
    # The footer keeps the validation figures, never cut off.
    assert "accuracy 97.7%" in first and "Generated" in first


def test_an_unset_lab_name_is_said_in_the_header(store, tmp_path):
    case = store.create_case(patient=Patient("P-1"), sample=Sample("S-1"), technician="Ana",
                             lab=LabInfo("", "", None))
    out = build_report(store, case.id, tmp_path / "r.pdf")
    first = pdf_text(out)[0]
    assert first.startswith("Laboratory name not set") and "Preferences" in first


def test_pdf_metadata_dates_are_the_generation_time(store, case_id, tmp_path):
    out = build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1)
    info = PdfReader(out).metadata
    assert info["/CreationDate"].startswith("D:" + T1.strftime("%Y%m%d%H%M%S"))


@pytest.mark.parametrize("metrics", ["97%", [0.97], {"accuracy": "high", "n": "many"}])
def test_cli_model_card_with_odd_metrics_prints_without_them(store, case_id, tmp_path, capsys,
                                                             cli_env, metrics):
    """--model DIR whose model.json holds metrics that are not figures (edited by hand) ended
    in an AttributeError traceback; the report now says the figures were not provided."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({"name": "m", "version": "1", "metrics": metrics}),
                                      encoding="utf-8")
    out = tmp_path / "odd.pdf"
    assert report_main([str(case_id), "--out", str(out), "--db", str(store.path),
                        "--model", str(model)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert "validation figures were not provided" in " ".join(" ".join(pdf_text(out)).split())


@pytest.mark.parametrize("verify", [False, True])
def test_cli_a_database_that_is_not_there_is_named_not_created(tmp_path, capsys, cli_env, verify):
    """--db with a mistyped file name created an empty case database there and then said
    'There is no case 1' (or '0 cases checked')."""
    missing = tmp_path / "cases-typo.sqlite3"
    argv = ["--verify"] if verify else ["1", "--out", str(tmp_path / "r.pdf")]
    assert report_main(argv + ["--db", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no case database at" in err and str(missing) in err
    assert not missing.exists()
