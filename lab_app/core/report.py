"""The PDF case report, drawn from the stored case (never from Qt widgets) with reportlab platypus.

Contents: lab header (name, address, logo), title, the research-use-only sentence, patient and
sample block, case summary (case call, counts per class, bar chart), one table row per analysed
image (thumbnail, segmentation overlay, predicted subtype, confidence, flags, the technician's
decision with override reasons), the images not counted (failed / out of scope), amendments,
sign-off lines and, on request, an appendix with larger images and activation-map overlays.
Every page has a footer: software version, model name/version/sha256 prefix, validation metrics,
generation time, the research-use-only sentence and "Page X of Y".

Reproducible output: the PDF is built with reportlab's ``invariant=1`` (fixed document ID and
creation date) and re-encodes pictures deterministically, so two exports of the same case differ
only in the generation time printed in the footer (identical bytes for the same ``generated_at``).

Pictures come from callables so this module does not depend on the model or the pipeline:
``image_loader(case_image)`` (default: the original file with Pillow; a missing file is shown as
"image file not found"), ``overlay_provider(case_image)`` (segmentation overlay) and
``cam_provider(case_image)`` (activation map overlay, appendix only). Each returns a PIL image, an
RGB/gray array or None.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from xml.sax.saxutils import escape as escape_text

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus.doctemplate import LayoutError
from reportlab.platypus import (Frame, KeepTogether, PageBreak, PageTemplate,
                                Paragraph, Spacer, Table, TableStyle)
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from model.atomic import atomic_writer
from model.classes import CLASS_IDS, DISPLAY_NAMES

from .. import RESEARCH_USE_ONLY, __version__
from .case_models import ACCEPTED, OVERRIDDEN, Case, CaseImage
from .case_summary import MIN_REVIEWED, CaseSummary, summarize
from .errors import ReportError
from .model_figures import model_metrics_line
from .report_images import (THUMB_H, THUMB_W, ImageProvider, JpegSpool, flowable, load_original,
                            picture)
from .report_pdf import Deferred, LazyRows, StreamingCanvas, StreamingDocTemplate
from .report_text import (PLACEHOLDER, display, draw_text, para_text, register_fonts,
                          unprintable)
from . import vocabulary
from .vocabulary import count_text, error_reason, flag_label

PAGE_SIZES = {"A4": A4, "Letter": LETTER}
MARGIN = 15 * mm
FOOTER_H = 17.5 * mm
SOFTWARE_NAME = "ALL Subtype Workstation"
TITLE = "Acute lymphoblastic leukemia subtype analysis"

CLASS_COLOURS = {cid: colors.HexColor(hex_) for cid, hex_ in vocabulary.CLASS_COLOURS.items()}
INK = colors.HexColor(vocabulary.INK)
MUTED = colors.HexColor("#5F6B76")
RULE = colors.HexColor("#C5CCD3")
BOX_FILL = colors.HexColor("#F4F7FA")   # the "How to read this report" box
RUO_RED = colors.HexColor("#A61B1B")
OVERRIDE_BG = colors.HexColor("#FFF1D6")


MODEL_THRESHOLD = "model"
LAB_THRESHOLD = "lab"


@dataclass(frozen=True)
class ConfidenceThreshold:
    """Calls below ``value`` are marked; ``source`` says whose threshold it is (report_assembly's
    ``confidence_threshold`` chooses it)."""
    value: float
    source: str  # MODEL_THRESHOLD | LAB_THRESHOLD

    def describe(self) -> str:
        """'the model's calibrated threshold 94.7%' or 'the lab's threshold 60.0%'."""
        whose = ("the lab's threshold" if self.source == LAB_THRESHOLD
                 else "the model's calibrated threshold")
        return f"{whose} {self.value:.1%}"


def _threshold(value: float | ConfidenceThreshold | None) -> ConfidenceThreshold | None:
    """A bare number is the caller's own (the lab's) threshold."""
    if value is None or isinstance(value, ConfidenceThreshold):
        return value
    return ConfidenceThreshold(float(value), LAB_THRESHOLD)


def card_metrics(model_meta: Mapping[str, Any]) -> dict[str, Any]:
    """The validation figures of a model card (``model.json``) that a report quotes."""
    metrics = model_meta.get("metrics", {})
    quoted = {k: metrics.get(k) for k in ("accuracy", "macro_f1", "ece", "n")}
    if metrics.get("recipe"):   # a refit quotes the run whose recipe it repeated
        quoted["recipe"] = metrics["recipe"]
    return quoted


def build_report(case_store: Any, case_id: int, out_path: str | os.PathLike[str], *,
                 page_size: str = "A4", overwrite: bool = False, **options: Any) -> Path:
    """Write the report of a stored case to ``out_path`` atomically; returns the path.
    ``options`` are those of :func:`write_report`.

    Raises ReportError when ``out_path`` exists and ``overwrite`` is false, when the page size is
    unknown or when the file cannot be written; CaseStoreError for an unknown case.
    """
    path = Path(out_path)
    if path.exists() and not overwrite:
        raise ReportError(f"The report {path} already exists; choose another file name or allow "
                          "overwriting.")
    case = case_store.get_case(case_id)
    if case.integrity is None and hasattr(case_store, "verify_case"):
        case.integrity = case_store.verify_case(case_id)     # a broken chain prints a warning
    if page_size not in PAGE_SIZES:        # before any folder or file is made
        raise ReportError(f"Unknown page size '{page_size}'; use A4 or Letter.")
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as out:    # the PDF streams into it: see report_pdf
            write_report(case, out, page_size=page_size, **options)
        return path
    except OSError as exc:
        raise ReportError(f"The report {path} cannot be written ({exc.strerror or exc}).") from exc


def render_report(case: Case, **options: Any) -> bytes:
    """The report of ``case`` as PDF bytes (pure: reads the case and the pictures only);
    ``options`` are those of :func:`write_report`."""
    buf = io.BytesIO()
    write_report(case, buf, **options)
    return buf.getvalue()


def write_report(case: Case, out: BinaryIO, *, page_size: str = "A4",
                 include_appendix: bool = False,
                 image_loader: ImageProvider | None = None,
                 overlay_provider: ImageProvider | None = None,
                 cam_provider: ImageProvider | None = None,
                 model_metrics: Mapping[str, Any] | None = None,
                 generated_at: dt.datetime | None = None,
                 confidence_threshold: float | ConfidenceThreshold | None = None,
                 min_reviewed: int = MIN_REVIEWED) -> None:
    """Write the report of ``case`` as PDF to the binary file ``out``, object by object: memory
    does not grow with the number of images (report_pdf, report_images).
    ``model_metrics`` holds the validation metrics of the model card (``accuracy``,
    ``macro_f1``); without it, those the analysis recorded from its model's card."""
    if page_size not in PAGE_SIZES:
        raise ReportError(f"Unknown page size '{page_size}'; use A4 or Letter.")
    if model_metrics is None:
        model_metrics = _main_model(case.images).get("metrics")   # the engine records its card's
    regular, bold = register_fonts()
    styles = _styles(regular, bold)
    generated = (generated_at or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    summary = summarize(case.images, min_reviewed=min_reviewed)
    size = PAGE_SIZES[page_size]
    width = size[0] - 2 * MARGIN
    frame_height = size[1] - 2 * MARGIN - FOOTER_H
    with JpegSpool() as spool:
        ctx = _Context(case=case, summary=summary, styles=styles, width=width,
                       loader=image_loader or load_original, overlay=overlay_provider,
                       cam=cam_provider, threshold=_threshold(confidence_threshold), spool=spool,
                       frame_height=frame_height)
        story: list[Any] = []
        story += _header(ctx)
        story += _integrity_warning(ctx)
        story += _unprintable_warning(ctx)
        story += _patient_block(ctx)
        story += _summary_block(ctx)
        story += _how_to_read(ctx, model_metrics)
        story += _image_table(ctx)
        story += _not_counted(ctx)
        story += _amendments(ctx)
        story += _signatures(ctx)
        if include_appendix:
            story += _appendix(ctx)
        footer = _Footer(
            software=f"{SOFTWARE_NAME} {__version__}",
            model=_model_line(case.images),
            metrics=model_metrics_line(model_metrics),
            generated=generated.strftime("%Y-%m-%d %H:%M UTC"),
            running=_running_header(case), font=regular, bold=bold,
            stamp=generated.timetuple()[:6])
        doc = StreamingDocTemplate(
            out, pagesize=size, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
            bottomMargin=MARGIN + FOOTER_H, invariant=1,
            title=f"{TITLE} - case {case.id}", author=display(case.lab.name) or SOFTWARE_NAME,
            subject=RESEARCH_USE_ONLY, creator=f"{SOFTWARE_NAME} {__version__}",
            keywords="research use only", initialFontName=regular)
        # No frame padding, so tables sized to `width` line up with paragraphs.
        frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body",
                      leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
        try:
            doc.build(story, canvasmaker=functools.partial(_NumberedCanvas, footer=footer))
        except LayoutError as exc:   # a table row taller than a page: some text is far too long
            raise ReportError(_too_long_sentence(case)) from exc


def _too_long_sentence(case: Case) -> str:
    """What to shorten when the report cannot be laid out: the case's longest text."""
    texts = [("patient ID", case.patient.id), ("patient name", case.patient.name),
             ("sex", case.patient.sex), ("sample ID", case.sample.id),
             ("specimen", case.sample.specimen), ("physician", case.physician),
             ("technician", case.technician), ("reviewer", case.reviewer),
             ("laboratory name", case.lab.name), ("laboratory address", case.lab.address)]
    texts += [(f"reason given for {Path(img.path).name}", img.decision.reason)
              for img in case.images]
    texts += [("amendment reason", a.reason) for a in case.amendments]
    label, text = max(texts, key=lambda t: len(t[1] or ""))
    return (f"The report cannot be laid out: the {label} ({len(text or ''):,} characters) is too "
            "long to fit on a page; shorten it and print the report again.")


# ---------------------------------------------------------------------------------- layout
@dataclass
class _Context:
    case: Case
    summary: CaseSummary
    styles: dict[str, ParagraphStyle]
    width: float
    loader: ImageProvider
    overlay: ImageProvider | None
    cam: ImageProvider | None
    threshold: ConfidenceThreshold | None
    spool: JpegSpool | None = None      # where the pictures' JPEGs wait for the PDF
    frame_height: float = 0.0           # of the page's body frame (LazyRows)

    def p(self, text: str, style: str = "body") -> Paragraph:
        return Paragraph(text, self.styles[style])


def _styles(regular: str, bold: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=regular, fontSize=9, leading=11.5, textColor=INK)
    s = {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.2),
        "cellb": ParagraphStyle("cellb", parent=base, fontName=bold, fontSize=7.5, leading=9.2),
        "label": ParagraphStyle("label", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED),
        "value": ParagraphStyle("value", parent=base, fontName=bold, fontSize=9, leading=11.5),
        "lab": ParagraphStyle("lab", parent=base, fontName=bold, fontSize=13, leading=16),
        "address": ParagraphStyle("address", parent=base, fontSize=8.5, leading=10.5, textColor=MUTED),
        "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=15, leading=19,
                                spaceBefore=2, spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base, fontName=bold, fontSize=11, leading=14,
                             spaceBefore=8, spaceAfter=4),
        "ruo": ParagraphStyle("ruo", parent=base, fontName=bold, fontSize=10, leading=13,
                              textColor=RUO_RED, alignment=1),
        "call": ParagraphStyle("call", parent=base, fontName=bold, fontSize=14, leading=18),
        "boxh": ParagraphStyle("boxh", parent=base, fontName=bold, fontSize=9, leading=12),
        "boxt": ParagraphStyle("boxt", parent=base, fontSize=7.8, leading=10),
        "caption": ParagraphStyle("caption", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED,
                                  alignment=1),
        "warn": ParagraphStyle("warn", parent=base, fontName=bold, fontSize=9, leading=11.5,
                               textColor=RUO_RED),
    }
    return s


def _ts(ctx: _Context, commands: list[tuple]) -> TableStyle:
    """A TableStyle in the report font (reportlab's default would pull in unembedded Helvetica)."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), ctx.styles["body"].fontName), *commands])


def _header(ctx: _Context) -> list[Any]:
    case = ctx.case
    lab_cells: list[Any] = [ctx.p(para_text(case.lab.name, empty="Laboratory name not set"), "lab")]
    if not case.lab.name.strip():
        lab_cells.append(ctx.p("Set the laboratory's name and address in the program's "
                               "Preferences; they are printed here.", "address"))
    if case.lab.address.strip():
        lab_cells.append(ctx.p(para_text(case.lab.address), "address"))
    logo = _logo(case.lab.logo_path)
    if logo is not None:
        head = Table([[logo, lab_cells]], colWidths=[logo.drawWidth + 4 * mm, None])
    else:
        head = Table([[lab_cells]], colWidths=[ctx.width])
    head.setStyle(_ts(ctx, [("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                              ("LINEBELOW", (0, 0), (-1, -1), 0.8, RULE)]))
    ruo = Table([[ctx.p(RESEARCH_USE_ONLY, "ruo")]], colWidths=[ctx.width])
    ruo.setStyle(_ts(ctx, [("BOX", (0, 0), (-1, -1), 1.2, RUO_RED),
                             ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#FDECEC")),
                             ("TOPPADDING", (0, 0), (-1, -1), 4), ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
    out: list[Any] = [head, Spacer(1, 4 * mm), ctx.p(TITLE, "title"), ruo]
    if case.amended:
        out += [Spacer(1, 2 * mm),
                ctx.p(f"AMENDED REPORT: this case was changed after sign-off "
                      f"({len(case.amendments)} amendment(s), see 'Amendments').", "warn")]
    elif not case.locked:
        out += [Spacer(1, 2 * mm),
                ctx.p("PRELIMINARY: this case is not signed off.", "warn")]
    return out + [Spacer(1, 3 * mm)]


def _logo(path: str | None) -> Any:
    if not path:
        return None
    try:
        with PILImage.open(path) as im:
            pil = im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError):
        return None  # a missing logo must not stop the report
    return flowable(pil, 40 * mm, 18 * mm)


def _patient_block(ctx: _Context) -> list[Any]:
    c = ctx.case

    def pair(label: str, value: str | None) -> list[Any]:
        return [ctx.p(label, "label"), ctx.p(para_text(value), "value")]

    rows = [
        pair("Patient ID", c.patient.id) + pair("Sample ID", c.sample.id),
        pair("Patient name", c.patient.name) + pair("Specimen", c.sample.specimen),
        pair("Date of birth", c.patient.birth_date) + pair("Collected", c.sample.collected_on),
        pair("Sex", c.patient.sex) + pair("Received", c.sample.received_on),
        pair("Requesting physician", c.physician) + pair("Case number", str(c.id)),
        pair("Technician", c.technician) + pair("Reviewer", c.reviewer),
    ]
    w = ctx.width
    t = Table(rows, colWidths=[0.17 * w, 0.33 * w, 0.15 * w, 0.35 * w])
    t.setStyle(_ts(ctx, [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BOX", (0, 0), (-1, -1), 0.6, RULE),
        ("LINEBEFORE", (2, 0), (2, -1), 0.6, RULE),
        ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#F7F9FA")),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]))
    return [ctx.p("Patient and sample", "h2"), t]


def _summary_block(ctx: _Context) -> list[Any]:
    s = ctx.summary
    call = s.call
    n = call.reviewed
    colour = CLASS_COLOURS.get(call.call, INK)
    lines = [Paragraph(f'Case call: <font color="{colour.hexval()}">{para_text(s.label)}</font>',
                       ctx.styles["call"])]
    detail = [f"{n} reviewed image(s) counted"]
    if call.is_class and n:
        detail.append(f"{call.counts[call.call]} of {n} ({call.counts[call.call] / n:.0%}) "
                      f"called {DISPLAY_NAMES[call.call]}")
    if call.top_classes and not call.is_class:
        detail.append("most frequent: " + ", ".join(f"{DISPLAY_NAMES[c]} ({call.counts[c]})"
                                                    for c in call.top_classes))
    if s.pending:
        detail.append(f"{s.pending} image(s) pending review")
    if s.failed:
        detail.append(f"{len(s.failed)} image(s) failed to load or analyse")
    if s.out_of_scope:
        detail.append(f"{len(s.out_of_scope)} image(s) out of scope")
    duplicates = sum(1 for img in ctx.case.images if img.result.duplicate_of)
    if duplicates:   # byte-identical files are listed and counted, never merged away
        detail.append(f"{duplicates} of {len(ctx.case.images)} image(s) are byte-identical "
                      "copies of another image of the case (marked in the table)")
    lines.append(ctx.p("; ".join(detail) + "."))
    lines.append(Spacer(1, 2 * mm))
    lines.append(ctx.p(para_text(s.rule), "small"))

    # The model's own calls too: before review (a batch report) they are all there is to show.
    model_counts = {cid: sum(1 for img in ctx.case.images
                             if img.in_scope and img.result.prediction == cid) for cid in CLASS_IDS}
    counts_rows = [[ctx.p("<b>Subtype</b>", "cell"), ctx.p("<b>Model</b>", "cell"),
                    ctx.p("<b>Reviewed</b>", "cell"), ctx.p("<b>Share</b>", "cell")]]
    for cid in CLASS_IDS:
        k = call.counts[cid]
        counts_rows.append([ctx.p(DISPLAY_NAMES[cid], "cell"), ctx.p(str(model_counts[cid]), "cell"),
                            ctx.p(str(k), "cell"), ctx.p(f"{k / n:.0%}" if n else "—", "cell")])
    w = ctx.width
    counts = Table(counts_rows, colWidths=[0.2 * w, 0.09 * w, 0.11 * w, 0.08 * w])
    counts.setStyle(_ts(ctx, [("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
                                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
    chart_counts, chart_title = ((call.counts, "Reviewed calls") if n else
                                 (model_counts, "Model calls (not yet reviewed)"))
    chart = [ctx.p(chart_title, "small"),
             _bar_chart(chart_counts, ctx.styles["cell"].fontName, 0.5 * w, 28 * mm)]
    row = Table([[counts, chart]], colWidths=[0.5 * w, 0.5 * w])
    row.setStyle(_ts(ctx, [("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                             ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return [ctx.p("Case summary", "h2"), *lines, Spacer(1, 2 * mm), row]


def validation_sentence(metrics: Mapping[str, Any] | None) -> str:
    """The model's validation in plain words (the same figures as the footer)."""
    if not metrics or not isinstance(metrics.get("accuracy"), (int, float)):
        return ("Its validation figures were not provided with this report; ask for the model "
                "card (Help, About in the program).")
    n = metrics.get("n")
    fields = f"{n} fields" if isinstance(n, int) else "fields"
    return (f"It was checked on {fields} of patients it had not learned from, photographed at the "
            f"same hospital with the same microscope and camera: {metrics['accuracy']:.1%} were "
            "called right. Other labs' lamps, cameras and stains were simulated; fields that look "
            "different are flagged for review rather than trusted.")


def _how_to_read(ctx: _Context, metrics: Mapping[str, Any] | None) -> list[Any]:
    """Page 1's plain-language box: what the figures mean and what they do not."""
    items = [
        "<b>The case call</b> counts the calls a technician reviewed (accepted or corrected), not "
        "the model's alone. It is a research finding, not a diagnosis.",
        "<b>Confidence</b> is the model's calibrated probability that its call on that field is "
        "right, for fields photographed like the images it learned from. It is not the "
        "probability that the patient has the subtype.",
        "<b>How the model was checked.</b> " + validation_sentence(metrics),
        "<b>Known limits.</b> The model reads the smear's whole appearance (stain colour, "
        "background, cell crowding) as well as the cells, so another laboratory's stain, lamp, "
        "camera or magnification can change its calls; hematogones and Early Pre-B ALL blasts can look "
        "alike. Flags (low confidence, out of focus, poor capture, unlike the training images, "
        "out of scope) mark fields a person must look at.",
        "<b>Fields of one smear are not independent evidence.</b> Many fields called alike are "
        "the same smear seen many times, not separate confirmations.",
    ]
    body = [ctx.p("How to read this report", "boxh")] + [ctx.p("• " + t, "boxt") for t in items]
    box = Table([[body]], colWidths=[ctx.width])
    box.setStyle(_ts(ctx, [("BOX", (0, 0), (-1, -1), 0.6, RULE),
                           ("BACKGROUND", (0, 0), (-1, -1), BOX_FILL),
                           ("LEFTPADDING", (0, 0), (-1, -1), 6), ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                           ("TOPPADDING", (0, 0), (-1, -1), 4), ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
    return [Spacer(1, 3 * mm), KeepTogether([box])]


def _bar_chart(counts: Mapping[str, int], font: str, width: float, height: float) -> Drawing:
    """Horizontal bars, one per class, labelled with the count."""
    label_w = 30 * mm
    d = Drawing(width, height)
    d.initialFontName = font  # the renderer would otherwise select (unembedded) Helvetica
    chart = HorizontalBarChart()
    chart.x, chart.y = label_w, 4
    chart.width, chart.height = width - label_w - 12 * mm, height - 8
    order = list(reversed(CLASS_IDS))                        # first class drawn at the top
    chart.data = [[counts.get(c, 0) for c in order]]
    chart.categoryAxis.categoryNames = [DISPLAY_NAMES[c] for c in order]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.categoryAxis.labels.dx = -3
    chart.categoryAxis.strokeColor = RULE
    top = max([1, *counts.values()])
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = top
    chart.valueAxis.valueStep = max(1, -(-top // 4))
    chart.valueAxis.visible = False
    chart.bars.strokeColor = None
    for i, cid in enumerate(order):
        chart.bars[(0, i)].fillColor = CLASS_COLOURS[cid]
    chart.barLabelFormat = "%d"
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 7
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    chart.groupSpacing = 4
    d.add(chart)
    return d


def _image_table(ctx: _Context) -> list[Any]:
    analysed = [img for img in ctx.case.images if not img.failed]
    out: list[Any] = [ctx.p("Images", "h2")]
    if not analysed:
        return out + [ctx.p("No image of this case was analysed.")]
    with_overlay = ctx.overlay is not None
    head = ["#", "Image"] + (["Segmentation"] if with_overlay else []) + \
           ["File", "Predicted subtype", "Flags", "Technician's decision"]
    style = [("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
             ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
             ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEF1F4")),
             ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
             ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    decision_col = len(head) - 1

    def make_row(i: int) -> tuple[list[Any], bool]:
        img = analysed[i]
        row = [ctx.p(str(i + 1), "cell"), _thumb(ctx, ctx.loader, img, "image file not found")]
        if with_overlay:
            row.append(_thumb(ctx, ctx.overlay, img, "overlay not available"))
        row += [_file_cell(ctx, img), _prediction_cell(ctx, img), _flags_cell(ctx, img),
                _decision_cell(ctx, img)]
        return row, img.decision.status == OVERRIDDEN

    w = ctx.width
    thumb_col = THUMB_W + 6
    fixed = 7 * mm + thumb_col * (2 if with_overlay else 1)
    rest = w - fixed
    widths = [7 * mm, thumb_col] + ([thumb_col] if with_overlay else []) + \
             [rest * 0.25, rest * 0.25, rest * 0.17, rest * 0.33]
    header = [ctx.p(f"<b>{h}</b>", "cell") for h in head]

    def make_table(rows: Sequence[tuple[list[Any], bool]]) -> Table:
        commands = list(style)
        for n, (_cells, overridden) in enumerate(rows, start=1):
            if overridden:
                commands.append(("BACKGROUND", (decision_col, n), (decision_col, n), OVERRIDE_BG))
            commands.append(("LINEBELOW", (0, n), (-1, n), 0.4, RULE))
        table = Table([header] + [cells for cells, _ in rows], colWidths=widths, repeatRows=1)
        table.setStyle(_ts(ctx, commands))
        return table

    # Rows are made a page at a time as the layout reaches them (report_pdf.LazyRows): the
    # pages look as one table split with its header repeated, and memory stays flat.
    table = LazyRows(make_row, len(analysed), make_table, ctx.frame_height)
    if ctx.threshold is not None:
        out.append(ctx.p(f"Confidence is marked in red below {ctx.threshold.describe()}.", "small"))
    for heading in out:
        heading.keepWithNext = True      # the heading never ends a page without its table
    return out + [table]


def _thumb(ctx: _Context, provider: ImageProvider | None, img: CaseImage, missing: str) -> Any:
    pil = picture(provider, img, "picture")
    if pil is None:
        return ctx.p(f"<i>{missing}</i>", "small")
    return flowable(pil, THUMB_W, THUMB_H, ctx.spool)


def _file_cell(ctx: _Context, img: CaseImage) -> Paragraph:
    r = img.result
    parts = [f"<b>{para_text(Path(img.path).name)}</b>"]
    if img.width and img.height:
        parts.append(f"{img.width} × {img.height} px")
    if r.cells is not None:
        parts.append(count_text(r.cells))
    if img.sha256:
        parts.append(f"sha256 {img.sha256[:12]}")
    if r.duplicate_of:
        parts.append(f"<b>duplicate of {para_text(Path(r.duplicate_of).name)}</b>")
    return ctx.p("<br/>".join(parts), "cell")


def _prediction_cell(ctx: _Context, img: CaseImage) -> Paragraph:
    r = img.result
    if r.prediction is None:
        return ctx.p("<i>no call</i>", "cell")
    conf = f"{r.confidence:.1%}" if r.confidence is not None else "—"
    text = f"<b>{DISPLAY_NAMES.get(r.prediction, r.prediction)}</b><br/>confidence {conf}"
    if ctx.threshold is not None and r.confidence is not None and r.confidence < ctx.threshold.value:
        text += f"<br/><font color='{RUO_RED.hexval()}'>below {ctx.threshold.describe()}</font>"
    return ctx.p(text, "cell")


def _flags_cell(ctx: _Context, img: CaseImage) -> Paragraph:
    flags = [flag_label(f) for f in img.result.flags]
    return ctx.p("<br/>".join(flags) if flags else "—", "cell")


def _decision_cell(ctx: _Context, img: CaseImage) -> Paragraph:
    d = img.decision
    by = f"<br/><font size='6.5' color='{MUTED.hexval()}'>{para_text(d.actor)}, {_short_time(d.at)}</font>" \
        if d.actor else ""
    if d.status == OVERRIDDEN:
        return ctx.p(f"<b>OVERRIDDEN</b> to <b>{DISPLAY_NAMES.get(d.override_class or '', d.override_class)}"
                     f"</b><br/>Reason: {para_text(d.reason)}{by}", "cell")
    if d.status == ACCEPTED:
        note = f"<br/>Note: {para_text(d.reason)}" if d.reason else ""
        return ctx.p(f"Accepted{note}{by}", "cell")
    if not img.in_scope:
        return ctx.p("<i>not counted (out of scope)</i>", "cell")
    return ctx.p("<i>Pending review</i>", "cell")


def _not_counted(ctx: _Context) -> list[Any]:
    failed = [img for img in ctx.case.images if img.failed]
    oos = [img for img in ctx.case.images if not img.failed and not img.in_scope]
    if not failed and not oos:
        return []
    rows = [[ctx.p("<b>File</b>", "cell"), ctx.p("<b>Why it is not counted</b>", "cell")]]
    for img in failed:
        rows.append([_path_cell(ctx, img.path),
                     ctx.p("Failed to load or analyse: "
                           + para_text(error_reason(Path(img.path).name, img.result.error)), "cell")])
    for img in oos:
        rows.append([_path_cell(ctx, img.path),
                     ctx.p("Out of scope for the classifier (not a usable blood smear field)", "cell")])
    t = Table(rows, colWidths=[0.5 * ctx.width, 0.5 * ctx.width], repeatRows=1)
    t.setStyle(_ts(ctx, [("LINEBELOW", (0, 0), (-1, 0), 0.6, INK), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE)]))
    return [ctx.p(f"Images not counted in the case call ({len(failed) + len(oos)})", "h2"), t]


def _path_cell(ctx: _Context, path: str) -> Paragraph:
    """File name in bold (kept whole), its folder below in small print."""
    p = Path(path)
    return ctx.p(f"<b>{para_text(p.name)}</b><br/><font size='6.5' color='{MUTED.hexval()}'>"
                 f"{para_text(str(p.parent))}</font>", "cell")


def _amendments(ctx: _Context) -> list[Any]:
    if not ctx.case.amendments:
        return []
    rows = [[ctx.p(f"<b>{h}</b>", "cell") for h in ("When (UTC)", "By", "Reason", "Changes")]]
    for a in ctx.case.amendments:
        rows.append([ctx.p(_short_time(a.at), "cell"), ctx.p(para_text(a.actor), "cell"),
                     ctx.p(para_text(a.reason), "cell"), ctx.p(para_text(a.changes), "cell")])
    w = ctx.width
    t = Table(rows, colWidths=[0.15 * w, 0.15 * w, 0.25 * w, 0.45 * w], repeatRows=1)
    t.setStyle(_ts(ctx, [("LINEBELOW", (0, 0), (-1, 0), 0.6, INK), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE)]))
    return [ctx.p("Amendments", "h2"), t]


def _integrity_warning(ctx: _Context) -> list[Any]:
    """A case changed outside the program (lab_app/core/case_integrity.py) is printed under a
    red box saying so, never silently."""
    found = ctx.case.integrity
    if found is None or found.intact:
        return []
    box = Table([[ctx.p(para_text(found.message()), "warn")]], colWidths=[ctx.width])
    box.setStyle(_ts(ctx, [("BOX", (0, 0), (-1, -1), 1.5, RUO_RED),
                           ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#FDECEC")),
                           ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
    return [Spacer(1, 2 * mm), box, Spacer(1, 2 * mm)]


def _unprintable_warning(ctx: _Context) -> list[Any]:
    """Characters no font of the report has (report_text.unprintable) print as a placeholder:
    the page says so plainly, naming the fields and the characters' code points."""
    c = ctx.case
    fields = {"patient name": c.patient.name, "patient ID": c.patient.id, "sample ID": c.sample.id,
              "specimen": c.sample.specimen, "dates": f"{c.patient.birth_date or ''} "
              f"{c.sample.collected_on or ''} {c.sample.received_on or ''}",
              "sex": c.patient.sex, "physician": c.physician, "technician": c.technician,
              "reviewer": c.reviewer, "laboratory": f"{c.lab.name} {c.lab.address}",
              "sign-off": f"{c.signed_by or ''} {c.reviewer_signed_by or ''}",
              "file names": " ".join(f"{img.path} {img.result.duplicate_of or ''}"
                                     for img in c.images),
              "errors": " ".join(img.result.error or "" for img in c.images),
              "decisions": " ".join(f"{img.decision.reason or ''} {img.decision.actor or ''}"
                                    for img in c.images),
              "amendments": " ".join(f"{a.actor} {a.reason} {a.changes}" for a in c.amendments)}
    chars: list[str] = []
    where = []
    for name, text in fields.items():
        missing = unprintable(text)
        if missing:
            where.append(name)
            chars += [ch for ch in missing if ch not in chars]
    if not chars:
        return []
    names = where[0] if len(where) == 1 else f"{', '.join(where[:-1])} and {where[-1]}"
    codes = ", ".join(f"U+{ord(ch):04X}" for ch in chars[:8]) + (" …" if len(chars) > 8 else "")
    text = f"Some characters of the {names} cannot be printed by this report's fonts and show as " \
           f"{PLACEHOLDER}: {codes}."
    return [ctx.p(escape_text(text), "warn"), Spacer(1, 2 * mm)]


def _signatures(ctx: _Context) -> list[Any]:
    c = ctx.case
    line = "_" * 34

    def block(role: str, name: str | None, at: str | None) -> list[Any]:
        if name:
            return [ctx.p(role, "label"), ctx.p(para_text(name), "value"),
                    ctx.p(f"Signed off {_short_time(at)} UTC", "small"), Spacer(1, 6 * mm),
                    ctx.p(line, "small"), ctx.p("Signature", "small")]
        return [ctx.p(role, "label"), ctx.p("<i>not signed</i>", "body"), Spacer(1, 9.5 * mm),
                ctx.p(line, "small"), ctx.p("Signature", "small")]

    t = Table([[block("Technician", c.signed_by, c.signed_at),
                block("Reviewer", c.reviewer_signed_by, c.reviewer_signed_at)]],
              colWidths=[ctx.width / 2, ctx.width / 2])
    t.setStyle(_ts(ctx, [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    found = c.integrity
    digest = ([ctx.p(f"Audit chain digest {found.digest[:32]} (verified when printed)", "small")]
              if found is not None and found.intact and found.digest else [])
    return [KeepTogether([ctx.p("Sign-off", "h2"), t, *digest])]


def _appendix(ctx: _Context) -> list[Any]:
    analysed = [img for img in ctx.case.images if not img.failed]
    out: list[Any] = [PageBreak(), ctx.p("Appendix: images and activation maps", "h2"),
                      ctx.p("Activation maps show where the classifier's evidence for its predicted "
                            "subtype lies; they are an aid to review, not a segmentation.", "small"),
                      Spacer(1, 2 * mm)]
    box_w, box_h = (ctx.width - 6 * mm) / 2, 60 * mm

    def entry(i: int) -> KeepTogether:
        n, img = i + 1, analysed[i]
        r = img.result
        probs = ", ".join(f"{DISPLAY_NAMES[c]} {r.probabilities.get(c, 0.0):.1%}" for c in CLASS_IDS
                          if c in r.probabilities)
        title = ctx.p(f"<b>{n}. {para_text(Path(img.path).name)}</b> — predicted "
                      f"{DISPLAY_NAMES.get(r.prediction or '', 'no call')}; {probs or 'no probabilities'}",
                      "cell")
        left = _big(ctx, ctx.loader, img, box_w, box_h, "image file not found")
        right = _big(ctx, ctx.cam or ctx.overlay, img, box_w, box_h, "activation map not available")
        t = Table([[left, right], [ctx.p("Original", "caption"),
                                   ctx.p("Activation map" if ctx.cam else "Segmentation overlay", "caption")]],
                  colWidths=[box_w + 3 * mm, box_w + 3 * mm])
        t.setStyle(_ts(ctx, [("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
        return KeepTogether([title, Spacer(1, 1.5 * mm), t, Spacer(1, 4 * mm)])

    if analysed:      # made a few at a time as the layout reaches them (report_pdf.Deferred)
        out.append(Deferred(entry, len(analysed)))
    return out


def _big(ctx: _Context, provider: ImageProvider | None, img: CaseImage, w: float, h: float,
         missing: str) -> Any:
    pil = picture(provider, img, "picture")
    return flowable(pil, w, h, ctx.spool) if pil is not None else ctx.p(f"<i>{missing}</i>", "small")


# ---------------------------------------------------------------------------------- footer
def _short_time(iso: str | None) -> str:
    if not iso:
        return "—"
    try:
        t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M")


def _main_model(images: list[CaseImage]) -> dict[str, Any]:
    """The model dict recorded with most of the case's images ({} when none)."""
    by_sha: Counter[str] = Counter()
    first: dict[str, dict[str, Any]] = {}
    for img in images:
        m = img.result.model or {}
        key = str(m.get("sha256") or m.get("name") or "")
        if key:
            by_sha[key] += 1
            first.setdefault(key, m)
    return dict(first[by_sha.most_common(1)[0][0]]) if by_sha else {}


def _model_line(images: list[CaseImage]) -> str:
    models: Counter[tuple[str, str, str]] = Counter()
    for img in images:
        m = img.result.model or {}
        if m.get("name") or m.get("sha256"):
            models[(str(m.get("name", "?")), str(m.get("version", "?")), str(m.get("sha256") or ""))] += 1
    if not models:
        return "Model: none recorded"
    (name, version, sha), _ = models.most_common(1)[0]
    line = f"Model {name} {version} (sha256 {sha[:12] or 'unknown'})"
    if len(models) > 1:
        line += f" and {len(models) - 1} other model(s) in this case"
    return line


def _running_header(case: Case) -> str:
    return f"Case {case.id} · Patient {display(case.patient.id) or '—'} · Sample {display(case.sample.id) or '—'}"


@dataclass(frozen=True)
class _Footer:
    software: str
    model: str
    metrics: str
    generated: str
    running: str
    font: str
    bold: str
    stamp: tuple = ()      # the generation time (UTC), for the PDF's creation date


MIN_PT = 6.5    # the smallest text printed anywhere in the report


class _NumberedCanvas(StreamingCanvas):
    """Every page's footer, drawn once the page count is known ("Page X of Y")."""

    def __init__(self, *args: Any, footer: _Footer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        if footer.stamp:
            # The PDF's creation date is the report's generation time: real, and still the same
            # bytes for the same time (invariant output otherwise dates every PDF 2000-01-01).
            ts = self._doc._timeStamp
            ts.YMDhms, ts.dhh, ts.dmm, ts.tzname = tuple(footer.stamp), 0, 0, "UTC"

    def finish_page(self, number: int, total: int) -> None:
        self._draw_footer(number, total)

    def _fit_line(self, text: str, x: float, y: float, width: float, font: str) -> None:
        size = max(MIN_PT, min(6.8, 6.8 * width / max(1.0, self.stringWidth(text, font, 6.8))))
        while len(text) > 8 and self.stringWidth(text, font, size) > width:
            text = text[:-8].rstrip() + "…"
        self.setFont(font, size)
        self.drawString(x, y, text)

    def _draw_footer(self, number: int, total: int) -> None:
        f = self._footer
        width, _height = self._pagesize
        left, right = MARGIN, width - MARGIN
        y = MARGIN - 2
        self.saveState()
        self.setStrokeColor(RULE)
        self.setLineWidth(0.5)
        self.line(left, y + FOOTER_H - 2 * mm, right, y + FOOTER_H - 2 * mm)
        self.setFillColor(MUTED)
        # Never below MIN_PT (readable printed): a long line is cut with an ellipsis instead.
        self._fit_line(f"{f.software} · {f.model}", left, y + 10.5 * mm, right - left, f.font)
        self._fit_line(f"Model {f.metrics}", left, y + 7 * mm, right - left, f.font)
        self._fit_line(f"Generated {f.generated}", left, y + 3.5 * mm, right - left - 25 * mm, f.font)
        self.setFillColor(RUO_RED)
        self.setFont(f.bold, 6.8)
        self.drawString(left, y, RESEARCH_USE_ONLY)
        self.setFillColor(INK)
        self.setFont(f.bold, 8)
        self.drawRightString(right, y + 3.5 * mm, f"Page {number} of {total}")
        if number > 1:
            self.setFont(f.font, 7.5)
            self.setFillColor(MUTED)
            _w, h = self._pagesize
            draw_text(self, left, h - MARGIN + 4 * mm, f.running, f.font, 7.5)   # ids may be CJK
            self.drawRightString(right, h - MARGIN + 4 * mm, "Research use only")
        self.restoreState()
