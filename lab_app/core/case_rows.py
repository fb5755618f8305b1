"""One image of the open case as the review sees it: its path, and once analysed, the stored
``CaseImage``; and the review state that the image list and the filters show.

Qt-free: the window's table model reads these rows, the session changes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .case_models import ACCEPTED as DEC_ACCEPTED
from .case_models import OVERRIDDEN as DEC_OVERRIDDEN
from .case_models import PENDING as DEC_PENDING
from .case_models import CaseImage

# Review states of a row (what the image list shows; labels and colours in gui/theme.py).
PENDING = "pending"
ANALYSING = "analysing"
DONE = "done"
NEEDS_REVIEW = "needs review"
ERROR = "error"
OUT_OF_SCOPE = "out of scope"
ACCEPTED = "accepted"
OVERRIDDEN = "overridden"

STATE_LABELS = {PENDING: "Pending", ANALYSING: "Analysing…", DONE: "To review",
                NEEDS_REVIEW: "Needs review", ERROR: "Error", OUT_OF_SCOPE: "Out of scope",
                ACCEPTED: "Accepted", OVERRIDDEN: "Overridden"}


@dataclass
class ImageRow:
    """One image of the case: its path, and once analysed, the stored CaseImage."""
    path: str
    image: CaseImage | None = None
    running: bool = False

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def result(self):
        return self.image.result if self.image is not None else None

    @property
    def failed(self) -> bool:
        return self.image is not None and self.image.failed

    @property
    def analysed(self) -> bool:
        return self.image is not None

    @property
    def decision(self) -> str | None:
        return self.image.decision.status if self.image is not None else None

    @property
    def undecided(self) -> bool:
        """Needs the technician's decision before sign-off (in scope, pending)."""
        return (self.image is not None and self.image.in_scope
                and self.image.decision.status == DEC_PENDING)

    @property
    def reviewed(self) -> bool:
        return self.decision in (DEC_ACCEPTED, DEC_OVERRIDDEN)

    @property
    def reviewable(self) -> bool:
        return self.image is not None and not self.image.failed

    @property
    def shown_class(self) -> str | None:
        """The technician's call once decided, else the model's prediction."""
        if self.image is None:
            return None
        return self.image.final_class or self.image.result.prediction

    @property
    def flags(self) -> list[str]:
        return list(self.image.result.flags) if self.image is not None else []

    @property
    def state(self) -> str:
        if self.running:
            return ANALYSING          # also during a re-analysis
        if self.image is None:
            return PENDING
        if self.image.failed:
            return ERROR
        status = self.image.decision.status
        if status == DEC_ACCEPTED:
            return ACCEPTED
        if status == DEC_OVERRIDDEN:
            return OVERRIDDEN
        if self.image.out_of_scope:
            return OUT_OF_SCOPE
        if self.image.result.flags:
            return NEEDS_REVIEW
        return DONE
