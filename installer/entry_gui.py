"""Frozen entry point of ``labapp`` (windowed): the same ``lab_app.app:main`` as the pip script."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from lab_app.app import main

    sys.exit(main())
