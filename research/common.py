"""What the research scripts share: where the data set is."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def dataset_root() -> Path:
    """The ALL (Taleqani) data set: LABAPP_DATASET_DIR, else ../shared/data/all-taleqani beside
    the repository (the development machines' layout)."""
    return Path(os.environ.get("LABAPP_DATASET_DIR", REPO.parent / "shared" / "data" / "all-taleqani"))
