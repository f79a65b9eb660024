"""Classification metrics (scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...] | list[str]
) -> dict:
    """Accuracy, macro-F1, balanced accuracy and the confusion matrix.

    Macro-F1 and balanced accuracy average over the classes present in ``y_true`` (and, for F1,
    also the classes predicted), so a test subject without, say, amusement windows is not scored
    zero for a class it cannot have; the missing classes are listed in ``classes_absent``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(classes)
    cm = confusion_matrix(y_true, y_pred, labels=list(range(k)))
    present = [c for c in range(k) if cm[c].sum() > 0]
    if len(y_true) == 0:
        return {
            "accuracy": float("nan"),
            "macro_f1": float("nan"),
            "balanced_accuracy": float("nan"),
            "confusion_matrix": cm.tolist(),
            "classes_absent": list(classes),
            "n_windows": 0,
        }
    used = sorted(set(present) | set(np.unique(y_pred).tolist()))
    recalls = [cm[c, c] / cm[c].sum() for c in present]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=used, average="macro", zero_division=0)),
        "balanced_accuracy": float(np.mean(recalls)),
        "confusion_matrix": cm.tolist(),
        "classes_absent": [classes[c] for c in range(k) if c not in present],
        "n_windows": int(len(y_true)),
    }


def mean_std(
    values: list[dict], keys=("accuracy", "macro_f1", "balanced_accuracy")
) -> tuple[dict, dict]:
    """Mean and (population) standard deviation over folds of each metric, ignoring NaN."""
    mean, std = {}, {}
    for key in keys:
        arr = np.array([v[key] for v in values], dtype=float)
        arr = arr[np.isfinite(arr)]
        mean[key] = float(arr.mean()) if arr.size else float("nan")
        std[key] = float(arr.std()) if arr.size else float("nan")
    return mean, std
