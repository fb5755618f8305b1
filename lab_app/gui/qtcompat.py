"""Work-around for a defect of PySide6 6.12.0 on Python 3.10/3.11 (applied when lab_app.gui is imported).

The defect: that release's (abi3) binding returns ``None`` from every void Qt method without
taking a reference to it, and ``SignalInstance.emit()`` does the same with ``True``. On Python
3.12+ these objects are immortal and nothing happens; on 3.11 each call drops one reference, and
after some tens of thousands of Qt calls (a minute of use) the interpreter aborts with "Fatal
Python error: none_dealloc: deallocating None". PySide6 6.11.3 does not have the defect.

The work-around does what Python 3.12 does: it gives ``None``, ``True`` and ``False`` a reference
count so large (2**40) that no session can use it up. These three objects are never freed
anyway (freeing them aborts the interpreter), so nothing else changes. It is applied only when
a probe shows the defect. The real fix is a PySide6 release without it (pin ``!=6.12.0``) or
Python >= 3.12 for the bundle.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_PIN = 1 << 40
_applied: bool | None = None


def _loses_references() -> bool:
    """True when void Qt calls or signal emits drop a reference to None or True."""
    if sys.version_info >= (3, 12):
        return False
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(64):
        probe.setObjectName("probe")
        probe.ping.emit()
    none_lost = none_before - sys.getrefcount(None)
    true_lost = true_before - sys.getrefcount(True)
    return none_lost >= 32 or true_lost >= 32


def _pin(obj: object) -> None:
    # ob_refcnt is the first field of every object (CPython, GIL build; we hold the GIL here).
    ctypes.c_ssize_t.from_address(id(obj)).value += _PIN


def apply_binding_workarounds() -> bool:
    """Apply the work-around once if this binding needs it; returns whether it was applied."""
    global _applied
    if _applied is None:
        _applied = _loses_references()
        if _applied:
            for obj in (None, True, False):
                _pin(obj)
            import PySide6
            log.warning("PySide6 %s loses references to None/True on Python %d.%d; applied the "
                        "work-around in lab_app.gui.qtcompat (install PySide6 != 6.12.0 or use "
                        "Python >= 3.12 to avoid it).", PySide6.__version__,
                        sys.version_info[0], sys.version_info[1])
    return _applied
