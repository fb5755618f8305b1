"""Colours and labels shared by the widgets (the same class colours as the PDF report)."""

from __future__ import annotations

from lab_app.core.results import FLAG_LABELS, flag_label
from lab_app.core.case_rows import (ACCEPTED, ANALYSING, DONE, ERROR, NEEDS_REVIEW, OUT_OF_SCOPE,
                                    PENDING, STATE_LABELS, OVERRIDDEN)
from model.classes import CLASS_IDS, DISPLAY_NAMES

CLASS_COLOURS = {"Benign": "#4C9F70", "Early": "#E0A030", "Pre": "#3D7CC9", "Pro": "#8E5CB5"}

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


def error_reason(name: str, error: str | None) -> str:
    """The reason an image failed, without the file name the loader puts in front."""
    text = error or "The file could not be read."
    if text.startswith(f"{name}: "):
        text = text[len(name) + 2:]
    return text[:1].upper() + text[1:]


__all__ = ["ACCEPTED", "ANALYSING", "DONE", "ERROR", "NEEDS_REVIEW", "OUT_OF_SCOPE", "OVERRIDDEN",
           "PENDING", "CLASS_IDS", "DISPLAY_NAMES", "CLASS_COLOURS", "FLAG_LABELS", "STATE_LABELS",
           "STATE_COLOURS", "class_label", "flag_label"]
