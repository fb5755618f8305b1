"""Class ids and display names, and the lenient folder-name matching used by every data reader."""

from __future__ import annotations

from .errors import DataError

CLASS_IDS: tuple[str, ...] = ("Benign", "Early", "Pre", "Pro")
DISPLAY_NAMES: dict[str, str] = {
    "Benign": "Benign (hematogones)",
    "Early": "Early Pre-B ALL",
    "Pre": "Pre-B ALL",
    "Pro": "Pro-B ALL",
}


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def class_id_for(name: str, class_ids: tuple[str, ...] = CLASS_IDS,
                 display_names: dict[str, str] | None = None) -> str | None:
    """Map a folder name (class id or display name, any case/punctuation) to a class id, or None."""
    display_names = DISPLAY_NAMES if display_names is None else display_names
    key = _norm(name)
    for cid in class_ids:
        if key == _norm(cid) or key == _norm(display_names.get(cid, cid)):
            return cid
    return None


def require_class_id(name: str, class_ids: tuple[str, ...] = CLASS_IDS) -> str:
    cid = class_id_for(name, class_ids)
    if cid is None:
        raise DataError(f"'{name}' is not a known class; expected one of {', '.join(class_ids)}.")
    return cid
