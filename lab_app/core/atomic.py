"""Atomic file writes for the application (the one implementation lives in ``model.atomic``,
the lower layer, so the model package and the app share it)."""

from model.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write_bytes", "atomic_write_text"]
