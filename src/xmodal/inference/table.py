"""Per-window predictions as a small column table (no pandas needed)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.data.recording import wall_clock
from xmodal.files import atomic_write_text


@dataclass
class PredictionTable:
    """One row per window: ``t_start``, ``t_end``, ``predicted`` and ``p_<class>`` columns.

    A dataclass rather than a pandas DataFrame: the table is a few numeric columns, and pandas
    would be a large dependency for that alone. ``table.to_dict()`` feeds
    ``pandas.DataFrame(...)`` directly where pandas is wanted.

    Parameters
    ----------
    classes : tuple of str
        Class names; column ``p_<class>`` per class.
    t_start, t_end : np.ndarray
        Window bounds in seconds from the recording (stream) start.
    proba : np.ndarray
        Class probabilities ``(n_windows, n_classes)``; rows sum to 1.
    start_unix : float, optional
        Wall-clock time of t = 0 (unix seconds), when the recording knows it: the table then
        also has the columns ``time_start`` and ``time_end`` (ISO 8601, in ``timezone``).
    timezone : str, optional
        IANA time zone of the wall-clock columns (default UTC).
    """

    classes: tuple
    t_start: np.ndarray
    t_end: np.ndarray
    proba: np.ndarray
    start_unix: float | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        self.t_start = np.asarray(self.t_start, dtype=np.float64).reshape(-1)
        self.t_end = np.asarray(self.t_end, dtype=np.float64).reshape(-1)
        self.proba = np.asarray(self.proba, dtype=np.float64).reshape(-1, len(self.classes))

    def __len__(self) -> int:
        return int(self.t_start.shape[0])

    @property
    def predicted(self) -> np.ndarray:
        """Predicted class name of every window."""
        return (
            np.asarray(self.classes, dtype=object)[self.proba.argmax(axis=1)]
            if len(self)
            else np.zeros(0, dtype=object)
        )

    @property
    def columns(self) -> list[str]:
        clock = ["time_start", "time_end"] if self.start_unix is not None else []
        return ["t_start", "t_end", *clock, "predicted"] + [f"p_{c}" for c in self.classes]

    def _clock(self, seconds: np.ndarray) -> np.ndarray:
        if self.start_unix is None:
            raise KeyError("no wall-clock columns: the recording has no start time")
        return np.asarray(
            [
                wall_clock(self.start_unix + float(t), self.timezone, "milliseconds")
                for t in seconds
            ],
            dtype=object,
        )

    def __getitem__(self, column: str) -> np.ndarray:
        if column == "t_start":
            return self.t_start
        if column == "t_end":
            return self.t_end
        if column == "time_start":
            return self._clock(self.t_start)
        if column == "time_end":
            return self._clock(self.t_end)
        if column == "predicted":
            return self.predicted
        if column.startswith("p_") and column[2:] in self.classes:
            return self.proba[:, self.classes.index(column[2:])]
        raise KeyError(f"no column {column!r}; columns: {', '.join(self.columns)}")

    @staticmethod
    def concat(tables: list[PredictionTable], classes=()) -> PredictionTable:
        """Rows of several tables with the same classes, in order."""
        classes = tables[0].classes if tables else tuple(classes)
        return PredictionTable(
            classes,
            np.concatenate([t.t_start for t in tables]) if tables else [],
            np.concatenate([t.t_end for t in tables]) if tables else [],
            np.concatenate([t.proba for t in tables]) if tables else np.zeros((0, len(classes))),
        )

    def _clock_pairs(self) -> list[tuple[str, ...]]:
        """``(time_start, time_end)`` of every row, or ``()`` rows without a start time."""
        if self.start_unix is None:
            return [()] * len(self)
        return list(zip(self._clock(self.t_start), self._clock(self.t_end)))

    def to_dict(self) -> dict[str, list]:
        """``{column: list of values}``."""
        return {c: self[c].tolist() for c in self.columns}

    def to_csv(self, path: str | Path | None = None) -> str:
        """CSV text (times with 3 decimals, probabilities with 6); written to ``path`` if given."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        clock = self._clock_pairs()
        for s, e, c, name, p in zip(self.t_start, self.t_end, clock, self.predicted, self.proba):
            writer.writerow([f"{s:.3f}", f"{e:.3f}", *c, name] + [f"{v:.6f}" for v in p])
        text = buf.getvalue()
        if path is not None:
            atomic_write_text(Path(path), text)
        return text

    def to_json(self, path: str | Path | None = None) -> str:
        """JSON ``{"classes": [...], "rows": [{column: value}, ...]}``; written to ``path`` if given."""
        rows = [
            {
                "t_start": round(float(s), 6),
                "t_end": round(float(e), 6),
                **dict(zip(("time_start", "time_end"), c)),
                "predicted": name,
                **{f"p_{c}": round(float(v), 6) for c, v in zip(self.classes, p)},
            }
            for s, e, c, name, p in zip(
                self.t_start, self.t_end, self._clock_pairs(), self.predicted, self.proba
            )
        ]
        text = json.dumps({"classes": list(self.classes), "rows": rows}, indent=1)
        if path is not None:
            atomic_write_text(Path(path), text + "\n")
        return text
