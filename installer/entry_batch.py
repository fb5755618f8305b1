"""Frozen entry point of ``labapp-batch`` (console): the same ``lab_app.cli:main`` as the pip script."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from lab_app.cli import main

    sys.exit(main())
