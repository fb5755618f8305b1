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



def recipe_fields(model_dir: Path):
    """(fields, classes, engine): a recipe run's validation fields decoded, their true classes,
    and its model on the CPU."""
    from model.data import read_rgb
    from model.inference import InferenceEngine

    files, truth = validation_fields(model_dir)
    return [read_rgb(f) for f in files], truth, InferenceEngine(model_dir, device="cpu")


def as_captured(engine, images) -> "np.ndarray":
    """The model's input for fields taken as they are: resized and standardised only (no colour
    constancy, no exposure floor)."""
    import numpy as np

    from model.preprocessing import normalize, resize_field

    pre = engine.preprocess_config
    return np.stack([normalize(resize_field(im, pre.input_size)[None], pre)[0] for im in images])


def probabilities(engine, x) -> "np.ndarray":
    """The calibrated probabilities of a model input, 64 fields at a time."""
    import numpy as np

    return np.concatenate([engine.run_preprocessed(x[i:i + 64], with_cam=False).probabilities
                           for i in range(0, len(x), 64)])


def accuracy(engine, probs, truth) -> float:
    import numpy as np

    return float(np.mean([engine.classes[int(np.argmax(r))] == t for r, t in zip(probs, truth)]))
