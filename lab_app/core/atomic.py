"""Deprecated import path: atomic writes live in ``model.atomic`` (the lower layer, so the model
package and the app share one implementation). No application module imports this one; it stays
only until tests/unit/test_settings.py imports ``model.atomic`` too, then it goes."""

from model.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write_bytes", "atomic_write_text"]
