"""Everything that imports PySide6.

Importing this package applies a work-around for a reference-counting defect of PySide6 6.12.0 on
Python < 3.12 (see :mod:`lab_app.gui.qtcompat`) before any other Qt call is made.
"""

from .qtcompat import apply_binding_workarounds

apply_binding_workarounds()
