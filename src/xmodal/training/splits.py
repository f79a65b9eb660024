"""Subject-wise splits: leave-one-subject-out, subject-grouped K-fold, holdout, inner validation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedKFold

from xmodal.config import PROTOCOLS
from xmodal.errors import XmodalError

#: protocols whose test windows come from subjects also seen in training
SUBJECT_DEPENDENT = ("kfold-windows",)


@dataclass(frozen=True)
class Fold:
    """Subjects of one fold: train, inner validation (early stopping) and test are disjoint."""

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    #: ``kfold-windows`` only: indices into the evaluation windows of the test and inner
    #: validation windows (subjects mixed); ``None`` for subject-wise folds
    test_windows: tuple[int, ...] | None = field(default=None, compare=False, repr=False)
    val_windows: tuple[int, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        if self.test_windows is not None:
            return f"fold-{self.index:02d}-windows"
        return (
            f"fold-{self.index:02d}-"
            + "-".join(self.test[:3])
            + ("-etc" if len(self.test) > 3 else "")
        )


def holdout_split(groups: np.ndarray, test_subjects) -> tuple[np.ndarray, np.ndarray]:
    """Train/test index pair with the given subjects (records) as the test set.

    Raises
    ------
    XmodalError
        No test subject given, one without windows (the message lists those with windows), or
        no subject left for training.
    """
    groups = np.asarray(groups).astype(str)
    test = [str(s) for s in dict.fromkeys(test_subjects)]
    present = sorted(np.unique(groups).tolist(), key=_natural_key)
    if not test:
        raise XmodalError("protocol 'holdout' needs the test subjects: --test SUBJECT ...")
    missing = [s for s in test if s not in present]
    if missing:
        raise XmodalError(
            f"holdout test subject {missing[0]} has no windows (subjects with "
            f"windows: {', '.join(present)})"
        )
    if set(present) <= set(test):
        raise XmodalError(
            f"holdout leaves no training subject: every subject with windows "
            f"({', '.join(present)}) is a test subject"
        )
    is_test = np.isin(groups, test)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def outer_splits(
    groups: np.ndarray, protocol: str = "loso", n_folds: int = 5, seed: int = 0, test_subjects=()
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs over windows grouped by subject (scikit-learn splitters).

    Parameters
    ----------
    groups : np.ndarray
        Subject of each window.
    protocol : {"loso", "kfold"}
        ``loso``: each subject is the test set once. ``kfold``: subject-grouped K-fold, shuffled by
        ``seed``. ``holdout``: one split, ``test_subjects`` against the rest.
    """
    if protocol not in PROTOCOLS:
        raise XmodalError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    if protocol == "holdout":
        return [holdout_split(groups, test_subjects)]
    n_subjects = len(np.unique(groups))
    if n_subjects < 2:
        raise XmodalError(
            f"too few subjects for protocol {protocol!r}: only "
            f"{', '.join(map(str, np.unique(groups)))} has windows; need at least 2"
        )
    x = np.zeros((len(groups), 1))
    if protocol == "loso":
        splitter = LeaveOneGroupOut()
    else:
        if not 2 <= n_folds <= n_subjects:
            raise XmodalError(
                f"kfold with {n_folds} folds needs 2..{n_subjects} folds for {n_subjects} subjects"
            )
        splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(x, groups=groups))


def choose_validation_subjects(
    train_subjects: list[str],
    subjects: np.ndarray,
    labels: np.ndarray,
    n_val: int,
    rng: np.random.Generator,
) -> list[str]:
    """Draw ``n_val`` inner validation subjects from the training subjects.

    Subjects that have windows of every class present in training are preferred, so that
    early stopping sees every class.
    """
    if n_val <= 0:
        return []
    present = set(np.unique(labels[np.isin(subjects, train_subjects)]))
    complete = [s for s in train_subjects if set(np.unique(labels[subjects == s])) >= present]
    rest = [s for s in train_subjects if s not in complete]
    ordered = [str(s) for s in rng.permutation(complete)] + [str(s) for s in rng.permutation(rest)]
    return sorted(ordered[:n_val], key=_natural_key)


def fold_validation_subjects(
    train_subjects: list[str],
    subjects: np.ndarray,
    labels: np.ndarray,
    n_val: int,
    seed: int,
    index: int,
) -> list[str]:
    """The inner validation subjects of fold ``index`` of a run seeded ``seed``
    (:func:`choose_validation_subjects` with that fold's generator)."""
    rng = np.random.default_rng([seed, index])
    return choose_validation_subjects(train_subjects, subjects, labels, n_val, rng)


def make_folds(
    subjects: np.ndarray,
    labels: np.ndarray,
    protocol: str = "loso",
    n_folds: int = 5,
    n_val: int = 2,
    seed: int = 0,
    test_subjects=(),
) -> list[Fold]:
    """Folds with disjoint train, inner-validation and test subjects.

    Raises
    ------
    XmodalError
        Too few subjects: a fold needs at least one test, one training and (when ``n_val > 0``)
        ``n_val`` validation subjects.
    """
    subjects = np.asarray(subjects).astype(str)
    if protocol == "kfold-windows":
        return window_folds(subjects, labels, n_folds, n_val, seed)
    unique = sorted(np.unique(subjects).tolist(), key=_natural_key)
    splits = [
        (
            sorted(np.unique(subjects[test_idx]).tolist(), key=_natural_key),
            sorted(np.unique(subjects[train_idx]).tolist(), key=_natural_key),
        )
        for train_idx, test_idx in outer_splits(subjects, protocol, n_folds, seed, test_subjects)
    ]
    splits.sort(key=lambda split: [_natural_key(s) for s in split[0]])
    folds = []
    for index, (test, pool) in enumerate(splits):
        if len(pool) < n_val + 1:
            raise XmodalError(
                f"too few subjects for protocol {protocol!r}: {len(unique)} subjects with windows "
                f"({', '.join(unique)}); each fold needs 1 test + {n_val} validation + at least 1 "
                f"training subject (lower --val-subjects or add subjects)"
            )
        val = fold_validation_subjects(pool, subjects, labels, n_val, seed, index)
        train = [s for s in pool if s not in val]
        folds.append(Fold(index, tuple(train), tuple(val), tuple(test)))
    return folds


def window_folds(
    subjects: np.ndarray, labels: np.ndarray, n_folds: int = 10, n_val: int = 2, seed: int = 0
) -> list[Fold]:
    """Window-level stratified K-fold, subjects mixed (``--protocol kfold-windows``).

    SUBJECT-DEPENDENT: windows of every subject are in training and test, so scores are far
    higher than subject-independent ones; it exists only to compare with
    papers that used it. ``n_val > 0`` holds out 10 % of the remaining windows (stratified) as
    inner validation windows. Training windows that overlap a test or validation window in time
    are dropped by the experiment runner (the training stride overlaps).
    """
    subjects = np.asarray(subjects).astype(str)
    labels = np.asarray(labels)
    counts = np.bincount(labels[labels >= 0]) if len(labels) else np.zeros(0)
    if n_folds < 2 or len(labels) < n_folds:
        raise XmodalError(
            f"kfold-windows needs 2 <= folds <= windows, got {n_folds} folds for "
            f"{len(labels)} windows"
        )
    if counts[counts > 0].min(initial=n_folds) < n_folds:
        raise XmodalError(
            f"kfold-windows with {n_folds} folds: a class has fewer windows "
            f"({int(counts[counts > 0].min())}) than folds"
        )
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    everyone = tuple(sorted(np.unique(subjects).tolist(), key=_natural_key))
    folds = []
    for index, (rest, test_idx) in enumerate(splitter.split(np.zeros((len(labels), 1)), labels)):
        val_idx = np.zeros(0, dtype=np.int64)
        if n_val > 0:
            rng = np.random.default_rng([seed, index])
            val_idx = np.sort(rng.choice(rest, size=max(1, len(rest) // 10), replace=False))
        folds.append(
            Fold(
                index,
                everyone,
                everyone if n_val > 0 else (),
                everyone,
                test_windows=tuple(int(i) for i in test_idx),
                val_windows=tuple(int(i) for i in val_idx),
            )
        )
    return folds


def _natural_key(subject: str) -> tuple:
    digits = "".join(ch for ch in subject if ch.isdigit())
    return (subject.rstrip("0123456789"), int(digits) if digits else -1, subject)
