"""How much a model's calls rest on the smear's background rather than on its stained cells.

Each labelled field gets its background (everything outside its cell mask) replaced by the
background plate of a field from another class, the plate's own cells inpainted away. A model
that reads the cells keeps its call; one that recognises the smear changes it. ``labapp-eval
--context-check`` reports the accuracy on the swapped fields and the share of calls that changed.
"""

from __future__ import annotations

import numpy as np

from .context_swap import build_context_bank, paste
from .preprocessing import resize_field


def context_check(predict_calls, input_size: int, images: list[np.ndarray], y: np.ndarray,
                  seed: int = 0, chunk: int = 128) -> dict:
    """Swap each field's background for another class's and compare the calls.

    ``predict_calls(list of RGB fields) -> class indices``; ``images`` are RGB uint8 fields,
    ``y`` their class indices. Fields are held at ``input_size`` (what the model sees)."""
    fields = np.stack([resize_field(im, input_size) for im in images])
    bank = build_context_bank(fields)    # cell masks and background plates (context_swap.py)
    plate_of = dict(zip(bank.plate_source.tolist(), bank.plates))
    rng = np.random.default_rng(seed)
    swapped, y_used, originals = [], [], []
    for i, field in enumerate(fields):
        donors = [j for j in plate_of if y[j] != y[i]]
        if not donors:
            continue
        plate = plate_of[donors[int(rng.integers(len(donors)))]]
        swapped.append(paste(field, bank.alphas[i], plate))
        originals.append(field)
        y_used.append(int(y[i]))
    if not swapped:
        return {"n": 0}

    def calls(batch: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(predict_calls(batch[k:k + chunk]))
                               for k in range(0, len(batch), chunk)])
    before, after, y_arr = calls(originals), calls(swapped), np.asarray(y_used)
    return {
        "n": len(swapped),
        "accuracy_original": float((before == y_arr).mean()),
        "accuracy_swapped": float((after == y_arr).mean()),
        "calls_changed": float((before != after).mean()),
        "seed": seed,
    }
