"""Typed errors of the application core. Messages are sentences a technician understands."""


class LabAppError(Exception):
    """Base class for errors raised on purpose by lab_app."""


class ImageLoadError(LabAppError):
    """A file could not be read as an image. The message says why, in one line."""


class SegmentationError(LabAppError):
    """Segmentation parameters are invalid."""


class CaseStoreError(LabAppError):
    """The case database refused an operation (locked case, unknown id, bad data)."""


class CaseLockedError(CaseStoreError):
    """The case is signed off; changes must be made as an amendment."""


class CaseConflictError(CaseStoreError):
    """Another workstation changed the case since this one read it (no lost update)."""


class ReportError(LabAppError):
    """A PDF report could not be written."""


class BindingError(LabAppError):
    """The installed Qt binding is known to crash this application."""
