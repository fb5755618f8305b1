"""Colours and labels shared by the widgets. Class colours, flag labels and the failure wording
are core.vocabulary's (the PDF report uses the same); this module turns them into QColor."""

from __future__ import annotations

from PySide6.QtGui import QColor

from lab_app.core.vocabulary import CLASS_COLOURS, FLAG_LABELS, INK, error_reason, flag_label
from lab_app.core.case_rows import (ACCEPTED, ANALYSING, DONE, ERROR, NEEDS_REVIEW, OUT_OF_SCOPE,
                                    PENDING, STATE_LABELS, OVERRIDDEN)
from model.classes import CLASS_IDS, DISPLAY_NAMES

# Row states and their labels are the session's (core.case_rows); colours are the window's.
STATE_COLOURS = {PENDING: "#8a949e", ANALYSING: "#2b6cb0", DONE: "#1f2933",
                 NEEDS_REVIEW: "#b7791f", ERROR: "#c53030", OUT_OF_SCOPE: "#975a16",
                 ACCEPTED: "#2f855a", OVERRIDDEN: "#6b46c1"}

INVALID_STYLE = "border: 1px solid #c53030; background: #fff5f5;"
RUO_COLOUR = "#a61b1b"


def class_label(cid: str | None, empty: str = "—") -> str:
    if not cid:
        return empty
    return DISPLAY_NAMES.get(cid, cid)


def class_colour(cid: str | None) -> QColor:
    """A class's colour as a QColor (ink for no class)."""
    return QColor(CLASS_COLOURS.get(cid or "", INK))


__all__ = ["ACCEPTED", "ANALYSING", "DONE", "ERROR", "NEEDS_REVIEW", "OUT_OF_SCOPE", "OVERRIDDEN",
           "PENDING", "CLASS_IDS", "DISPLAY_NAMES", "CLASS_COLOURS", "FLAG_LABELS", "STATE_LABELS",
           "STATE_COLOURS", "class_colour", "class_label", "error_reason", "flag_label"]
