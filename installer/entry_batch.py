"""Frozen entry point of the console programs: ``labapp-batch`` (the same ``lab_app.cli:main`` as
the pip script), and, from the same module archive, ``labapp-report`` (``lab_app.report_cli``)
and ``labapp-users`` (``lab_app.users_cli``): the spec builds three executables from this one
script, and each runs the program its own file name names."""

import multiprocessing
import os
import sys


def _program() -> str:
    """labapp-batch, labapp-report or labapp-users: this executable's name."""
    path = sys.executable if getattr(sys, "frozen", False) else (sys.argv[0] if sys.argv else "")
    name = os.path.basename(path).lower()
    return name[:-4] if name.endswith(".exe") else name


if __name__ == "__main__":
    multiprocessing.freeze_support()
    program = _program()
    if program == "labapp-report":
        from lab_app.report_cli import main
    elif program == "labapp-users":
        from lab_app.users_cli import main
    else:
        from lab_app.cli import main

    sys.exit(main())
