"""Classification metrics in plain numpy (shared by training, labapp-eval and the model card)."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """ECE with equal-width confidence bins (Guo et al. 2017): sum_b |B|/n * |acc(B) - conf(B)|."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return 0.0
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin b holds (edges[b], edges[b+1]]; a confidence of exactly 0 joins the first bin.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = idx == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def classification_report(y_true, probs, classes: list[str], n_bins: int = 15) -> dict:
    """The metrics dict of labapp-eval and model.json (keys fixed by ARCHITECTURE.md)."""
    y_true = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=np.float64)
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
    cm = confusion_matrix(y_true, y_pred, len(classes))
    report = confusion_report(cm, classes)
    report["ece"] = expected_calibration_error(probs, y_true, n_bins)
    return {k: report[k] for k in ("accuracy", "macro_f1", "ece", "n", "per_class",
                                   "confusion_matrix", "classes")}


def confusion_report(cm, classes: list[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support of a confusion matrix
    (rows: true class, columns: predicted)."""
    cm = np.asarray(cm, dtype=np.int64)
    per_class = {}
    f1s = []
    for i, name in enumerate(classes):
        tp = cm[i, i]
        predicted, support = cm[:, i].sum(), cm[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": float(precision), "recall": float(recall),
                           "f1": float(f1), "support": int(support)}
        if support:  # macro-F1 over the classes present in the data
            f1s.append(f1)
    n = int(cm.sum())
    return {
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "n": n,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
    }
