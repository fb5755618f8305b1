"""ALL-subtype review workstation (research use only)."""

__version__ = "0.1.0"

RESEARCH_USE_ONLY = "For research use only. Not for use in diagnostic procedures."
