"""Plain data objects of the case store (no SQL here): what a case, an image and a decision are."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .results import ImageResult
from .vocabulary import FLAG_OUT_OF_SCOPE

# Review decision of one image.
PENDING = "pending"
ACCEPTED = "accepted"
OVERRIDDEN = "overridden"
DECISIONS = (PENDING, ACCEPTED, OVERRIDDEN)

# Case status: open (editable) -> signed (locked) -> amended (locked, changed after sign-off).
OPEN = "open"
SIGNED = "signed"
AMENDED = "amended"


# Invisible Unicode controls that override or embed the direction of the text around them: a
# name holding one prints reversed or disguised on the report ("\u202eevil" shows as "live").
# The marks U+200E/U+200F, which Persian and Arabic typing uses, reorder nothing and stay.
DIRECTION_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def direction_override_problem(label: str, text: str | None) -> str | None:
    """A sentence when ``text`` holds a direction override or embedding, else None."""
    found = sorted({f"U+{ord(ch):04X}" for ch in text or "" if ch in DIRECTION_OVERRIDES})
    if not found:
        return None
    return (f"The {label} holds an invisible text-direction character ({', '.join(found)}) that "
            "would print it reversed or disguised; type it again without it.")


@dataclass
class Patient:
    id: str = ""
    name: str = ""
    birth_date: str | None = None     # ISO date YYYY-MM-DD
    sex: str = ""                     # free text as the lab records it (e.g. F, M, X, unknown)


@dataclass
class Sample:
    id: str = ""
    specimen: str = "Peripheral blood smear"
    collected_on: str | None = None   # ISO date (or date-time) of collection
    received_on: str | None = None    # ISO date (or date-time) the lab received it


@dataclass
class LabInfo:
    """The lab as printed on the report; a snapshot taken from LabSettings when the case is made."""
    name: str = ""
    address: str = ""
    logo_path: str | None = None

    @classmethod
    def from_settings(cls, lab_settings: Any) -> "LabInfo":
        """Build from a :class:`lab_app.core.settings.LabSettings` (or anything with the same names)."""
        return cls(name=lab_settings.name, address=lab_settings.address,
                   logo_path=lab_settings.logo_path)


@dataclass
class Decision:
    status: str = PENDING              # pending | accepted | overridden
    override_class: str | None = None  # class id, only when overridden
    reason: str | None = None          # required when overridden
    actor: str | None = None
    at: str | None = None              # UTC ISO 8601


@dataclass
class CaseImage:
    id: int
    case_id: int
    path: str
    sha256: str | None
    width: int | None
    height: int | None
    file_size: int | None
    result: ImageResult
    decision: Decision = field(default_factory=Decision)
    added_at: str | None = None
    # The case's version after the change that returned this image (CaseStore.set_decision).
    case_version: int | None = field(default=None, compare=False, repr=False)

    @property
    def failed(self) -> bool:
        """The image could not be loaded or analysed: listed, never counted."""
        return self.result.status != "ok"

    @property
    def out_of_scope(self) -> bool:
        return FLAG_OUT_OF_SCOPE in self.result.flags

    @property
    def in_scope(self) -> bool:
        """Counted in the case call: analysed, and in scope unless a person overrode the call."""
        if self.failed:
            return False
        return not self.out_of_scope or self.decision.status == OVERRIDDEN

    @property
    def final_class(self) -> str | None:
        """The reviewed call: the override class, the accepted prediction, or None (not reviewed)."""
        if self.decision.status == OVERRIDDEN:
            return self.decision.override_class
        if self.decision.status == ACCEPTED:
            return self.result.prediction
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "sha256": self.sha256, "width": self.width,
                "height": self.height, "file_size": self.file_size, "added_at": self.added_at,
                "result": self.result.to_row(), "decision": asdict(self.decision),
                "final_class": self.final_class, "in_scope": self.in_scope}


@dataclass
class Amendment:
    id: int
    case_id: int
    at: str
    actor: str
    reason: str
    changes: str                       # one-line human summary of what changed


@dataclass
class AuditEntry:
    id: int
    case_id: int
    at: str                            # UTC ISO 8601
    actor: str
    action: str                        # create | update | add_image | reanalyse | decision | sign_off | amend
    field: str | None = None           # case field name, or 'decision'/'result' for image entries
    image_id: int | None = None
    old: str | None = None
    new: str | None = None
    reason: str | None = None
    entry_hash: str | None = None      # the audit chain (lab_app/core/case_integrity.py)


@dataclass
class Case:
    id: int
    patient: Patient
    sample: Sample
    physician: str = ""
    lab: LabInfo = field(default_factory=LabInfo)
    technician: str = ""
    reviewer: str = ""
    status: str = OPEN
    created_at: str = ""
    updated_at: str = ""
    signed_by: str | None = None       # technician who signed off
    signed_at: str | None = None
    reviewer_signed_by: str | None = None
    reviewer_signed_at: str | None = None
    images: list[CaseImage] = field(default_factory=list)
    amendments: list[Amendment] = field(default_factory=list)
    # What CaseStore.verify_case found (lab_app/core/case_integrity.CaseIntegrity), where the
    # front end checked: the report prints its digest, or a warning box when it is broken.
    integrity: Any = field(default=None, compare=False, repr=False)
    # How many changes the case has had (schema v6); an edit names the version it was made on,
    # so a change another workstation made meanwhile is never overwritten.
    version: int = field(default=1, compare=False)

    @property
    def locked(self) -> bool:
        return self.status != OPEN

    @property
    def amended(self) -> bool:
        return self.status == AMENDED

    def image(self, image_id: int) -> CaseImage:
        for img in self.images:
            if img.id == image_id:
                return img
        raise KeyError(image_id)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "patient": asdict(self.patient), "sample": asdict(self.sample),
                "physician": self.physician, "lab": asdict(self.lab), "technician": self.technician,
                "reviewer": self.reviewer, "status": self.status, "created_at": self.created_at,
                "updated_at": self.updated_at, "signed_by": self.signed_by,
                "signed_at": self.signed_at, "reviewer_signed_by": self.reviewer_signed_by,
                "reviewer_signed_at": self.reviewer_signed_at,
                "images": [img.to_dict() for img in self.images],
                "amendments": [asdict(a) for a in self.amendments]}


@dataclass
class CaseInfo:
    """One row of the case list (no images loaded)."""
    id: int
    patient_id: str
    patient_name: str
    sample_id: str
    status: str
    created_at: str
    updated_at: str
    image_count: int
