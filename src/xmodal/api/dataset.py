"""Windows from Python: :func:`load_dataset` and the :class:`WindowDataset` it returns.

The windows are cut exactly as ``xmodal train`` cuts them (the dataset registry, the cached
:class:`~xmodal.signals.preprocessor.Preprocessor` and the same windowing), so a model fitted
on them sees what the command line's would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from xmodal.config import RunConfig
from xmodal.data.datasets import get_task, resolve_data_defaults, validate_modalities
from xmodal.errors import XmodalError
from xmodal.models.features import features_of
from xmodal.signals.pipeline import prepare_subjects, windows_of
from xmodal.signals.windows import WindowSet, drop_contexts
from xmodal.training.folds import features_context


def natural_sorted(subjects) -> list[str]:
    """Subjects in the order of the command line's folds (``S2`` before ``S10``)."""
    from xmodal.training.splits import _natural_key

    return sorted({str(s) for s in subjects}, key=_natural_key)


class WindowDataset:
    """Labelled windows of several subjects, indexable like an array of windows.

    ``len()``, ``shape`` and ``dataset[index]`` (an integer array or a boolean mask) select
    windows, so scikit-learn's cross-validation splits it like any ``X``.

    Parameters
    ----------
    windows : WindowSet
        The windows.
    all_subjects : sequence of str, optional
        Every subject of the dataset the windows were selected from (default: their own);
        kept by selections, so a classifier fitted on a selection knows which subjects were
        left out (see :class:`~xmodal.api.classifier.XModalClassifier`).

    Attributes
    ----------
    X : dict of str to np.ndarray
        Modality to float32 ``(n_windows, n_channels, n_times)``.
    y : np.ndarray
        Class index of each window (into :attr:`classes`), -1 when unlabelled.
    groups : np.ndarray
        Subject of each window.
    classes : tuple of str
        Class names of the task.
    """

    def __init__(self, windows: WindowSet, all_subjects: Sequence[str] | None = None) -> None:
        self.windows = windows
        self.all_subjects = tuple(
            natural_sorted(windows.subjects) if all_subjects is None else all_subjects
        )

    @classmethod
    def from_arrays(
        cls,
        X: Mapping[str, np.ndarray],
        y: Sequence[int] | None = None,
        groups: Sequence | None = None,
        *,
        classes: Sequence[str] = (),
        window: float = 10.0,
        rates: Mapping[str, float] | None = None,
    ) -> WindowDataset:
        """Windows from arrays: ``X`` maps each modality to ``(n_windows, n_channels,
        n_times)`` (or ``(n_windows, n_times)`` for one channel), in input order; ``y`` class
        indices (default -1), ``groups`` subjects (default one subject ``"0"``); each window
        lasts ``window`` seconds, so a modality's rate is ``n_times / window`` Hz unless
        ``rates`` gives it (augmentation and the ``features`` model use the rates)."""
        if not isinstance(X, Mapping) or not X:
            raise ValueError("X must map at least one modality to an array of windows")
        inputs = {}
        for m, x in X.items():
            x = np.asarray(x, dtype=np.float32)
            inputs[str(m)] = np.ascontiguousarray(x[:, None, :] if x.ndim == 2 else x)
            if inputs[str(m)].ndim != 3:
                raise ValueError(
                    f"X[{m!r}] must be (n_windows, n_channels, n_times), got shape {x.shape}"
                )
        n = {len(x) for x in inputs.values()}
        if len(n) != 1:
            raise ValueError(f"the modalities hold different numbers of windows: {sorted(n)}")
        n_windows = n.pop()
        labels = np.full(n_windows, -1, np.int64) if y is None else np.asarray(y, np.int64)
        subjects = np.full(n_windows, "0") if groups is None else np.asarray(groups).astype(str)
        if len(labels) != n_windows or len(subjects) != n_windows:
            raise ValueError(
                f"X has {n_windows} windows but y has {len(labels)} and groups {len(subjects)}"
            )
        rates = {m: float((rates or {}).get(m, x.shape[2] / window)) for m, x in inputs.items()}
        return cls(
            WindowSet(inputs, subjects, labels, np.zeros(n_windows), rates, tuple(classes), window)
        )

    @property
    def X(self) -> dict[str, np.ndarray]:
        return self.windows.inputs

    @property
    def y(self) -> np.ndarray:
        return self.windows.labels

    @property
    def groups(self) -> np.ndarray:
        return self.windows.subjects

    @property
    def classes(self) -> tuple[str, ...]:
        return self.windows.classes

    @property
    def modalities(self) -> list[str]:
        """Modalities in input order."""
        return list(self.windows.modalities)

    @property
    def rates(self) -> dict[str, float]:
        """Sampling rate of each modality in Hz."""
        return dict(self.windows.rates)

    @property
    def t_start(self) -> np.ndarray:
        """Start of each window in seconds on its recording's time base."""
        return self.windows.t_start

    @property
    def subjects(self) -> list[str]:
        """The subjects with windows here, in fold order."""
        return natural_sorted(self.windows.subjects)

    @property
    def shape(self) -> tuple[int]:
        return (len(self.windows),)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index) -> WindowDataset:
        if isinstance(index, tuple):  # scikit-learn selects rows as dataset[index, ...]
            index = index[0]
        if isinstance(index, (int, np.integer)):
            index = [index]
        return WindowDataset(self.windows.subset(np.asarray(index)), self.all_subjects)

    def __repr__(self) -> str:
        return (
            f"WindowDataset({len(self)} windows of {len(self.subjects)} subjects, "
            f"modalities {self.modalities}, classes {list(self.classes)})"
        )


def load_dataset(
    path: str | Path,
    *,
    dataset: str | None = None,
    modalities: Sequence[str] | None = None,
    task: str | None = None,
    subjects: Sequence[str] | None = None,
    window: float | None = None,
    stride: float | None = None,
    config: RunConfig | Mapping | str | Path | None = None,
) -> WindowDataset:
    """The labelled windows of every subject of a dataset, as ``xmodal train`` cuts them.

    Parameters
    ----------
    path : str or Path
        Data folder (or file) of a registered dataset.
    dataset : str, optional
        Dataset adapter (``wesad``, ``drivedb``, ``csv`` or a registered one); default the
        configuration's (``wesad``), as ``--dataset``.
    modalities, task, subjects : optional
        As ``--modalities``, ``--task``, ``--subjects`` (default: the dataset's).
    window, stride : float, optional
        Window length and step in seconds (default the configuration's: 10 s and 10 s).
        ``xmodal train`` trains on windows at ``train_stride`` and tests at ``stride``.
    config : RunConfig, mapping, or TOML path, optional
        Further data settings (``[data]``: rates, normalisation, cache ...).

    Returns
    -------
    WindowDataset
        When the configuration's model blends the classical features (the default for fusion
        networks), each window also carries its features, of the 60 s of signal that end with
        it, as ``xmodal train`` computes them; the sensors are those loaded (the command line
        adds the wrist's TEMP and ACC for the features, see ``features_sensors``).
    """
    from xmodal.api.runs import as_config

    base = as_config(config)
    changes: dict = {"path": str(Path(path).resolve())}
    for key, value in (
        ("modalities", modalities),
        ("task", task),
        ("subjects", subjects),
        ("window", window),
        ("stride", stride),
    ):
        if value is not None:
            changes[key] = list(value) if isinstance(value, (list, tuple)) else value
    if dataset is not None:
        changes["dataset"] = dataset
    data = resolve_data_defaults(
        base.updated({"data": changes}, source="load_dataset").data,
        explicit_modalities=modalities is not None,
        explicit_task=task is not None,
    )
    validate_modalities(data.dataset, data.modalities, data.path)
    the_task = get_task(data.task, data.dataset, data.path)
    prepared = prepare_subjects(data)
    context = features_context(dataclasses.replace(base, data=data))
    windows = windows_of(prepared, the_task, data.window, data.stride, False, context)
    if context:  # a hybrid's features, of the same context as xmodal train's
        features_of(windows)
        drop_contexts(windows)
    if len(windows) == 0:
        raise XmodalError(
            f"no windows of task {the_task.name!r} ({', '.join(the_task.classes)}) in "
            f"{data.path}: are the labels present?"
        )
    return WindowDataset(windows)
