"""How a model's validation figures are quoted to people: the PDF report and the About dialog.

Kept apart from the report so the window can quote them without loading reportlab.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def model_metrics_line(metrics: Mapping[str, Any] | None) -> str:
    """One line on a model's validation figures, saying whose they are for a refit."""
    if not metrics:
        return "validation metrics not provided"
    parts = []
    for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.1%}" if value <= 1 else f"{label} {value}")
    n = metrics.get("n")
    if isinstance(n, int):
        parts.append(f"n={n}")
    if not parts:
        return "validation metrics not provided"
    recipe = metrics.get("recipe")   # a refit's card: {"name", "version", ...}
    if isinstance(recipe, Mapping):
        recipe = f"{recipe.get('name', '')} {recipe.get('version', '')}".strip()
    if recipe:
        return (f"validation of its recipe run {recipe} (the model is a refit on all images): "
                + ", ".join(parts))
    return "validation " + ", ".join(parts)
