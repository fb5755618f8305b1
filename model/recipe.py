"""What makes a training recipe, as model.json's "training" record states it.

A refit must repeat its recipe (model/train.py) and the folds of a cross-validation must share
one (model/crossval.py); both read the same options here. Cards written before an option existed
lack its key and were trained with its default.
"""

from __future__ import annotations

DEFAULT_WEIGHT_DECAY = 0.05
DEFAULT_COLOR_JITTER = 0.10   # brightness/contrast/saturation amplitude (hue is never shifted)

# model.json "training" keys that define a recipe; each is also a labapp-train config field.
RECIPE_OPTIONS = ("img_size", "batch_size", "lr", "weight_decay", "context_swap", "ema",
                  "color_jitter", "cutmix", "stain_jitter", "distill_weight", "distill_temperature",
                  "white_balance", "acquisition")
_DEFAULTS = {"weight_decay": DEFAULT_WEIGHT_DECAY, "context_swap": 0.0, "ema": 0.0,
             "color_jitter": DEFAULT_COLOR_JITTER, "cutmix": 0.0, "stain_jitter": 0.0,
             "distill_weight": 0.0, "distill_temperature": 0.0,  # 0: no distillation
             "white_balance": False, "acquisition": 0.0}


def recipe_value(training: dict, key: str):
    """The value of a recipe option in a model.json "training" record, its default if absent."""
    value = training.get(key)
    return _DEFAULTS.get(key) if value is None else value
