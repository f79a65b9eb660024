"""Classification metrics, from one confusion matrix (scikit-learn's definitions; computed
in numpy because they are taken after every epoch of every member, where scikit-learn's input
checks cost more than the counting)."""

from __future__ import annotations

import numpy as np


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
    cm = np.bincount(k * y_true + y_pred, minlength=k * k).reshape(k, k)
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
    # F1 = 2 tp / (2 tp + fp + fn); every class used was seen or predicted, so never 0 / 0
    f1 = [2 * cm[c, c] / (cm[c].sum() + cm[:, c].sum()) for c in used]
    return {
        "accuracy": float(np.trace(cm) / len(y_true)),
        "macro_f1": float(np.mean(f1)),
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
