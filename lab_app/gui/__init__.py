"""Everything that imports PySide6.

PySide6 6.12.0 on Python < 3.12 loses a reference to None or True in every void Qt call and
every signal emit, and the interpreter aborts after a minute of use ("Fatal Python error:
none_dealloc"). pyproject excludes that release; if it is installed anyway, the window refuses to
start with a sentence that says what to install, instead of crashing during the first analysis.
"""

import sys

import PySide6

from lab_app.core.errors import BindingError

BROKEN_BINDING = "6.12.0"

if PySide6.__version__ == BROKEN_BINDING and sys.version_info < (3, 12):
    raise BindingError(f"PySide6 {BROKEN_BINDING} crashes on Python {sys.version_info[0]}."
                       f"{sys.version_info[1]}; install another release, e.g. "
                       "pip install 'PySide6-Essentials==6.11.3'.")
