"""A scikit-learn classifier around the estimators ``xmodal train`` fits in each fold.

:class:`XModalClassifier` trains the registered model named by ``model`` with the same
estimator (:func:`~xmodal.training.estimators.estimator_for`), recipe, early stopping, seeds
and inner validation subjects as a fold of ``xmodal train``, so ``cross_val_score`` with
``LeaveOneGroupOut`` on a :func:`~xmodal.api.dataset.load_dataset` result reproduces the
command line's leave-one-subject-out scores (when the training windows are cut at the test
stride, ``train_stride = stride``; the command line trains on overlapping windows by default).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from xmodal.api.dataset import WindowDataset, natural_sorted
from xmodal.api.runs import as_config
from xmodal.config import RunConfig

#: the constructor's settings and where they go in the configuration
_SETTINGS = {
    "model": ("model", "name"),
    "preset": ("model", "preset"),
    "ensemble": ("model", "ensemble"),
    "epochs": ("training", "epochs"),
    "batch_size": ("training", "batch_size"),
    "lr": ("training", "lr"),
    "weight_decay": ("training", "weight_decay"),
    "patience": ("training", "patience"),
    "val_subjects": ("training", "val_subjects"),
    "seed": ("training", "seed"),
    "precision": ("training", "precision"),
    "device": ("training", "device"),
    "adapt": ("data", "adapt"),
}


class XModalClassifier(ClassifierMixin, BaseEstimator):
    """A registered xmodal model as a scikit-learn classifier.

    Settings left at None take the configuration's value (``config``, else the defaults of
    ``xmodal train``); ``config`` sets everything else (recipe, stream sizes, ...).

    Parameters
    ----------
    model : str, optional
        A registered model (``late-fusion`` by default; see :func:`xmodal.register_model`).
    preset : str, optional
        Stream size preset (``efficient`` by default).
    ensemble : int, optional
        Networks trained with different seeds and averaged (3 by default).
    epochs, batch_size, lr, weight_decay, patience : optional
        Optimisation, as the ``xmodal train`` options of those names.
    val_subjects : int, optional
        Inner validation subjects held out of the training subjects for early stopping (2 by
        default); 0 trains for ``epochs`` epochs without validation.
    seed : int, optional
        Seed of the run (0 by default).
    precision, device : str, optional
        As ``--precision`` and ``--device``.
    adapt : str, optional
        Test-time adaptation, as ``--adapt`` (default ``adabn``): :meth:`predict_proba` adapts
        a copy of the network to each subject of the windows it is given, from those windows
        alone. ``xmodal train`` adapts to every window of the test subject's recording,
        labelled or not, so the two agree exactly only with ``adapt="none"``. The same holds
        for the default hybrid's per-person expert weights (``features_blend = "experts-mi"``
        in ``config``): they come from the windows :meth:`predict_proba` is given.
    config : RunConfig, mapping or TOML path, optional
        The remaining settings, laid out as the configuration file.

    Attributes
    ----------
    classes_ : np.ndarray
        The classes ``predict`` returns.
    config_ : RunConfig
        The configuration fitted.
    estimator_ : FoldEstimator
        The fitted estimator (``estimator_.model`` is the network of a network model).
    val_subjects_ : list of str
        The inner validation subjects used for early stopping.
    modalities_ : list of str
        The modalities in input order.
    class_names_ : tuple of str
        The name of each class (the task's, or ``str`` of :attr:`classes_`).
    fit_record_ : dict
        What the estimator reported (``best_epoch``, ``epochs_run``, ``history``, ...).

    Notes
    -----
    Inner validation and seeds follow ``xmodal train``: from the subjects given to
    :meth:`fit` (``groups``, or those of a :class:`~xmodal.api.dataset.WindowDataset`), the
    validation subjects are drawn as in the fold that leaves out the same subject, and the
    network is seeded with that fold's seed. When the left-out subject is not known (``X``
    given as arrays, or more than one subject left out) the first fold's draw and seed are
    used.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        preset: str | None = None,
        ensemble: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        weight_decay: float | None = None,
        patience: int | None = None,
        val_subjects: int | None = None,
        seed: int | None = None,
        precision: str | None = None,
        device: str | None = None,
        adapt: str | None = None,
        config: RunConfig | Mapping | str | Path | None = None,
    ) -> None:
        self.model = model
        self.preset = preset
        self.ensemble = ensemble
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.val_subjects = val_subjects
        self.seed = seed
        self.precision = precision
        self.device = device
        self.adapt = adapt
        self.config = config

    def run_config(self) -> RunConfig:
        """The configuration these settings give (validated)."""
        raw: dict[str, dict] = {}
        for name, (section, key) in _SETTINGS.items():
            value = getattr(self, name)
            if value is not None:
                raw.setdefault(section, {})[key] = value
        return as_config(self.config).updated(raw, source="XModalClassifier")

    def _windows(self, X, y=None, groups=None, window: float = 10.0) -> WindowDataset:
        """``X`` as a WindowDataset, with ``y`` and ``groups`` replacing its own when given;
        arrays are windows of ``window`` seconds."""
        if not isinstance(X, WindowDataset):
            return WindowDataset.from_arrays(X, y, groups, window=window)
        changes = {}
        if y is not None:
            changes["labels"] = np.asarray(y, dtype=np.int64)
        if groups is not None:
            changes["subjects"] = np.asarray(groups).astype(str)
        if not changes:
            return X
        return WindowDataset(dataclasses.replace(X.windows, **changes), X.all_subjects)

    def fit(self, X, y=None, groups=None) -> XModalClassifier:
        """Train on the windows ``X``.

        Parameters
        ----------
        X : WindowDataset or mapping of str to np.ndarray
            Windows (:func:`~xmodal.api.dataset.load_dataset`), or a mapping of modality to
            ``(n_windows, n_channels, n_times)`` arrays in input order, windows of the
            configuration's ``[data] window`` seconds (10 by default).
        y : array-like, optional
            Class of each window; default the dataset's labels. For a dataset with a task,
            class indices into its ``classes``.
        groups : array-like, optional
            Subject of each window; default the dataset's. Inner validation subjects are
            drawn from them; with ``val_subjects=0`` there is no early stopping.

        Returns
        -------
        XModalClassifier
            ``self``.
        """
        import torch

        from xmodal.training.estimators import estimator_for
        from xmodal.training.experiment import validate_model, validate_training
        from xmodal.training.folds import fold_seed
        from xmodal.training.splits import fold_validation_subjects

        config = self.run_config()
        if isinstance(X, WindowDataset) and X.classes:  # the task's classes, y indexes them
            data = self._windows(X, y, groups)
            self.classes_, names = np.arange(len(X.classes)), tuple(X.classes)
        else:
            y = X.y if y is None and isinstance(X, WindowDataset) else y
            if y is None:
                raise ValueError("fit needs the class of each window (y)")
            self.classes_, labels = np.unique(np.asarray(y), return_inverse=True)
            data = self._windows(X, labels, groups, config.data.window)
            names = tuple(str(c) for c in self.classes_)
        if len(data) == 0 or not ((data.y >= 0) & (data.y < len(names))).all():
            raise ValueError(f"fit needs windows labelled with one of {len(names)} classes")
        validate_training(config)
        validate_model(config, data.modalities)
        estimator = estimator_for(config)
        windows = estimator.prepare(dataclasses.replace(data.windows, classes=names))
        pool = natural_sorted(windows.subjects)
        left_out = [s for s in data.all_subjects if s not in pool]
        index = data.all_subjects.index(left_out[0]) if len(left_out) == 1 else 0
        n_val = config.training.val_subjects if estimator.uses_validation else 0
        if n_val and len(pool) < n_val + 1:
            raise ValueError(
                f"{n_val} inner validation subjects (val_subjects) need at least "
                f"{n_val + 1} subjects, got {len(pool)}: {', '.join(pool)}"
            )
        val = fold_validation_subjects(
            pool, windows.subjects, windows.labels, n_val, config.training.seed, index
        )
        is_val = np.isin(windows.subjects, val)
        train, validation = windows.subset(~is_val), (windows.subset(is_val) if val else None)
        seed = fold_seed(config, index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.fit_record_ = estimator.fit(train, validation, seed=seed)
        self.estimator_, self.config_, self.val_subjects_ = estimator, config, val
        self.modalities_, self.class_names_ = list(windows.modalities), names
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_windows, n_classes)``, columns in :attr:`classes_` order."""
        check_is_fitted(self, "estimator_")
        data = self._windows(X, window=self.config_.data.window)
        if data.modalities != self.modalities_:
            raise ValueError(
                f"X has modalities {data.modalities}; the classifier was fitted on "
                f"{self.modalities_}"
            )
        from xmodal.training.adaptation import fold_probabilities

        windows = self.estimator_.prepare(
            dataclasses.replace(data.windows, classes=self.class_names_)
        )
        d = self.config_.data
        return fold_probabilities(self.estimator_, windows, windows, d.adapt, d.adapt_minutes)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each window."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
