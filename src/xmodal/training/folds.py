"""Running one fold with any estimator: select its windows, fit, test, write ``fold.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from xmodal.config import RunConfig
from xmodal.data.tasks import Task
from xmodal.errors import DataError, XmodalError
from xmodal.files import atomic_write_json, read_json
from xmodal.models.checkpoint import read_checkpoint
from xmodal.models.registry import features_blend_of, features_detrend_of
from xmodal.signals.pipeline import windows_of
from xmodal.signals.windows import WindowSet
from xmodal.training.adaptation import fold_probabilities
from xmodal.training.estimators import FoldEstimator, estimator_for
from xmodal.training.metrics import classification_metrics
from xmodal.training.progress import Progress
from xmodal.training.splits import Fold
from xmodal.training.window_features import attach_features


@dataclass
class RunWindows:
    """The windows of a run that every fold selects from.

    Attributes
    ----------
    train : WindowSet
        Labelled windows at the training stride.
    eval : WindowSet
        Labelled windows at the evaluation stride (validation and test).
    unlabelled : WindowSet or None
        Every window, labelled or not, for in-fold pretraining (else None).
    recordings : WindowSet or None
        Every window at the evaluation stride, labelled or not, that test-time adaptation
        reads (``data.adapt``; else None).
    """

    train: WindowSet
    eval: WindowSet
    unlabelled: WindowSet | None = None
    recordings: WindowSet | None = None


@dataclass(frozen=True)
class FoldTask:
    """One fold to run, the folder its files go to, and configuration changes chosen for this
    fold alone (nested selection, e.g. the connection's placement from this fold's inner
    validation; recorded in its ``fold.json``)."""

    fold: Fold
    folder: Path
    overrides: dict = field(default_factory=dict)


@dataclass
class FoldWindows:
    """The windows of one fold and the subjects its record lists."""

    train: WindowSet
    validation: WindowSet | None
    test: WindowSet
    train_subjects: list[str]
    val_subjects: list[str]


def in_fold_pretraining(config: RunConfig) -> bool:
    """Whether each fold pretrains its streams (``pretrain_epochs`` without ``--init``)."""
    return config.training.pretrain_epochs > 0 and not config.training.init


def unlabelled_windows(prepared: dict, config: RunConfig) -> WindowSet | None:
    """Every window of every subject, labelled or not (in-fold pretraining), else None."""
    if not in_fold_pretraining(config):
        return None
    return windows_of(
        prepared, None, config.data.window, config.data.train_stride, keep_unlabelled=True
    )


def features_context(config: RunConfig) -> float:
    """Seconds of signal a hybrid's features read around each window (0: the window's own)."""
    model = config.model
    return model.features_window if features_blend_of(model) != "none" else 0.0


def run_windows(
    prepared: dict,
    task: Task,
    config: RunConfig,
    *,
    jobs: int = 1,
    cache_dir: Path | None = None,
) -> RunWindows:
    """Cut the preprocessed subjects into the run's windows; the configured estimator's
    :meth:`~xmodal.training.estimators.FoldEstimator.prepare` is applied to the labelled ones.

    An estimator that reads the classical features gets them from
    :func:`~xmodal.training.window_features.attach_features` first: each window's computed
    once (``jobs`` subjects at a time) and kept under ``cache_dir`` (None: not kept)."""
    estimator = estimator_for(config)
    data = config.data
    context = features_context(config)
    reads_features = estimator.reads_features
    # every window of each recording, labelled or not: what test-time adaptation and a blend
    # that weighs its experts per person read (never a label)
    reads_recording = getattr(estimator, "reads_recording", False)

    def prepare(windows: WindowSet, reuse: WindowSet | None = None) -> WindowSet:
        if reads_features:
            attach_features(windows, reuse=reuse, cache_dir=cache_dir, jobs=jobs)
        return estimator.prepare(windows)

    recordings = None
    if data.adapt != "none" or reads_recording:
        recordings = windows_of(
            prepared,
            None,
            data.window,
            data.stride,
            keep_unlabelled=True,
            context=context if reads_recording else 0.0,
        )
        if reads_recording:
            recordings = prepare(recordings)
    # the labelled windows are among the recording's, and half the training windows: their
    # features are read from there
    known = recordings if reads_recording else None
    eval_all = prepare(windows_of(prepared, task, data.window, data.stride, False, context), known)
    train_all = prepare(
        windows_of(prepared, task, data.window, data.train_stride, False, context),
        known if known is not None else eval_all,
    )
    return RunWindows(train_all, eval_all, unlabelled_windows(prepared, config), recordings)


def pretraining_subjects(fold: Fold, config: RunConfig) -> list[str]:
    """Subjects whose unlabelled signal a fold's pretraining reads: its training subjects, plus
    its test subjects when ``training.transductive`` is set (never their labels)."""
    subjects = list(fold.train)
    if config.training.transductive:
        subjects += [s for s in fold.test if s not in subjects]
    return subjects


def transductive_subjects(config: RunConfig, records: list[dict]) -> list[str]:
    """Evaluation subjects whose unlabelled signal the run's pretraining read.

    A fold's test and inner-validation subjects count: in-fold pretraining with
    ``training.transductive`` reads every test subject; encoders from ``--init DIR`` read the
    subjects listed in ``DIR/pretrain.json``. Empty for an inductive run. ``records`` are the
    fold records (``test_subjects``, ``val_subjects``); order: the fold order, or that of
    ``pretrain.json``.
    """
    if in_fold_pretraining(config):
        if not config.training.transductive:
            return []
        return list(dict.fromkeys(s for r in records for s in r["test_subjects"]))
    if not config.training.init:
        return []
    from xmodal.training.pretrain import read_pretrain_record

    evaluated = {s for r in records for s in [*r["test_subjects"], *r.get("val_subjects", [])]}
    return [s for s in read_pretrain_record(config.training.init)["subjects"] if s in evaluated]


def fold_masks(
    fold: Fold, train_all: WindowSet, eval_all: WindowSet
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Boolean masks: training windows (of ``train_all``), validation and test (of ``eval_all``).

    Window-level folds (``kfold-windows``): training windows overlapping a test or validation
    window of the same subject in time are dropped, so no test sample is trained on.
    """
    if fold.test_windows is None:
        return (
            np.isin(train_all.subjects, list(fold.train)),
            np.isin(eval_all.subjects, list(fold.val)) if fold.val else None,
            np.isin(eval_all.subjects, list(fold.test)),
        )
    test = np.zeros(len(eval_all), dtype=bool)
    test[list(fold.test_windows)] = True
    val = np.zeros(len(eval_all), dtype=bool)
    val[list(fold.val_windows or ())] = True
    held = test | val
    train = np.ones(len(train_all), dtype=bool)
    for subject in np.unique(eval_all.subjects[held]):
        starts = np.sort(eval_all.t_start[held & (eval_all.subjects == subject)])
        mine = np.flatnonzero(train_all.subjects == subject)
        t = train_all.t_start[mine]
        pos = np.searchsorted(starts, t)
        near = np.full(len(t), np.inf)
        for cand in (pos - 1, pos):
            ok = (cand >= 0) & (cand < len(starts))
            near[ok] = np.minimum(near[ok], np.abs(starts[cand[ok]] - t[ok]))
        train[mine[near < eval_all.window - 1e-9]] = False
    return train, (val if val.any() else None), test


def fold_windows(fold: Fold, windows: RunWindows, uses_validation: bool = True) -> FoldWindows:
    """Training, validation and test windows of a fold (see :func:`fold_masks`).

    Without ``uses_validation`` the validation windows join the training windows: for subject
    folds the validation subjects' windows at the training stride, for window-level folds the
    validation windows themselves; the record then lists no validation subject.
    """
    train_mask, val_mask, test_mask = fold_masks(fold, windows.train, windows.eval)
    test = windows.eval.subset(test_mask)
    if uses_validation:
        val = windows.eval.subset(val_mask) if val_mask is not None else None
        return FoldWindows(
            windows.train.subset(train_mask), val, test, list(fold.train), list(fold.val)
        )
    if fold.test_windows is None:
        train = windows.train.subset(train_mask | np.isin(windows.train.subjects, list(fold.val)))
        subjects = list(fold.train) + [s for s in fold.val if s not in fold.train]
        return FoldWindows(train, None, test, subjects, [])
    parts = [windows.train.subset(train_mask)]
    if val_mask is not None:
        parts.append(windows.eval.subset(val_mask))
    return FoldWindows(WindowSet.concat(parts), None, test, list(fold.train), [])


def learns_from_recordings(config: RunConfig) -> bool:
    """Whether the configured estimator's fit reads the training people's whole recordings
    (``recordings=``; the ``experts-gate`` blend, and a blend that removes each person's trend
    from the features)."""
    model = config.model
    return features_blend_of(model) == "experts-gate" or features_detrend_of(model) != "none"


def fold_seed(config: RunConfig, index: int) -> int:
    """The seed of fold ``index`` (997: the final model)."""
    return config.training.seed * 1009 + index


def run_fold(task: FoldTask, config: RunConfig, windows: RunWindows, progress: Progress) -> dict:
    """Fit the configured estimator on the fold's training windows (selecting on its
    validation windows), test it, write its state and ``fold.json`` (last: marks it done)."""
    fold = task.fold
    if task.overrides:
        config = config.updated(task.overrides, f"{fold.name} (chosen on its inner validation)")
    estimator = estimator_for(config)
    split = fold_windows(fold, windows, estimator.uses_validation)
    train, val, test = split.train, split.validation, split.test
    if len(train) == 0:
        raise XmodalError(f"{fold.name}: no training windows")
    seed = fold_seed(config, fold.index)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        progress.fold_start(f"{fold.name} ({estimator.label})", estimator.epochs)
        fold_unlabelled = (
            windows.unlabelled.of_subjects(pretraining_subjects(fold, config))
            if windows.unlabelled is not None and fold.test_windows is None
            else None
        )
        # the labelled people's whole recordings (no label read), for the blend that learns
        # from how its experts behave on them (only then: other estimators' fit need not
        # take them)
        extra = (
            {
                "recordings": windows.recordings.of_subjects(
                    split.train_subjects + split.val_subjects
                )
            }
            if learns_from_recordings(config)
            and windows.recordings is not None
            and fold.test_windows is None
            else {}
        )
        result = estimator.fit(
            train, val, seed=seed, on_epoch=progress.epoch, unlabelled=fold_unlabelled, **extra
        )
    proba = fold_probabilities(
        estimator, test, windows.recordings, config.data.adapt, config.data.adapt_minutes
    )
    pred = proba.argmax(1) if len(test) else np.zeros(0, dtype=np.int64)
    metrics = classification_metrics(test.labels, pred, test.classes)
    estimator.save(task.folder)
    record = {
        "index": fold.index,
        "test_subjects": list(fold.test),
        "val_subjects": split.val_subjects,
        "train_subjects": split.train_subjects,
        "overrides": task.overrides,
        "n_test_windows": len(test),
        "n_train_windows": len(train),
        "n_val_windows": len(val) if val is not None else 0,
        **metrics,
        **result,
        **estimator.fold_record(test),
        "predictions": {
            "subject": test.subjects.tolist(),
            "t_start": test.t_start.tolist(),
            "true": test.labels.tolist(),
            "proba": proba.round(6).tolist(),
        },
    }
    atomic_write_json(task.folder / "fold.json", record)  # written last: marks the fold done
    return record


#: keys of each fold record copied into results.json
FOLD_KEYS = (
    "index",
    "test_subjects",
    "val_subjects",
    "n_test_windows",
    "n_train_windows",
    "n_val_windows",
    "accuracy",
    "macro_f1",
    "balanced_accuracy",
    "confusion_matrix",
    "classes_absent",
    "best_epoch",
    "epochs_run",
    "train_s",
)
#: keys a finished fold's ``fold.json`` must hold to be reused on resume
RECORD_KEYS = (*FOLD_KEYS, "windows_per_s", "predictions")


def saved_state_intact(folder: Path, names: tuple[str, ...]) -> bool:
    """Whether every state file exists and each checkpoint (``*.pt``) loads as a state dict."""
    for name in names:
        path = Path(folder) / name
        if not path.is_file():
            return False
        if path.suffix == ".pt":
            try:
                read_checkpoint(path)
            except DataError:
                return False
    return True


def read_record(path: Path, keys: tuple[str, ...]) -> dict | None:
    """The JSON object in ``path`` if it holds ``keys``; None if it is absent, unreadable,
    truncated or garbage (the work it records is then done again)."""
    try:
        record = read_json(path)
    except (OSError, ValueError):  # absent, unreadable, not UTF-8, not JSON
        return None
    if not isinstance(record, dict) or any(k not in record for k in keys):
        return None
    return record


def finished_record(
    folder: Path, estimator: FoldEstimator, overrides: dict | None = None
) -> dict | None:
    """The record of a finished fold, None if the fold is to run: finished means its fold.json
    (written last) holds a whole record, the estimator's state files exist and load, and it ran
    with the same per-fold ``overrides``. A damaged fold.json or checkpoint (truncated, garbage)
    makes the fold run again."""
    record = read_record(Path(folder) / "fold.json", RECORD_KEYS)
    if record is None or not saved_state_intact(folder, estimator.state_files):
        return None
    predictions = record["predictions"]
    if not isinstance(predictions, dict) or any(
        not isinstance(predictions.get(k), list) or len(predictions[k]) != record["n_test_windows"]
        for k in ("subject", "t_start", "true", "proba")
    ):
        return None
    return record if record.get("overrides", {}) == (overrides or {}) else None


def fold_line(fold: Fold, record: dict) -> str:
    """The progress line of a finished fold."""
    absent = f"; absent: {', '.join(record['classes_absent'])}" if record["classes_absent"] else ""
    test = "windows" if fold.test_windows is not None else ",".join(fold.test)
    val = "windows" if fold.val_windows else (",".join(fold.val) or "-")
    return (
        f"{fold.name}: test {test} val {val} | "
        f"acc {record['accuracy']:.3f} macro-F1 {record['macro_f1']:.3f} | "
        f"epoch {record['best_epoch']}/{record['epochs_run']} {record['train_s']:.1f}s{absent}"
    )
