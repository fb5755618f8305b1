"""The report's memory does not grow with its images (issue 17.6): pictures go into the PDF as
pass-through JPEGs that wait in files, the per-image parts of the story are made as the pages
reach them, and the PDF is written object by object. No timing or memory thresholds here; the
figures are in bench/RESULTS.md (bench/report_memory.py)."""

from __future__ import annotations

import datetime as dt
import gc
import io
import weakref
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from lab_app.core import report_images
from lab_app.core.case_models import Patient
from lab_app.core.cases import CaseStore
from lab_app.core.report import _NumberedCanvas, build_report, render_report
from lab_app.core.report_images import Jpeg, JpegSpool, draw_jpeg
from lab_app.core.report_pdf import StreamingCanvas
from lab_app.core.results import ImageResult

from helpers import Clock, synthetic_field

T1 = dt.datetime(2024, 5, 2, 10, 5, tzinfo=dt.timezone.utc)
MODEL = {"name": "mobilenetv2-all", "version": "1.2.0", "sha256": "0123456789abcdef" * 4}


@pytest.fixture
def store(tmp_path):
    with CaseStore(tmp_path / "cases.sqlite3", clock=Clock("2024-05-02T09")) as s:
        yield s


def make_case(store, tmp_path, n: int, same_pixels: bool = False) -> int:
    paths = [synthetic_field(tmp_path / f"field_{i:03d}.png", 0 if same_pixels else i) for i in range(n)]
    results = [ImageResult(path=str(p), prediction="Pre", confidence=0.9,
                           probabilities={"Benign": 0.05, "Early": 0.03, "Pre": 0.9, "Pro": 0.02},
                           cells=3, sha256=f"{i:064x}", width=64, height=48,
                           segmentation={"preset": "default"}, model=dict(MODEL), device="cpu",
                           analysed_at="2024-05-02T09:00:00+00:00")
               for i, p in enumerate(paths)]
    return store.create_case(patient=Patient("P-1"), technician="T", results=results).id


def tinted(img):
    """A flat picture per image (tints far enough apart that their JPEGs differ)."""
    arr = np.zeros((30, 40, 3), np.uint8)
    arr[..., 0] = 20 + 25 * (img.id % 9)
    return arr


def xobject_images(path: Path) -> dict[int, object]:
    """Every image XObject of the PDF, by object number (pages sharing one count once)."""
    found = {}
    for page in PdfReader(path).pages:
        xobjects = page["/Resources"].get("/XObject", {})
        for ref in xobjects.values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                found[ref.idnum] = obj
    return found


def test_pictures_are_passed_through_as_jpeg_never_decoded(store, tmp_path, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("reportlab decoded a picture")
    monkeypatch.setattr("reportlab.lib.utils.ImageReader.__init__", no_decoding)
    case_id = make_case(store, tmp_path, 6)
    out = build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1, include_appendix=True,
                       overlay_provider=tinted, cam_provider=lambda img: tinted(img)[..., ::-1])
    images = xobject_images(out)
    fields = {Image.open(tmp_path / f"field_{i:03d}.png").tobytes() for i in range(6)}
    # Each distinct picture once: the fields (table and appendix alike), overlays, maps.
    assert len(images) == len(fields) + 6 + 6
    for obj in images.values():
        assert obj["/Filter"] in ("/DCTDecode", ["/DCTDecode"])
        data = obj.get_data()
        assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"         # a whole JPEG file


def test_identical_pictures_are_stored_once(store, tmp_path):
    case_id = make_case(store, tmp_path, 5, same_pixels=True)
    out = build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1)
    assert len(xobject_images(out)) == 1


def test_the_per_image_story_is_made_as_the_pages_reach_it(store, tmp_path, monkeypatch):
    """With 150 images (600 pictures), only a page or two of them exist at any time."""
    live: weakref.WeakSet = weakref.WeakSet()
    made = report_images.JpegPicture.__init__

    def track(self, *args, **kwargs):
        made(self, *args, **kwargs)
        live.add(self)
    monkeypatch.setattr(report_images.JpegPicture, "__init__", track)
    most = 0
    calls = 0

    def overlay(img):
        nonlocal most, calls
        calls += 1
        if calls % 25 == 0:
            gc.collect()
            most = max(most, len(live))
        return tinted(img)

    case_id = make_case(store, tmp_path, 150)
    out = build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1, include_appendix=True,
                       overlay_provider=overlay, cam_provider=tinted)
    assert calls == 150
    assert 0 < most < 80, most
    pages = [" ".join((p.extract_text() or "").split()) for p in PdfReader(out).pages]
    text = " ".join(pages)
    for i in range(150):      # each image once in the table and once in the appendix
        assert text.count(f"field_{i:03d}.png") == 2, i
    assert all(f"Page {k} of {len(pages)}" in p for k, p in enumerate(pages, start=1))
    table_pages = [p for p in pages if "Technician's decision" in p]
    assert len(table_pages) > 5          # the header row repeated on every page of the table


def test_streaming_writer_writes_the_bytes_reportlab_would(tmp_path):
    jpeg = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 30, 30)).save(jpeg, "JPEG")
    picture = Jpeg.of(jpeg.getvalue(), (20, 10))

    def draw(canvas) -> None:
        for page in range(3):
            canvas.drawString(72, 720, f"page {page + 1}")
            draw_jpeg(canvas, picture, 72, 600, 100, 50)
            canvas.showPage()
        canvas.save()

    plain, streamed = io.BytesIO(), io.BytesIO()
    draw(Canvas(plain, invariant=1))
    draw(StreamingCanvas(streamed, invariant=1))
    assert streamed.getvalue() == plain.getvalue()


def test_spooled_pictures_wait_in_files_and_are_removed(tmp_path):
    with JpegSpool() as spool:
        a = spool.add(b"\xff\xd8 one \xff\xd9", (1, 1))
        b = spool.add(b"\xff\xd8 one \xff\xd9", (1, 1))
        assert a.data is None and a.path == b.path and a.read() == b"\xff\xd8 one \xff\xd9"
        folder = a.path.parent
    assert not folder.exists()


def test_a_failed_report_leaves_neither_file_nor_temporary(store, tmp_path, monkeypatch):
    case_id = make_case(store, tmp_path, 3)

    def fail(self, number, total):
        raise RuntimeError("disk gone")
    monkeypatch.setattr(_NumberedCanvas, "finish_page", fail)
    with pytest.raises(RuntimeError):
        build_report(store, case_id, tmp_path / "out" / "r.pdf", generated_at=T1)
    assert list((tmp_path / "out").iterdir()) == []


def test_render_report_bytes_equal_the_written_file(store, tmp_path):
    case_id = make_case(store, tmp_path, 4)
    out = build_report(store, case_id, tmp_path / "r.pdf", generated_at=T1, overlay_provider=tinted)
    case = store.get_case(case_id)
    case.integrity = store.verify_case(case_id)      # as build_report reads it
    assert render_report(case, generated_at=T1, overlay_provider=tinted) == out.read_bytes()
