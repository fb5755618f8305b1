"""What the research scripts share: where the data set is."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def dataset_root() -> Path:
    """The ALL (Taleqani) data set: LABAPP_DATASET_DIR, else ../shared/data/all-taleqani beside
    the repository (the development machines' layout)."""
    return Path(os.environ.get("LABAPP_DATASET_DIR", REPO.parent / "shared" / "data" / "all-taleqani"))


def validation_fields(model_dir: Path, limit: int | None = None) -> tuple[list[Path], list[str]]:
    """The Original files a recipe run validated on (its ``split.json``), and their classes;
    at most ``limit``, spread evenly over the sorted list. A refit has none: SystemExit."""
    import json

    import numpy as np

    rels = sorted(json.loads((model_dir / "split.json").read_text()).get("val") or [])
    if not rels:
        raise SystemExit(f"{model_dir} has no validation fields (a refit); use its recipe run")
    if limit and limit < len(rels):
        rels = [rels[int(i)] for i in np.linspace(0, len(rels) - 1, limit)]
    root = dataset_root() / "Original"
    return [root / rel for rel in rels], [rel.split("/")[0] for rel in rels]

