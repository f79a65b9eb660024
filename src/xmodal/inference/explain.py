"""Attention weights of a trained attentive model over a recording, per connection and class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xmodal.inference.predictor import Predictor
from xmodal.inference.table import PredictionTable
from xmodal.signals.window_plan import DEFAULT_CONTEXT

#: points each window's attention course is resampled to
POINTS = 50


@dataclass
class Explanation:
    """Attention of every connection for every window of a recording.

    Parameters
    ----------
    table : PredictionTable
        Per-window predictions.
    courses : dict of str to np.ndarray
        ``{"source->target@block": (n_windows, POINTS)}``: attention weight averaged over the
        target's channels, along the window (start to end).
    """

    table: PredictionTable
    courses: dict

    def by_class(self) -> dict:
        """``{key: [mean course of windows predicted as class c, or None]}`` per class."""
        pred = self.table.proba.argmax(axis=1)
        out = {}
        for key, course in self.courses.items():
            out[key] = [
                course[pred == c].mean(axis=0).tolist() if (pred == c).any() else None
                for c in range(len(self.table.classes))
            ]
        return out

    def to_dict(self) -> dict:
        return {
            "classes": list(self.table.classes),
            "t_start": self.table.t_start.tolist(),
            "predicted": self.table.predicted.tolist(),
            "mean_attention": {
                k: v.mean(axis=1).round(6).tolist() for k, v in self.courses.items()
            },
            "by_predicted_class": self.by_class(),
        }


def _resample_rows(x: np.ndarray, points: int) -> np.ndarray:
    grid = np.linspace(0, 1, points)
    src = np.linspace(0, 1, x.shape[1])
    return np.stack([np.interp(grid, src, row) for row in x]) if len(x) else np.zeros((0, points))


def explain(
    predictor: Predictor,
    signals: dict,
    rates: dict,
    hop: float | None = None,
    normalization: str | None = None,
    stats: dict | None = None,
    context: float = DEFAULT_CONTEXT,
    labels: np.ndarray | None = None,
    label_rate: float | None = None,
) -> Explanation:
    """Predictions and attention courses of every window (ConfigError without attention);
    ``normalization`` None: the run's (see :meth:`Predictor.predict`). The attention is the
    network's; for a hybrid the predictions are its blend with the features (neither adapts)."""
    plan, inputs, rows = predictor.recording_windows(
        signals, rates, hop, normalization, stats, context, labels, label_rate
    )
    t_start = np.arange(len(next(iter(inputs.values())))) * plan.hop
    proba, maps = predictor.attention(inputs, rows, t_start=t_start)
    table = PredictionTable(predictor.classes, t_start, t_start + predictor.window, proba)
    courses = {k: _resample_rows(v.mean(axis=1), POINTS) for k, v in maps.items()}
    return Explanation(table, courses)
