"""The report's PDF writer: memory that does not grow with the number of pages.

reportlab keeps a whole document in memory and formats it into one bytes object at the end;
a report of thousands of images (one table row and one appendix entry each) then held every
picture several times over. Here:

- pictures are pass-through JPEGs (report_images.JpegPicture), read from their spool files
  only while their PDF object is written;
- the per-image parts of the story are made as the pages reach them and let go once drawn:
  ``LazyRows`` (a table whose rows are built a page at a time, split exactly as reportlab splits
  one big table with a repeated header row) and ``Deferred`` (a run of flowables made a few at
  a time by ``StreamingDocTemplate``);
- ``StreamingCanvas`` defers each page (the footer's "Page X of Y" needs the total), keeping
  only its drawing operators, compressed, until the end;
- the PDF objects go to the output file one by one as they are formatted
  (``_StreamingDocument``), never gathered into one bytes object.

The bytes written are those reportlab would have written (same objects, same order, same
offsets): only where they wait differs.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from reportlab import rl_config
from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Table


class _StreamingFile(pdfdoc.PDFFile):
    """reportlab's output collector, writing to a file instead of a list of strings."""

    def __init__(self, out: BinaryIO, pdf_version: Any) -> None:
        super().__init__(pdf_version)          # the header goes to self.strings first
        for chunk in self.strings:
            out.write(chunk)
        self.strings = []
        self.write = out.write

    def format(self, document: Any) -> bytes:
        return b""                             # everything is in the file already


class _StreamingDocument(pdfdoc.PDFDocument):
    """A PDFDocument whose ``format`` writes each object to ``stream_to`` as it is formatted.

    The loop is reportlab's own (pdfdoc.PDFDocument.format, BSD licence) with the collector
    swapped; ``SaveToFile`` then writes the empty remainder."""

    stream_to: BinaryIO

    def format(self) -> bytes:
        self.encrypt.prepare(self)
        cat = self.Catalog
        info = self.info
        self.Reference(cat)
        self.Reference(info)
        encryptref = None
        encryptinfo = self.encrypt.info()
        if encryptinfo:
            encryptref = self.Reference(encryptinfo)
        counter = 0
        ids = []
        numbertoid = self.numberToId
        id_to_ob = self.idToObject
        id_to_of = self.idToOffset
        out = _StreamingFile(self.stream_to, self._pdfVersion)
        while True:                           # objects may be added while formatting
            counter += 1
            if counter not in numbertoid:
                break
            oid = numbertoid[counter]
            obj = id_to_ob[oid]
            formatted = pdfdoc.PDFIndirectObject(oid, obj).format(self)
            if not rl_config.invariant and rl_config.pdfComments:
                out.add("%% %s: class %s \n" % (ascii(oid), obj.__class__.__name__[:50]))
            id_to_of[oid] = out.add(formatted)
            ids.append(oid)
        if counter - 1 != len(numbertoid):
            raise ValueError(f"counter {counter} doesn't match number to id dictionary "
                             f"{len(numbertoid)}")
        xref = pdfdoc.PDFCrossReferenceTable()
        xref.addsection(0, ids)
        xrefoffset = out.add(xref.format(self))
        trailer = pdfdoc.PDFTrailer(startxref=xrefoffset, Size=len(numbertoid) + 1,
                                    Root=self.Reference(cat), Info=self.Reference(info),
                                    Encrypt=encryptref, ID=self.ID())
        out.add(trailer.format(self))
        if getattr(self, "_digiSigs", None):
            raise ValueError("digital signatures need the whole file in memory")
        return out.format(self)


class StreamingCanvas(Canvas):
    """A canvas that writes its PDF to a binary file object (``filename``) object by object,
    and defers every page until ``save`` so ``finish_page(number, total)`` can draw what needs
    the page count (a footer's "Page X of Y")."""

    def __init__(self, filename: BinaryIO, *args: Any, **kwargs: Any) -> None:
        super().__init__(filename, *args, **kwargs)
        self._doc.__class__ = _StreamingDocument
        self._doc.stream_to = filename
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab API
        state = dict(self.__dict__)
        del state["_pages"]
        # A page's operators, joined as reportlab's PDFPage joins them, and compressed: a few KB
        # a page instead of thousands of small strings.
        state["_code"] = zlib.compress("\n".join(self._code).encode("utf-8", "surrogatepass"))
        self._pages.append(state)
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        pages, self._pages = self._pages, []
        for number, state in enumerate(pages, start=1):
            pages[number - 1] = None  # type: ignore[call-overload] - let each state go when drawn
            code = zlib.decompress(state["_code"]).decode("utf-8", "surrogatepass")
            self.__dict__.update(state)
            self._code = [code] if code else []
            self.finish_page(number, total)
            super().showPage()
        super().save()

    def finish_page(self, number: int, total: int) -> None:
        """Draw on page ``number`` of ``total`` before it is written (footers)."""


# ---------------------------------------------------------------------------- lazy story
class StreamingDocTemplate(BaseDocTemplate):
    """A document template that expands ``Deferred`` runs of flowables when layout reaches them."""

    def handle_flowable(self, flowables: list[Any]) -> None:
        while flowables and isinstance(flowables[0], Deferred):
            flowables[0:1] = flowables[0].expand()
        if flowables:
            super().handle_flowable(flowables)


class Deferred(Flowable):
    """``count`` flowables, ``make(i)`` for i in 0..count-1, made ``batch`` at a time when the
    layout reaches them (``StreamingDocTemplate``), so only a few exist at once."""

    def __init__(self, make: Callable[[int], Any], count: int, start: int = 0,
                 batch: int = 16) -> None:
        super().__init__()
        self._make, self._count, self._start, self._batch = make, count, start, batch

    def expand(self) -> list[Any]:
        stop = min(self._count, self._start + self._batch)
        out = [self._make(i) for i in range(self._start, stop)]
        if stop < self._count:
            out.append(Deferred(self._make, self._count, stop, self._batch))
        return out

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        raise RuntimeError("Deferred flowables need StreamingDocTemplate")


class LazyRows(Flowable):
    """A table of ``count`` body rows under a header, built a page at a time.

    ``make_row(i)`` gives body row i (anything ``make_table`` understands); ``make_table(rows)``
    builds the reportlab Table of the header row and those rows, with ``repeatRows=1``. The rows
    of one page are made when the layout asks how much fits, then split off exactly as reportlab
    splits a whole table (``Table.split``); the rest waits, unmade, in a new ``LazyRows``.
    ``frame_height``: the tallest frame; the rows made ahead never fill more than it."""

    def __init__(self, make_row: Callable[[int], Any], count: int,
                 make_table: Callable[[Sequence[Any]], Table], frame_height: float, *,
                 start: int = 0, pending: Sequence[Any] = (), step: int = 8) -> None:
        super().__init__()
        self._make_row, self._count, self._make_table = make_row, count, make_table
        self._frame_height = frame_height
        self._next = start               # the next row to make
        self._rows = list(pending)       # rows made but not yet placed
        self._step = max(1, step)        # rows made at a time (about a page's worth)
        self._filled: tuple[float, float, Table, tuple[float, float]] | None = None
        self.hAlign = "CENTER"           # as a Table

    @property
    def _exhausted(self) -> bool:
        return self._next >= self._count

    def _fill(self, width: float, height: float) -> tuple[Table, tuple[float, float]]:
        """The table of the pending rows, made up to more than ``height`` (at most the frame),
        and its size; the same table again for the same space (wrap, then split)."""
        limit = min(height, self._frame_height)
        if self._filled is not None and self._filled[:2] == (width, limit):
            return self._filled[2], self._filled[3]
        table = self._make_table(self._rows)
        size = table.wrap(width, limit)
        while not self._exhausted and size[1] <= limit:
            stop = min(self._count, self._next + self._step)
            self._rows += [self._make_row(i) for i in range(self._next, stop)]
            self._next = stop
            table = self._make_table(self._rows)
            size = table.wrap(width, limit)
        self._filled = (width, limit, table, size)
        return table, size

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        return self._fill(availWidth, availHeight)[1]

    def split(self, availWidth: float, availHeight: float) -> list[Any]:  # noqa: N803
        table, _size = self._fill(availWidth, availHeight)
        parts = table.split(availWidth, availHeight)
        if not parts:
            return []
        placed = parts[0]._nrows - 1 if len(parts) > 1 else len(self._rows)
        rest = self._rows[placed:]
        self._rows, self._filled = [], None
        if not rest and self._exhausted:
            return parts[:1]
        return [parts[0], LazyRows(self._make_row, self._count, self._make_table,
                                   self._frame_height, start=self._next, pending=rest,
                                   step=placed + 2)]

    def draw(self) -> None:
        assert self._filled is not None, "wrap before draw"
        self._filled[2].drawOn(self.canv, 0, 0)
