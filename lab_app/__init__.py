"""ALL-subtype review workstation (research use only)."""

import os

# numpy's BLAS on one thread: the analysis runs its own worker threads and ONNX Runtime its own,
# and a BLAS pool on top of them spins for cores they hold (the feature distance of 64 fields
# took 74 ms instead of 2 on a busy two-core PC). Set before anything imports numpy; a value
# the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

RESEARCH_USE_ONLY = "For research use only. Not for use in diagnostic procedures."
