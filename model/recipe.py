"""What makes a training recipe, as model.json's "training" record states it.

A refit must repeat its recipe (model/train.py) and the folds of a cross-validation must share
one (model/crossval.py); both read the same options here. Cards written before an option existed
lack its key and were trained with its default.
"""

from __future__ import annotations

DEFAULT_WEIGHT_DECAY = 0.05
DEFAULT_COLOR_JITTER = 0.10   # brightness/contrast/saturation amplitude (hue is never shifted)

# model.json "training" keys that define a recipe. Each is a labapp-train config field, except
# the REMOVED_OPTIONS.
RECIPE_OPTIONS = ("img_size", "batch_size", "lr", "weight_decay", "context_swap", "ema",
                  "color_jitter", "cutmix", "stain_jitter", "distill_weight", "distill_temperature",
                  "white_balance", "acquisition")
# Training options tried and rejected in docs/model-development.md (the context swap as an
# augmentation, CutMix, stain jitter, distillation), removed from labapp-train. Model dirs
# trained before still record them, 0 where the run did not use them; cards still describe them
# (model/model_card.py), and a refit of a recipe that used one is refused.
REMOVED_OPTIONS = ("context_swap", "cutmix", "stain_jitter", "distill_weight", "distill_temperature")
_DEFAULTS = {"weight_decay": DEFAULT_WEIGHT_DECAY, "context_swap": 0.0, "ema": 0.0,
             "color_jitter": DEFAULT_COLOR_JITTER, "cutmix": 0.0, "stain_jitter": 0.0,
             "distill_weight": 0.0, "distill_temperature": 0.0,  # 0: no distillation
             "white_balance": False, "acquisition": 0.0}


def recipe_value(training: dict, key: str):
    """The value of a recipe option in a model.json "training" record, its default if absent."""
    value = training.get(key)
    return _DEFAULTS.get(key) if value is None else value


def removed_options_used(training: dict) -> dict:
    """The removed options (REMOVED_OPTIONS) a recorded run used: key -> value, in order."""
    return {key: recipe_value(training, key) for key in REMOVED_OPTIONS
            if recipe_value(training, key) != _DEFAULTS[key]}
