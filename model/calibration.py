"""Temperature scaling (Guo et al. 2017): one scalar T fitted on the validation logits."""

from __future__ import annotations

import numpy as np

from .metrics import softmax


def nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def fit_temperature(logits: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """Minimise validation NLL over log T: a coarse grid, then golden-section refinement.

    NLL is unimodal in log T for a fixed set of logits, so this finds the optimum without torch.
    """
    logits = np.asarray(logits, np.float64)
    y = np.asarray(y, int)
    if len(y) == 0:
        return 1.0
    grid = np.linspace(np.log(lo), np.log(hi), 60)
    losses = [nll(logits, y, np.exp(g)) for g in grid]
    i = int(np.argmin(losses))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    phi = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - phi * (b - a), a + phi * (b - a)
        if nll(logits, y, np.exp(c)) < nll(logits, y, np.exp(d)):
            b = d
        else:
            a = c
    return float(np.exp((a + b) / 2))


def choose_low_confidence_threshold(probs: np.ndarray, y: np.ndarray,
                                    target_accuracy: float = 0.995,
                                    floor: float = 0.6, ceiling: float = 0.95) -> float:
    """Lowest threshold t in [floor, ceiling] such that the calls with confidence >= t reach
    ``target_accuracy`` on the validation split; calls below t are flagged for a human look."""
    probs = np.asarray(probs)
    if len(probs) == 0:
        return floor
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y)
    for t in np.round(np.arange(floor, ceiling + 1e-9, 0.01), 2):
        kept = conf >= t
        if not kept.any() or correct[kept].mean() >= target_accuracy:
            return float(t)
    return float(ceiling)
