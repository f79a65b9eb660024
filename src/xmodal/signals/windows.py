"""Fixed-length windows with exactly one label each."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xmodal.data.tasks import Task
from xmodal.errors import DataError
from xmodal.signals.preprocess import PreprocessedRecording


@dataclass
class WindowSet:
    """Windows of several subjects, one array per modality.

    Parameters
    ----------
    inputs : dict of str to np.ndarray
        Modality to float32 ``(n_windows, channels, n_times)``; keys in modality order.
    subjects : np.ndarray
        Subject of each window (str).
    labels : np.ndarray
        Class index of each window (int64), -1 when unlabelled.
    t_start : np.ndarray
        Window start in seconds on the recording's time base.
    rates : dict of str to float
        Rate of each modality in Hz.
    classes : tuple of str
        Class names of the task.
    window : float
        Window length in seconds.
    extras : dict of str to np.ndarray
        Arrays derived from the windows, one row per window (e.g. hand-crafted features);
        :meth:`subset` and :meth:`concat` select and join their rows with the windows'.
    """

    inputs: dict[str, np.ndarray]
    subjects: np.ndarray
    labels: np.ndarray
    t_start: np.ndarray
    rates: dict[str, float]
    classes: tuple[str, ...] = ()
    window: float = 10.0
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    modalities: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.modalities = list(self.inputs)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def input_shapes(self) -> dict[str, tuple[int, int]]:
        """Modality to ``(channels, n_times)``."""
        return {m: (int(x.shape[1]), int(x.shape[2])) for m, x in self.inputs.items()}

    def subset(self, index: np.ndarray) -> WindowSet:
        """Windows selected by a boolean mask or integer index."""
        return WindowSet(
            {m: x[index] for m, x in self.inputs.items()},
            self.subjects[index],
            self.labels[index],
            self.t_start[index],
            self.rates,
            self.classes,
            self.window,
            {k: v[index] for k, v in self.extras.items()},
        )

    def with_modalities(self, modalities) -> WindowSet:
        """The same windows with only the given modalities' inputs (in that order), and no
        extras (they may derive from the others)."""
        return WindowSet(
            {m: self.inputs[m] for m in modalities},
            self.subjects,
            self.labels,
            self.t_start,
            {m: self.rates[m] for m in modalities},
            self.classes,
            self.window,
        )

    def of_subjects(self, subjects) -> WindowSet:
        """Windows of the given subjects."""
        return self.subset(np.isin(self.subjects, list(subjects)))

    def matching_rows(self, other: WindowSet) -> np.ndarray:
        """For each window of ``other``, the index of the window of this set with the same
        subject and start (to the millisecond), -1 where there is none."""
        key = {
            (s, round(float(t), 3)): i for i, (s, t) in enumerate(zip(self.subjects, self.t_start))
        }
        rows = [key.get((s, round(float(t), 3)), -1) for s, t in zip(other.subjects, other.t_start)]
        return np.asarray(rows, dtype=np.int64)

    def rows_of(self, other: WindowSet) -> np.ndarray | None:
        """:meth:`matching_rows`, or None unless every window of ``other`` has one."""
        rows = self.matching_rows(other)
        return None if (rows < 0).any() else rows

    @staticmethod
    def concat(sets: list[WindowSet]) -> WindowSet:
        """Concatenate window sets of the same modalities, rates and task (and the extras
        that every set has)."""
        first = sets[0]
        extras = {
            k: np.concatenate([s.extras[k] for s in sets])
            for k in first.extras
            if all(k in s.extras for s in sets)
        }
        return WindowSet(
            {m: np.concatenate([s.inputs[m] for s in sets]) for m in first.inputs},
            np.concatenate([s.subjects for s in sets]),
            np.concatenate([s.labels for s in sets]),
            np.concatenate([s.t_start for s in sets]),
            first.rates,
            first.classes,
            first.window,
            extras,
        )


def window_starts(duration: float, window: float, stride: float) -> np.ndarray:
    """Start times ``0, stride, 2*stride, ...`` of windows that fit in ``duration`` seconds."""
    if duration < window:
        return np.zeros(0)
    n = int(np.floor((duration - window) / stride + 1e-9)) + 1
    return np.arange(n) * stride


def label_windows(
    labels: np.ndarray, label_rate: float, starts: np.ndarray, window: float, task: Task
) -> np.ndarray:
    """Class of each window, -1 unless every label sample in it maps to the same task class."""
    classes = task.map_labels(labels)
    begin = np.round(starts * label_rate).astype(np.int64)
    end = np.minimum(begin + int(round(window * label_rate)), len(classes))
    changes = np.append(np.flatnonzero(np.diff(classes)) + 1, len(classes))  # run starts; sentinel
    nxt = np.searchsorted(changes, begin, side="right")  # first change after the window's start
    pure = changes[np.minimum(nxt, len(changes) - 1)] >= end
    pure &= end - begin == int(round(window * label_rate))
    out = np.where(pure, classes[np.minimum(begin, len(classes) - 1)], -1).astype(np.int64)
    return out


def make_windows(
    recording: PreprocessedRecording,
    task: Task | None,
    window: float,
    stride: float,
    keep_unlabelled: bool = False,
    context: float = 0.0,
) -> WindowSet:
    """Cut a preprocessed recording into windows of ``window`` seconds every ``stride`` seconds.

    Parameters
    ----------
    recording : PreprocessedRecording
        Continuous signals and labels of one subject.
    task : Task or None
        Label mapping; ``None`` (or unlabelled recordings) gives label -1 everywhere.
    window, stride : float
        Seconds.
    keep_unlabelled : bool
        Keep windows without a single task class (for prediction); training drops them.
    context : float
        Longer than ``window``: also keep, per modality, the ``context`` seconds of signal
        that end where each window ends (:func:`context_extra` names them in ``extras``;
        the first windows of a recording get its first ``context`` seconds).
    """
    starts = window_starts(recording.duration, window, stride)
    if task is not None and recording.labels is not None:
        labels = label_windows(recording.labels, recording.label_rate, starts, window, task)
    else:
        labels = np.full(len(starts), -1, dtype=np.int64)
    fits = np.ones(len(starts), dtype=bool)
    for modality, data in recording.signals.items():
        fs = recording.rates[modality]
        fits &= np.round(starts * fs).astype(np.int64) + int(round(window * fs)) <= data.shape[1]
    keep = fits if keep_unlabelled else fits & (labels >= 0)
    starts, labels = starts[keep], labels[keep]
    inputs = {}
    for modality, data in recording.signals.items():
        fs = recording.rates[modality]
        n_times = int(round(window * fs))
        first = np.round(starts * fs).astype(np.int64)
        index = first[:, None] + np.arange(n_times)[None, :]
        inputs[modality] = np.ascontiguousarray(data[:, index].transpose(1, 0, 2))
    extras = {}
    if context > window:
        if recording.duration < context:
            raise DataError(
                f"subject {recording.subject}: recording of {recording.duration:.0f} s is "
                f"shorter than the {context:g}-s context of the features blend "
                f"(--features-window, or --features-blend none)"
            )
        begin = np.clip(starts + window - context, 0.0, None)
        for modality, data in recording.signals.items():
            fs = recording.rates[modality]
            n_times = int(round(context * fs))
            first = np.minimum(np.round(begin * fs).astype(np.int64), data.shape[1] - n_times)
            index = first[:, None] + np.arange(n_times)[None, :]
            extras[context_extra(modality)] = np.ascontiguousarray(
                data[:, index].transpose(1, 0, 2)
            )
    classes = task.classes if task is not None else ()
    return WindowSet(
        inputs,
        np.full(len(starts), recording.subject),
        labels,
        starts.astype(np.float64),
        dict(recording.rates),
        classes,
        window,
        extras,
    )


def context_extra(modality: str) -> str:
    """The ``extras`` key of a modality's context windows (:func:`make_windows`)."""
    return f"context:{modality}"  # drop_contexts removes every key of this form


def drop_contexts(windows: WindowSet) -> WindowSet:
    """Remove the context windows from ``windows.extras`` (in place, e.g. once the features
    that describe them are computed) and return ``windows``."""
    for key in [k for k in windows.extras if k.startswith("context:")]:
        del windows.extras[key]
    return windows


def context_windows(windows: WindowSet) -> WindowSet:
    """The windows' contexts as windows of their own (the windows themselves without)."""
    keys = [context_extra(m) for m in windows.modalities]
    if not all(k in windows.extras for k in keys):
        return windows
    inputs = {m: windows.extras[k] for m, k in zip(windows.modalities, keys)}
    length = next(iter(inputs.values())).shape[2] / windows.rates[windows.modalities[0]]
    return WindowSet(
        inputs,
        windows.subjects,
        windows.labels,
        windows.t_start,
        windows.rates,
        windows.classes,
        float(length),
    )
