"""The case-level call: a pure function of the technician's reviewed image calls.

The rule (applied in this order; ``min_reviewed`` defaults to 3):

1. Only *reviewed, in-scope* images count. An image's reviewed call is the predicted class when
   the technician accepted it, or the override class when overridden. Pending images, images that
   failed to load/analyse and images flagged ``out_of_scope`` (unless a person overrode them to a
   class) are not counted; they are reported separately, never dropped.
2. No reviewed image                                 -> ``"pending"``.
3. Fewer than ``min_reviewed`` reviewed images       -> ``"indeterminate"`` (too few to call).
4. One class holds a strict majority (> 50 %)        -> that class id (e.g. ``"Pre"``).
5. Otherwise                                         -> ``"mixed"``; ``top_classes`` lists the
   classes with the highest and second-highest counts (ties included), most frequent first.

The call is a research aid summarising the reviewed images; it is not a diagnosis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from model.classes import CLASS_IDS, DISPLAY_NAMES

from .case_models import PENDING, CaseImage

MIN_REVIEWED = 3
CALL_PENDING = "pending"
CALL_INDETERMINATE = "indeterminate"
CALL_MIXED = "mixed"

RULE_TEXT = ("Case call: the subtype holding a strict majority (more than 50%) of the reviewed, "
             "in-scope image calls; 'mixed' without a majority; 'indeterminate' with fewer than "
             "{n} reviewed images; 'pending' with none.")


@dataclass(frozen=True)
class CaseCall:
    call: str                          # a class id, or pending | indeterminate | mixed
    counts: dict[str, int]             # per class id, every class present (0 when none)
    reviewed: int                      # number of counted calls
    top_classes: tuple[str, ...] = ()  # most frequent classes, most frequent first

    @property
    def is_class(self) -> bool:
        return self.call in self.counts


def case_call(reviewed_classes: Iterable[str], *, min_reviewed: int = MIN_REVIEWED,
              class_ids: Sequence[str] = CLASS_IDS) -> CaseCall:
    """Apply the rule above to the reviewed class ids of a case's in-scope images."""
    calls = list(reviewed_classes)
    unknown = sorted(set(calls) - set(class_ids))
    if unknown:
        raise ValueError(f"Unknown class id(s) in reviewed calls: {', '.join(unknown)}.")
    tally = Counter(calls)
    counts = {cid: tally.get(cid, 0) for cid in class_ids}
    n = len(calls)
    # Most frequent first; ties keep the class order so the result is deterministic.
    ranked = sorted((cid for cid in class_ids if counts[cid]), key=lambda c: -counts[c])
    distinct = sorted({counts[c] for c in ranked}, reverse=True)[:2]
    top = tuple(c for c in ranked if counts[c] in distinct)
    if n == 0:
        return CaseCall(CALL_PENDING, counts, 0, ())
    if n < min_reviewed:
        return CaseCall(CALL_INDETERMINATE, counts, n, top)
    leader = ranked[0]
    if counts[leader] * 2 > n:
        return CaseCall(leader, counts, n, (leader,))
    return CaseCall(CALL_MIXED, counts, n, top)


def call_display(call: str, *, min_reviewed: int = MIN_REVIEWED) -> str:
    """A technician-readable label for a call."""
    if call in DISPLAY_NAMES:
        return DISPLAY_NAMES[call]
    return {
        CALL_PENDING: "Pending review",
        CALL_INDETERMINATE: f"Indeterminate (fewer than {min_reviewed} reviewed images)",
        CALL_MIXED: "Mixed (no subtype has a majority)",
    }.get(call, call)


@dataclass(frozen=True)
class CaseSummary:
    """The call plus the bookkeeping a report shows next to it."""
    call: CaseCall
    total: int                          # all images in the case
    pending: int                        # in scope, not yet reviewed
    failed: tuple[int, ...] = field(default=())        # image ids that failed to load/analyse
    out_of_scope: tuple[int, ...] = field(default=())  # image ids flagged out of scope, not counted
    min_reviewed: int = MIN_REVIEWED

    @property
    def label(self) -> str:
        return call_display(self.call.call, min_reviewed=self.min_reviewed)

    @property
    def rule(self) -> str:
        return RULE_TEXT.format(n=self.min_reviewed)

    def to_dict(self) -> dict:
        return {"call": self.call.call, "label": self.label, "counts": dict(self.call.counts),
                "reviewed": self.call.reviewed, "top_classes": list(self.call.top_classes),
                "total": self.total, "pending": self.pending, "failed": list(self.failed),
                "out_of_scope": list(self.out_of_scope), "rule": self.rule}


def summarize(images: Sequence[CaseImage], *, min_reviewed: int = MIN_REVIEWED) -> CaseSummary:
    """Summarise a case's images (pure: reads the objects only)."""
    calls = [img.final_class for img in images if img.in_scope and img.final_class]
    return CaseSummary(
        call=case_call(calls, min_reviewed=min_reviewed),
        total=len(images),
        pending=sum(1 for img in images if img.in_scope and img.decision.status == PENDING),
        failed=tuple(img.id for img in images if img.failed),
        out_of_scope=tuple(img.id for img in images if not img.failed and not img.in_scope),
        min_reviewed=min_reviewed,
    )
